"""Widgets the pages share: one input per schema feature, risk columns and tier badges."""

from __future__ import annotations

import math

import streamlit as st

from recovery_model.schema import Feature
from recovery_model.scoring.narrative import percent
from recovery_model.scoring.thresholds import Tier

TIER_BADGE = {Tier.HIGH: ":red-background[**HIGH RISK**]", Tier.MODERATE: ":orange-background[**MODERATE RISK**]",
              Tier.LOW: ":green-background[**LOW RISK**]"}


def field_label(feature: Feature) -> str:
    """'Systolic blood pressure, mmHg · typical 95–170': unit and typical range in the label itself."""
    unit = feature.display_unit
    label = f"{feature.label}, {unit}" if unit else feature.label
    return label if feature.is_binary or feature.levels else f"{label} · typical {feature.typical_range_text(False)}"


NOT_RECORDED = "Not recorded"


def feature_input(feature: Feature, value: float | None, key: str):
    """The widget for one feature, bounded by its hard limits so impossible values cannot be entered.

    `value` None (a record that lacks it) leaves the widget empty, "Not recorded": the value is then missing, not
    a default shown as if it had been observed."""
    help_text = feature.help_text()
    if feature.is_binary:
        return st.radio(field_label(feature), [0, 1], index=None if value is None else int(value), key=key,
                        horizontal=True, help=help_text,
                        format_func=lambda v: feature.levels.get(v, str(v)).capitalize())
    if feature.levels and value is None:
        return st.selectbox(field_label(feature), range(int(feature.valid_min), int(feature.valid_max) + 1),
                            index=None, placeholder=NOT_RECORDED, key=key, help=help_text)
    if feature.levels:
        return st.slider(field_label(feature), int(feature.valid_min), int(feature.valid_max), int(value), key=key,
                         help=help_text)
    if feature.is_integer:
        return st.number_input(field_label(feature), _bound(feature.valid_min, int), _bound(feature.valid_max, int),
                               None if value is None else int(value), step=1, key=key, help=help_text,
                               placeholder=NOT_RECORDED)
    step = 10.0 ** -feature.decimals if feature.decimals else 1.0
    return st.number_input(field_label(feature), _bound(feature.valid_min, float), _bound(feature.valid_max, float),
                           None if value is None else float(value), step=step, format=f"%.{feature.decimals}f", key=key,
                           help=help_text, placeholder=NOT_RECORDED)


def _bound(limit: float, kind: type) -> int | float | None:
    """A hard limit as the widget takes it (of the value's own type); None where there is none (an inferred
    schema's upper limit)."""
    return None if math.isinf(limit) else kind(limit)


def risk_column(label: str):
    return st.column_config.ProgressColumn(label, format="percent", min_value=0.0, max_value=1.0)


def format_risk(value: float) -> str:
    return "—" if value is None or math.isnan(value) else percent(value)


def what_if_key(feature: Feature, patient_version: int) -> str:
    """The what-if widget's key: new widgets (with new defaults) whenever an option is tried."""
    return f"whatif_{feature.name}_{patient_version}_{st.session_state.get('what_if_round', 0)}"


def fill_what_if(values: dict[str, float]) -> None:
    """Start the what-if from the patient with these values changed (a button's on_click)."""
    st.session_state["what_if_start"] = values
    st.session_state["what_if_round"] = st.session_state.get("what_if_round", 0) + 1


def form_key(feature: Feature) -> str:
    """The Patient form's widget key: new widgets (with new start values) whenever a record fills the form."""
    filled = st.session_state.get("form_round", 0)
    return f"patient_{feature.name}_{filled}" if filled else f"patient_{feature.name}"


def fill_form(values: dict[str, float], notes: list[str], patient: str) -> None:
    """Start the Patient form from a record's values (a button's on_click); `notes` say what it lacks."""
    st.session_state["form_start"] = values
    st.session_state["form_notes"] = notes
    st.session_state["form_filled_from"] = patient
    st.session_state["form_round"] = st.session_state.get("form_round", 0) + 1

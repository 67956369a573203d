"""Widgets the pages share: one input per schema feature, risk columns and tier badges."""

from __future__ import annotations

import math

import streamlit as st

from recovery_model.schema import Feature
from recovery_model.scoring.narrative import percent
from recovery_model.scoring.thresholds import Tier

from session import Key

TIER_BADGE = {Tier.HIGH: ":red-background[**HIGH RISK**]", Tier.MODERATE: ":orange-background[**MODERATE RISK**]",
              Tier.LOW: ":green-background[**LOW RISK**]"}


def field_label(feature: Feature) -> str:
    """'Systolic blood pressure, mmHg · typical 95–170': unit and typical range in the label itself."""
    unit = feature.display_unit
    label = f"{feature.label}, {unit}" if unit else feature.label
    return label if feature.is_binary or feature.levels else f"{label} · typical {feature.typical_range_text(False)}"


NOT_RECORDED = "Not recorded"
# Less empty space above the title, so the answer of a working page (the risk, the ranked ward) starts in view.
COMPACT_TOP = "<style>[data-testid='stMainBlockContainer'] {padding-top: 2.5rem;}</style>"


def feature_input(feature: Feature, key: str, start: float | None = None):
    """The widget for one feature; None while it is "Not recorded".

    Every input has an empty state, and can be emptied again: a number field cleared, and "Not recorded" as the
    first choice of a yes/no or a scale. Nothing is filled in unless `start` (a record's value, a what-if's
    starting point) says so; a default shown as if it had been observed would be scored as the patient's. Limits
    are not enforced in the widget: a value outside them is taken as typed and refused, by name and with its
    limits, when the risk is estimated (a field the browser silently refuses leaves the old value on screen)."""
    if start is not None and key not in st.session_state:
        st.session_state[key] = int(start) if feature.is_integer else float(start)
    help_text = feature.help_text()
    label = field_label(feature)
    if feature.is_binary:
        return st.radio(label, [None, 0, 1], key=key, horizontal=True, help=help_text,
                        format_func=lambda v: NOT_RECORDED if v is None else feature.levels.get(v, str(v)).capitalize())
    if feature.levels:
        return st.selectbox(label, [None, *range(int(feature.valid_min), int(feature.valid_max) + 1)], key=key,
                            help=help_text, format_func=lambda v: NOT_RECORDED if v is None else _level(feature, v))
    if feature.is_integer:
        return st.number_input(label, value=None, step=1, key=key, help=help_text, placeholder=NOT_RECORDED)
    step = 10.0 ** -feature.decimals if feature.decimals else 1.0
    return st.number_input(label, value=None, step=step, format=f"%.{feature.decimals}f", key=key, help=help_text,
                           placeholder=NOT_RECORDED)


def _level(feature: Feature, value: int) -> str:
    """'7', or '5: moderate stress' where the scale names the level."""
    return f"{value}: {feature.levels[value]}" if value in feature.levels else str(value)


def shown_blank(table, formats: dict[str, str]):
    """The table with each column in `formats` written as its format says ("{:.3f}", "{:.1%}") and a missing figure
    as "—": st.dataframe shows a missing number as "None", even through a Styler's na_rep."""
    table = table.copy()
    for column, form in formats.items():
        if column in table.columns:
            table[column] = [("—" if value is None or value != value else form.format(value))
                             for value in table[column]]
    return table


def risk_column(label: str):
    return st.column_config.ProgressColumn(label, format="percent", min_value=0.0, max_value=1.0)


def format_risk(value: float) -> str:
    return "—" if value is None or math.isnan(value) else percent(value)


def what_if_key(feature: Feature, patient_version: int) -> str:
    """The what-if widget's key: new widgets (with new defaults) whenever an option is tried."""
    return f"whatif_{feature.name}_{patient_version}_{st.session_state.get(Key.WHAT_IF_ROUND, 0)}"


def fill_what_if(values: dict[str, float]) -> None:
    """Start the what-if from the patient with these values changed (a button's on_click)."""
    st.session_state[Key.WHAT_IF_START] = values
    st.session_state[Key.WHAT_IF_ROUND] = st.session_state.get(Key.WHAT_IF_ROUND, 0) + 1


def form_key(feature: Feature) -> str:
    """The Patient form's widget key: new widgets (with new start values) whenever a record fills the form."""
    filled = st.session_state.get(Key.FORM_ROUND, 0)
    return f"patient_{feature.name}_{filled}" if filled else f"patient_{feature.name}"


def fill_form(values: dict[str, float], notes: list[str], patient: str) -> None:
    """Start the Patient form from a record's values (a button's on_click); `notes` say what it lacks."""
    st.session_state[Key.FORM_START] = values
    st.session_state[Key.FORM_NOTES] = notes
    st.session_state[Key.FORM_FILLED_FROM] = patient
    st.session_state[Key.FORM_ROUND] = st.session_state.get(Key.FORM_ROUND, 0) + 1

"""What every page shares: the model, loaded once per process, and how it is shown when missing."""

from __future__ import annotations

import os
import threading

import pandas as pd
import streamlit as st

from recovery_model import Predictor, RecoveryError
from recovery_model.narrative import percent
from recovery_model.predictor import CHECKPOINT_ENV
from recovery_model.schema import Feature

TIER_BADGE = {"high": ":red-background[**HIGH RISK**]", "moderate": ":orange-background[**MODERATE RISK**]",
              "low": ":green-background[**LOW RISK**]"}
FIX_COMMAND = "make model        # or: .venv/bin/recovery train"


@st.cache_resource(show_spinner="Loading the model…")
def _load_predictor(folder: str | None) -> Predictor:
    predictor = Predictor.load(folder)
    # Build the explainer off the request path: the first Patient submit then need not wait for it.
    threading.Thread(target=predictor.warm_up, daemon=True).start()
    return predictor


def predictor_or_stop() -> Predictor:
    """The loaded model, or a plain message with the command that fixes it (and the page stops).

    Loaded once per process and checkpoint folder ($RECOVERY_CHECKPOINT, else the committed default);
    a failed load is not cached, so fixing the checkpoint and reloading the page is enough.
    """
    try:
        return _load_predictor(os.environ.get(CHECKPOINT_ENV))
    except RecoveryError as exc:
        st.error(f"**No model is loaded.** {exc}")
        st.markdown("Run this in the project folder, then reload the page:")
        st.code(FIX_COMMAND, language="bash")
        st.stop()


def field_label(feature: Feature) -> str:
    """'Systolic blood pressure, mmHg · typical 95–170': unit and typical range in the label itself."""
    unit = feature.unit if feature.unit and not feature.unit.startswith(("score", "level")) else ""
    label = f"{feature.label}, {unit}" if unit else feature.label
    return label if feature.is_binary or feature.levels else f"{label} · typical {feature.typical_range_text(False)}"


def feature_input(feature: Feature, value: float, key: str):
    """The widget for one feature, bounded by its hard limits so impossible values cannot be entered."""
    help_text = feature.help_text()
    if feature.is_binary:
        return st.radio(field_label(feature), [0, 1], index=int(value), key=key, horizontal=True, help=help_text,
                        format_func=lambda v: feature.levels.get(v, str(v)).capitalize())
    if feature.levels:
        return st.slider(field_label(feature), int(feature.valid_min), int(feature.valid_max), int(value), key=key,
                         help=help_text)
    if feature.is_integer:
        return st.number_input(field_label(feature), int(feature.valid_min), int(feature.valid_max), int(value),
                               step=1, key=key, help=help_text)
    step = 10.0 ** -feature.decimals if feature.decimals else 1.0
    return st.number_input(field_label(feature), float(feature.valid_min), float(feature.valid_max), float(value),
                           step=step, format=f"%.{feature.decimals}f", key=key, help=help_text)


def risk_column(label: str = "Risk of not recovering"):
    return st.column_config.ProgressColumn(label, format="percent", min_value=0.0, max_value=1.0)


def format_risk(value: float) -> str:
    return percent(value) if pd.notna(value) else "—"

"""How a model that `recovery update` made was chosen and how it did (the Model page, from update.json), and how a
shadow model does beside the model in use (the Monitoring page)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import streamlit as st

METHODS = {"none": "kept as it was", "intercept": "recalibrated in the large (its intercept)",
           "logistic": "recalibrated (intercept and slope)", "refit": "refitted on the hospital's own patients"}


def show_update(update: dict[str, Any]) -> None:
    development, held = update["development"], update["holdout"]
    tests = "; ".join(f"{t['larger']} against {t['smaller']}, p = {t['p_value']:.2g}" for t in update["tests"])
    st.info(f"**An update of {update['champion']['version']}** ({update['champion']['digest'][:12]}), "
            f"{METHODS[update['method']]}: chosen by closed testing on {development['patients']:,} of the hospital's "
            f"patients ({development['events']} events, {development['from'][:10]} to {development['to'][:10]}; "
            f"{tests}), then compared on the {held['champion']['patients']:,} latest patients, held out.",
            icon=":material/published_with_changes:")
    rows = [("O/E (1 is calibrated)", _interval(held["champion"]["observed_expected"]),
             _interval(held["candidate"]["observed_expected"]), _interval(held["difference"]["observed_expected"])),
            ("AUROC", _interval(held["champion"]["auroc"], 3), _interval(held["candidate"]["auroc"], 3),
             _interval(held["difference"]["auroc"], 3)),
            ("Calibration slope", _number(held["champion"]["calibration_slope"]),
             _number(held["candidate"]["calibration_slope"]), _interval(held["difference"]["calibration_slope"]))]
    st.dataframe(pd.DataFrame(rows, columns=["on the held-out patients", "model it updates", "this model",
                                             "difference (95 % CI)"]), hide_index=True, key="update_holdout")


def shadow_table(shadow: Mapping[str, Any]) -> pd.DataFrame:
    """A shadow model beside the model in use, per period and over all: O/E, AUROC and the paired difference."""
    return pd.DataFrame([{
        "Period": p["start"] or "all", "Patients": p["patients"], "Events": p["events"],
        "O/E in use": _interval(p["in_use"]["observed_expected"]),
        "O/E shadow": _interval(p["shadow"]["observed_expected"]),
        "AUROC in use": _interval(p["in_use"]["auroc"], 3), "AUROC shadow": _interval(p["shadow"]["auroc"], 3),
        "AUROC difference": _interval(p["auroc_difference"], 3)} for p in [*shadow["periods"], shadow["all"]]])


def _interval(figure: dict[str, float | None], digits: int = 2) -> str:
    value, low, high = figure["value"], figure["low"], figure["high"]
    if value is None:
        return "—"
    shown = _number(value, digits)
    return shown if low is None or high is None else f"{shown} ({_number(low, digits)} to {_number(high, digits)})"


def _number(value: float | None, digits: int = 2) -> str:
    """The value rounded, never '-0.00'; '—' when there is none."""
    return "—" if value is None else f"{round(value, digits) + 0.0:.{digits}f}"

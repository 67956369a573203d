"""The columns every scored table shares, their display names, and the one ranking rule.

Validation adds ROW, STATUS, PROBLEMS, UNUSUAL and IMPUTED to the parsed values; scoring adds RISK
and TIER; ranking adds RANK and the two flags. The CLI's output file, the Ward page's table and
its download all use these names, so renaming a column is a one-line change here.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np

from recovery_model.scoring.thresholds import Tier

ROW, STATUS, PROBLEMS, UNUSUAL, IMPUTED = "row", "status", "problems", "unusual_values", "imputed_values"
RISK, TIER = "risk", "tier"
RISK_LOW, RISK_HIGH, TYPICALITY, ATYPICAL, ATYPICAL_FEATURES = ("risk_low", "risk_high", "typicality", "atypical",
                                                                "atypical_features")
MISSING_RISK_LOW, MISSING_RISK_HIGH = "missing_risk_low", "missing_risk_high"
RANK, IN_TOP_K, ABOVE_THRESHOLD = "rank", "in_top_k", "above_threshold"
CHANGED, BELOW_THRESHOLD = "changed", "below_threshold"


class Status(StrEnum):
    """Whether a row was scored; every input row is one or the other."""

    SCORED = "scored"
    REJECTED = "rejected"


SCORED, REJECTED, NOT_SCORED = Status.SCORED, Status.REJECTED, Tier.NOT_SCORED
SOURCE_FILE = "source_file"  # the Dask engine: which input file a row came from
FHIR_NOTES = "fhir_notes"  # FHIR import: what left a patient's values blank, by feature
OUTDATED = "outdated_values"  # values older than their shelf life (or undated, or later than the index time)
OLDEST_VALUE_TIME = "oldest_value_time"  # when the oldest value used was measured (blank: no dates known)
DRIVERS = 3

VALIDATION_COLUMNS = (ROW, STATUS, PROBLEMS, UNUSUAL, IMPUTED)
TRUST_COLUMNS = (RISK_LOW, RISK_HIGH, MISSING_RISK_LOW, MISSING_RISK_HIGH, TYPICALITY, ATYPICAL, ATYPICAL_FEATURES)
SCORE_COLUMNS = (*VALIDATION_COLUMNS, RISK, TIER, *TRUST_COLUMNS, RANK, IN_TOP_K, ABOVE_THRESHOLD)
FLAG_COLUMNS = (IN_TOP_K, ABOVE_THRESHOLD)

LABELS = {RANK: "Rank", ROW: "Row", RISK: "Risk", TIER: "Tier", IN_TOP_K: "In top K",
          ABOVE_THRESHOLD: "⚑ Over threshold", UNUSUAL: "Unusual values", IMPUTED: "Imputed (median)",
          PROBLEMS: "Problems", STATUS: "Status", RISK_LOW: "Risk, low end", RISK_HIGH: "Risk, high end",
          MISSING_RISK_LOW: "Risk, low end over what is not recorded",
          MISSING_RISK_HIGH: "Risk, high end over what is not recorded", TYPICALITY: "Typicality (p)",
          ATYPICAL: "Unlike training", ATYPICAL_FEATURES: "Unlike training because",
          FHIR_NOTES: "From the FHIR record", OUTDATED: "Too old to use", OLDEST_VALUE_TIME: "Oldest value from"}


def driver_column(position: int) -> str:
    """'driver_1' for the strongest driver, 'driver_2' for the next, ..."""
    return f"driver_{position}"


def driver_columns(count: int = DRIVERS) -> list[str]:
    return [driver_column(d) for d in range(1, count + 1)]


def source_column(feature: str) -> str:
    """'bmi_source': where FHIR import found a feature's value (resource and date)."""
    return f"{feature}_source"


def time_column(feature: str) -> str:
    """'heart_rate_time': when a feature's value was measured (a FHIR record's date, or a file's own column)."""
    return f"{feature}_time"


def is_source_column(column: str, features: list[str]) -> bool:
    """A column beside each value that says where (FHIR import) or when (a file's `_time`) it came from: kept in
    files, shown per patient on pages."""
    return any(column in (source_column(f), time_column(f)) for f in features)


def in_top_k(rank: np.ndarray | int, top_k: int | None) -> np.ndarray:
    """The ranking rule: rank 1 is the highest risk, and ranks 1..K take the K monitoring slots.

    No K (None or 0) flags no one. Works on one rank or an array of them.
    """
    rank = np.asarray(rank)
    return rank <= top_k if top_k else np.zeros(rank.shape, dtype=bool)


def above_threshold(risk: np.ndarray, threshold: float) -> np.ndarray:
    return np.asarray(risk, dtype=float) >= threshold


def label(column: str) -> str:
    """The heading a page shows for an output column (driver columns included)."""
    if column.startswith("driver_"):
        return f"Driver {column.removeprefix('driver_')}"
    return LABELS.get(column, column)

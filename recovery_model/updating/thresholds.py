"""A high-tier threshold with a guarantee on local outcomes: Learn then Test (Angelopoulos, Bates, Candès, Jordan
and Lei, 2021), by MAPIE's `BinaryClassificationController`.

Each candidate threshold is a hypothesis "the PPV of risk ≥ threshold is below the target"; a binomial p-value on the
patients given tests it, and a family-wise error procedure (Bonferroni–Holm, MAPIE's default) keeps the chance that
any threshold declared valid is not at most 1 − confidence. Among the valid thresholds the lowest is chosen (it flags
the most patients). With too few patients or a target too high, no threshold qualifies, and that is said.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.9
CANDIDATES = 100  # thresholds tried: quantiles of the risks from the median up (fewer tests, less correction)


@dataclass(frozen=True)
class GuaranteedThreshold:
    target_ppv: float
    confidence: float
    threshold: float | None  # None: no threshold qualifies
    valid_thresholds: int
    patients: int
    flagged: int  # patients at or above the threshold, among those it was chosen on
    observed_ppv: float | None


def guaranteed_high_threshold(event: np.ndarray, risk: np.ndarray, target_ppv: float,
                              confidence: float = CONFIDENCE) -> GuaranteedThreshold:
    """The lowest threshold whose PPV is at least `target_ppv` with `confidence`, on these patients' outcomes."""
    from mapie.risk_control import BinaryClassificationController

    risk = np.asarray(risk, dtype=float)
    event = np.asarray(event, dtype=int)
    candidates = np.unique(np.quantile(risk, np.linspace(0.5, 0.999, CANDIDATES)))
    controller = BinaryClassificationController(
        predict_function=_as_probabilities, risk="precision", target_level=target_ppv,
        confidence_level=confidence, list_predict_params=candidates)
    with warnings.catch_warnings():  # MAPIE warns when no threshold qualifies; the result says so in our words
        warnings.simplefilter("ignore", UserWarning)
        controller.calibrate(risk.reshape(-1, 1), event)
    valid = np.asarray(controller.valid_predict_params, dtype=float).ravel()
    if not len(valid):
        return GuaranteedThreshold(target_ppv, confidence, None, 0, len(risk), 0, None)
    threshold = float(valid.min())
    flagged = risk >= threshold
    return GuaranteedThreshold(target_ppv, confidence, threshold, len(valid), len(risk), int(flagged.sum()),
                               float(event[flagged].mean()))


def _as_probabilities(x: np.ndarray) -> np.ndarray:
    risk = np.asarray(x, dtype=float)[:, 0]
    return np.column_stack([1.0 - risk, risk])

"""How far to trust one risk: a Venn-Abers interval, and how typical the patient is of the training data.

Interval. Inductive Venn-Abers calibration (Vovk & Petej 2014) on the out-of-fold risks: for a new
risk, isotonic regression is fitted twice on the out-of-fold risks plus the new one, once as if the
patient had the event and once as if not; the two fitted values are the interval [low, high]. Among
patients scored like this one, the event rate lies in it; it is not a confidence interval for this
person. The computation is the venn-abers package's (by the method's authors). The Predictor widens the
pair, where needed, to hold the shown (Platt) risk: the risk stays what was validated, and the range holds it.
The isotonic vectors are computed once, when the model is fitted, and travel in the checkpoint.

Typicality. A Mahalanobis distance with a Ledoit-Wolf shrunk covariance on standardised, imputed
features, turned into a conformal p-value against training rows that were not used to fit the
covariance: at level 1 %, about 1 % of patients like the training ones are flagged.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

TYPICALITY_LEVEL = 0.01
UNUSUAL_FEATURES = 3


@dataclass(frozen=True)
class RiskInterval:
    """Venn-Abers isotonic calibration vectors computed from out-of-fold risks and events."""

    scores: np.ndarray  # the distinct out-of-fold risks, sorted
    low_at: np.ndarray  # p0 for a new risk inserted at each position
    high_at: np.ndarray  # p1 likewise

    @classmethod
    def fit(cls, risk: np.ndarray, event: np.ndarray) -> RiskInterval:
        from venn_abers import calc_p0p1  # fitting only: scoring reads the stored vectors

        risk = np.asarray(risk, dtype=float)
        # the package's search divides 0 by 0 and meets all-NaN slices at the ends of the diagram: harmless
        with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            p0, p1, scores = calc_p0p1(np.column_stack([1 - risk, risk]), np.asarray(event, dtype=float))
        return cls(np.asarray(scores, dtype=float), p0[:, 1].astype(float), p1[:, 1].astype(float))

    def bounds(self, risk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) for each risk; low ≤ high."""
        risk = np.asarray(risk, dtype=float)
        low = self.low_at[np.searchsorted(self.scores, risk, side="right")]
        high = self.high_at[np.searchsorted(self.scores, risk, side="left")]
        return np.minimum(low, high), np.maximum(low, high)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"interval_scores": self.scores, "interval_low_at": self.low_at, "interval_high_at": self.high_at}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> RiskInterval:
        return cls(arrays["interval_scores"], arrays["interval_low_at"], arrays["interval_high_at"])


@dataclass(frozen=True)
class Typicality:
    """Conformal typicality of a feature combination against the training patients.

    `p_value(x)`: the share of held-out training rows at least as far from the centre as x (with the
    usual +1 correction): small means unlike the training patients.
    """

    medians: np.ndarray
    centre: np.ndarray
    scale: np.ndarray
    precision: np.ndarray
    calibration: np.ndarray  # sorted distances of the held-out training rows

    @classmethod
    def fit(cls, values: np.ndarray, seed: int = 0) -> Typicality:
        """Fit the covariance on half the rows and calibrate on the other half."""
        from sklearn.covariance import LedoitWolf  # fitting only: scoring reads the stored precision

        values = np.asarray(values, dtype=float)
        medians = np.nanmedian(values, axis=0)
        filled = np.where(np.isnan(values), medians, values)
        order = np.random.default_rng(seed).permutation(len(filled))
        fit_rows, calibration_rows = order[: len(order) // 2], order[len(order) // 2:]
        centre = filled[fit_rows].mean(axis=0)
        scale = filled[fit_rows].std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        precision = LedoitWolf().fit((filled[fit_rows] - centre) / scale).precision_
        partial = cls(medians, centre, scale, precision, np.empty(0))
        return cls(medians, centre, scale, precision, np.sort(partial.distance(filled[calibration_rows])))

    def _standardised(self, values: np.ndarray) -> np.ndarray:
        values = np.atleast_2d(np.asarray(values, dtype=float))
        return (np.where(np.isnan(values), self.medians, values) - self.centre) / self.scale

    def distance(self, values: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distance of each row from the training centre."""
        z = self._standardised(values)
        return ((z @ self.precision) * z).sum(axis=1)

    def p_value(self, values: np.ndarray) -> np.ndarray:
        distance = self.distance(values)
        at_least = len(self.calibration) - np.searchsorted(self.calibration, distance, side="left")
        return (1 + at_least) / (1 + len(self.calibration))

    def contributions(self, values: np.ndarray) -> np.ndarray:
        """Each feature's share of the squared distance, z_j (P z)_j: the features that make a row unusual."""
        z = self._standardised(values)
        return z * (z @ self.precision)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"typicality_medians": self.medians, "typicality_centre": self.centre, "typicality_scale": self.scale,
                "typicality_precision": self.precision, "typicality_calibration": self.calibration}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Typicality:
        return cls(*(arrays[f"typicality_{name}"] for name in ("medians", "centre", "scale", "precision",
                                                               "calibration")))

"""Tier thresholds: risk cut-offs chosen on the out-of-fold risks of the training rows.

Kept free of torch so that pages which only describe a model (Home) load quickly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np

HIGH_SENSITIVITY, MODERATE_SENSITIVITY = 0.5, 0.8


class Tier(StrEnum):
    """The tiers a risk falls in, and the tier of a patient who could not be scored."""

    HIGH = "high"
    MODERATE = "moderate"
    LOW = "low"
    NOT_SCORED = "not scored"


@dataclass(frozen=True)
class Thresholds:
    """Risk cut-offs for the tiers, chosen on the out-of-fold risks of the training rows.

    high: the riskiest patients who, together, held half of the events;
    moderate: down to the risk at which 80 % of them were caught. Below that is low.
    """

    high: float
    moderate: float
    high_sensitivity: float = HIGH_SENSITIVITY
    moderate_sensitivity: float = MODERATE_SENSITIVITY
    high_ppv: float | None = None  # set when the high threshold was chosen on local outcomes for this PPV (Learn then
    ppv_confidence: float | None = None  # Test) with this confidence: `with_guaranteed_high`

    def tier(self, risk: np.ndarray) -> np.ndarray:
        """Each risk's tier, as text ('high', 'moderate', 'low': the values of `Tier`)."""
        risk = np.asarray(risk, dtype=float)
        return np.where(risk >= self.high, Tier.HIGH.value, np.where(risk >= self.moderate, Tier.MODERATE.value,
                                                                      Tier.LOW.value))

    def floor(self, tier: str) -> float | None:
        """The risk a patient must fall below to leave `tier` for a lower one (None for the low tier)."""
        return {Tier.HIGH: self.high, Tier.MODERATE: self.moderate}.get(Tier(tier))

    def with_guaranteed_high(self, threshold: float, ppv: float, confidence: float) -> Thresholds:
        """The high tier from `threshold`, chosen so that its PPV is at least `ppv` with `confidence`; the moderate
        tier's threshold stays unless it would lie above it."""
        return replace(self, high=threshold, moderate=min(self.moderate, threshold), high_ppv=ppv,
                       ppv_confidence=confidence)

    @classmethod
    def from_risks(cls, risk: np.ndarray, event: np.ndarray) -> Thresholds:
        return cls(high=threshold_for_sensitivity(risk, event, HIGH_SENSITIVITY),
                   moderate=threshold_for_sensitivity(risk, event, MODERATE_SENSITIVITY))


def threshold_for_sensitivity(risk: np.ndarray, event: np.ndarray, sensitivity: float) -> float:
    """The highest threshold at which `risk >= threshold` catches at least `sensitivity` of events."""
    event_risks = np.sort(np.asarray(risk)[np.asarray(event) == 1])[::-1]
    needed = int(np.ceil(sensitivity * len(event_risks)))
    return float(event_risks[max(needed - 1, 0)])

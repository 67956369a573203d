"""What the network sees: imputed, scaled values and missing-value indicators, one set per member.

Every member of the cross-fitted ensemble learns its medians, centres and scales from its own
training folds only, so its held-out fold (the out-of-fold prediction) never leaks into them.
Indicators are added for every feature that had missing values in the training data: in hospital
data, that a laboratory value was not measured is itself information.

Scaling is affine per feature and never clips: an extreme glucose is the signal, not noise.
"robust" centres on the median and divides by the interquartile range (falling back to the standard
deviation for features whose IQR is zero); "standard" uses the mean and standard deviation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IQR_TO_SD = 1.349  # the IQR of a normal distribution in standard deviations
MIN_LEVELS_FOR_HINGES = 10  # binary flags and short ordinal scales keep a single straight line


@dataclass(frozen=True)
class InputTransform:
    """Per member: medians, centres and scales [members, features] and hinge knots [members, curved, hinges];
    shared: which features have missing-value indicators and which have hinges."""

    medians: np.ndarray
    centres: np.ndarray
    scales: np.ndarray
    knots: np.ndarray
    indicators: tuple[int, ...]
    curved: tuple[int, ...]
    encoding: str = "hinges"

    @classmethod
    def fit(cls, values: np.ndarray, train_masks: np.ndarray, scaling: str, indicators: bool,
            hinges: int = 0, encoding: str = "hinges") -> InputTransform:
        """`values` [rows, features] with NaN for missing; `train_masks` [members, rows]."""
        curved = tuple(int(j) for j in range(values.shape[1])
                       if hinges and len(np.unique(values[~np.isnan(values[:, j]), j])) >= MIN_LEVELS_FOR_HINGES)
        quantiles = np.linspace(0, 100, hinges + 2)[1:-1]
        medians, centres, scales, knots = [], [], [], []
        for mask in train_masks:
            rows = values[mask]
            median = nan_median(rows)
            filled = np.where(np.isnan(rows), median, rows)
            spread = filled.std(axis=0)
            if scaling == "robust":
                q1, q3 = np.percentile(filled, [25, 75], axis=0)
                centre, spread = np.median(filled, axis=0), np.where(q3 > q1, (q3 - q1) / IQR_TO_SD, spread)
            else:
                centre = filled.mean(axis=0)
            medians.append(median)
            centres.append(centre)
            scales.append(np.where(spread > 0, spread, 1.0))
            knots.append(np.percentile(filled[:, list(curved)], quantiles, axis=0).T if curved else
                         np.zeros((0, hinges)))
        missing_anywhere = np.isnan(values).any(axis=0)
        flagged = tuple(int(j) for j in np.flatnonzero(missing_anywhere)) if indicators else ()
        return cls(np.array(medians), np.array(centres), np.array(scales), np.array(knots), flagged, curved, encoding)

    @property
    def members(self) -> int:
        return len(self.medians)

    @property
    def n_features(self) -> int:
        """The features; the first `n_features` inputs are their scaled values, in order."""
        return int(self.medians.shape[1])

    @property
    def n_inputs(self) -> int:
        return len(self.source_feature)

    @property
    def source_feature(self) -> np.ndarray:
        """For each network input, the index of the feature it comes from (values, hinges, indicators)."""
        hinges = np.repeat(np.array(self.curved, dtype=int), self.knots.shape[2])
        return np.concatenate([np.arange(self.medians.shape[1]), hinges, np.array(self.indicators, dtype=int)])

    def transform(self, values: np.ndarray) -> np.ndarray:
        """[rows, features] with NaN → [members, rows, inputs], float64."""
        values = np.asarray(values, dtype=float)
        missing = np.isnan(values)
        filled = np.where(missing[None], self.medians[:, None, :], values[None])
        scaled = (filled - self.centres[:, None, :]) / self.scales[:, None, :]
        parts = [scaled]
        if self.curved:
            curved = list(self.curved)
            above = filled[:, :, curved, None] - self.knots[:, None, :, :]
            hinge = np.maximum(above, 0.0)
            if self.encoding == "ple":  # each ramp stops at the next knot: the bins' piecewise-linear encoding
                widths = np.diff(self.knots, axis=2, append=np.inf)
                hinge = np.minimum(hinge, widths[:, None, :, :])
            hinge = hinge / self.scales[:, None, curved, None]
            parts.append(hinge.reshape(self.members, len(values), -1))
        if self.indicators:
            flags = missing[:, list(self.indicators)].astype(float)
            parts.append(np.broadcast_to(flags, (self.members, *flags.shape)))
        return np.concatenate(parts, axis=2) if len(parts) > 1 else scaled

    def arrays(self) -> dict[str, np.ndarray]:
        return {"medians": self.medians, "centres": self.centres, "scales": self.scales, "knots": self.knots}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], indicators: list[int], curved: list[int],
                    encoding: str = "hinges") -> InputTransform:
        return cls(arrays["medians"], arrays["centres"], arrays["scales"], arrays["knots"],
                   tuple(int(j) for j in indicators), tuple(int(j) for j in curved), encoding)


def nan_median(rows: np.ndarray) -> np.ndarray:
    """Column medians ignoring NaN; 0 for a column with no value at all in these rows."""
    present = ~np.isnan(rows)
    out = np.zeros(rows.shape[1])
    for j in np.flatnonzero(present.any(axis=0)):
        out[j] = np.median(rows[present[:, j], j])
    return out

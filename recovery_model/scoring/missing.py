"""How far a patient's missing inputs could move the risk: its spread over plausible values of what is missing.

Plausible values come from the training patients most like this one on what was observed: a nearest-neighbour
hot deck over the checkpoint's reference rows (training patients as their records showed them). Each donor's
values fill the missing inputs, the model scores the completed row as if they had been recorded, and the 10th
and 90th percentiles of those risks are the spread. With nothing missing the spread is the risk itself.

The donors are patients who had those values recorded, so the spread assumes that what is missing resembles
what similar patients had (missing at random given the observed values). Where being unrecorded says something
about the value itself (an outpatient's shorter stay), the spread leans towards the recorded patients' values;
docs/trust.md shows how wide it is against the generator's own answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import pandas as pd

DONORS = 30
SPREAD = (0.10, 0.90)
ROWS_PER_CHUNK = 256  # rows × reference rows × features distances at a time: about 60 MB


class ScoresRows(Protocol):
    def predict_proba(self, x: pd.DataFrame) -> np.ndarray: ...


def missing_spread(model: ScoresRows, values: np.ndarray, risk: np.ndarray, reference: np.ndarray,
                   feature_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The 10th and 90th percentile of the risk over plausible values of each row's missing inputs (NaN in
    `values`); the risk itself for a row with nothing missing, or when no reference patient had those values."""
    low, high = np.array(risk, dtype=float), np.array(risk, dtype=float)
    missing = np.isnan(values)
    scale = _scale(reference)
    for pattern in np.unique(missing[missing.any(axis=1)], axis=0):
        rows = np.flatnonzero((missing == pattern).all(axis=1))
        donors = reference[~np.isnan(reference[:, pattern]).any(axis=1)]
        if not len(donors):
            continue
        for start in range(0, len(rows), ROWS_PER_CHUNK):
            chunk = rows[start:start + ROWS_PER_CHUNK]
            spread = _spread(model, values[chunk], pattern, donors, scale, feature_names)
            low[chunk], high[chunk] = spread
    return low, high


def _scale(reference: np.ndarray) -> np.ndarray:
    """Each feature's spread among the reference patients who had it recorded (1 where fewer than two did)."""
    scale = np.ones(reference.shape[1])
    for j in range(reference.shape[1]):
        recorded = reference[~np.isnan(reference[:, j]), j]
        if len(recorded) > 1 and recorded.std() > 0:
            scale[j] = recorded.std()
    return scale


def _spread(model: ScoresRows, values: np.ndarray, pattern: np.ndarray, donors: np.ndarray, scale: np.ndarray,
            feature_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    observed = ~pattern
    difference = (values[:, None, observed] - donors[None, :, observed]) / scale[observed]
    shared = np.isfinite(difference)
    distance = np.where(shared, difference ** 2, 0.0).sum(axis=2) / np.maximum(shared.sum(axis=2), 1)
    k = min(DONORS, len(donors))
    nearest = np.argpartition(distance, k - 1, axis=1)[:, :k]
    filled = np.repeat(values, k, axis=0)
    filled[:, pattern] = donors[nearest.ravel()][:, pattern]
    risk = model.predict_proba(pd.DataFrame(filled, columns=list(feature_names)))[:, 1].reshape(len(values), k)
    return np.quantile(risk, SPREAD[0], axis=1), np.quantile(risk, SPREAD[1], axis=1)

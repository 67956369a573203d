"""What would lower the risk: an exact search over the schema's modifiable factors.

The modifiable factors are few and take few values, so every combination of up to three changed
factors is scored at once (a few thousand rows, one forward pass). Values stay within each factor's
typical range (where the model has seen patients) and on its steps; a factor the schema marks
`change = "decrease"` (a smoker can stop smoking) only goes down. Options below the patient's tier
threshold come first, the sparsest and smallest changes first; failing that, the largest reductions.
Options are kept different from each other: no option's changed factors contain another's.
These are associations the model learned, not causal advice.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recovery_model.schema import Feature, Schema
from recovery_model.scoring.columns import CHANGED

MAX_CHANGES, MAX_OPTIONS, MAX_VALUES_PER_FACTOR = 3, 3, 15


@dataclass(frozen=True)
class Candidates:
    """Every candidate patient: their values (rows × schema features), which factors changed, and how far
    (the sum of the changes as shares of each factor's typical range)."""

    values: np.ndarray
    changed: list[tuple[str, ...]]
    distance: np.ndarray


def factor_values(feature: Feature, current: float) -> np.ndarray:
    """The values a factor may move to from `current`: on its steps, in its typical range, not `current`."""
    low, high = feature.typical_min, feature.typical_max
    if feature.is_integer:
        values = np.arange(np.ceil(low), np.floor(high) + 1)
        if len(values) > MAX_VALUES_PER_FACTOR:
            values = np.unique(np.round(np.linspace(low, high, MAX_VALUES_PER_FACTOR)))
    else:
        values = np.round(np.linspace(low, high, MAX_VALUES_PER_FACTOR), feature.decimals)
    if feature.change == "decrease":
        values = values[values < current]
    elif feature.change == "increase":
        values = values[values > current]
    return values[values != current]


def candidates(patient: pd.Series, schema: Schema, max_changes: int = MAX_CHANGES) -> Candidates:
    names = schema.feature_names
    base = patient[names].to_numpy(dtype=float)
    # a factor the record lacks is not suggested: "change it from what?" has no answer, and the risk shown
    # filled it with a median, not with the patient's value
    recorded = [f for f in schema.modifiable if not pd.isna(patient[f.name])]
    grids = {f.name: factor_values(f, patient[f.name]) for f in recorded}
    factors = [f for f in recorded if len(grids[f.name])]
    blocks, changed, distance = [], [], []
    for k in range(1, max_changes + 1):
        for subset in itertools.combinations(factors, k):
            columns = [names.index(f.name) for f in subset]
            combos = np.stack(np.meshgrid(*(grids[f.name] for f in subset), indexing="ij"), axis=-1).reshape(-1, k)
            block = np.repeat(base[None, :], len(combos), axis=0)
            block[:, columns] = combos
            spans = np.array([max(f.typical_max - f.typical_min, 1e-9) for f in subset])
            blocks.append(block)
            changed += [tuple(f.name for f in subset)] * len(combos)
            distance.append((np.abs(combos - base[columns]) / spans).sum(axis=1))
    if not blocks:
        return Candidates(np.empty((0, len(names))), [], np.empty(0))
    return Candidates(np.concatenate(blocks), changed, np.concatenate(distance))


def choose(risk: np.ndarray, atypical: np.ndarray, found: Candidates, current_risk: float, target: float | None,
           options: int = MAX_OPTIONS) -> list[int]:
    """Indices of up to `options` candidates: below `target` (like the training patients, fewest changes,
    smallest, lowest risk first), else the largest reductions (like the training patients first); each
    must lower the risk, and no option's changed factors contain another's."""
    n_changed = np.array([len(c) for c in found.changed])
    lowers = risk < current_risk
    if target is not None and np.any(lowers & (risk < target)):
        pool = np.flatnonzero(lowers & (risk < target))
        order = pool[np.lexsort((risk[pool], found.distance[pool], n_changed[pool], atypical[pool]))]
    else:
        pool = np.flatnonzero(lowers)
        order = pool[np.lexsort((n_changed[pool], risk[pool], atypical[pool]))]
    chosen: list[int] = []
    for i in order:
        changes = set(found.changed[i])
        if all(not (changes >= set(found.changed[j]) or changes <= set(found.changed[j])) for j in chosen):
            chosen.append(int(i))
        if len(chosen) == options:
            break
    return chosen


def suggest(patient: pd.Series, schema: Schema, risk_of: Callable[[np.ndarray], np.ndarray],
            atypical_of: Callable[[np.ndarray], np.ndarray], current_risk: float,
            target: float | None) -> pd.DataFrame:
    """The chosen options: every feature's value and the changed factors (see `Predictor.suggest_changes`)."""
    found = candidates(patient, schema)
    picked = choose(risk_of(found.values), atypical_of(found.values), found, current_risk, target) \
        if len(found.values) else []
    table = pd.DataFrame(found.values[picked], columns=schema.feature_names)
    table[CHANGED] = [list(found.changed[i]) for i in picked]
    return table

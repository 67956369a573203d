"""The shadow model (or a past version) beside the model in use, on the same patients, per period: what each
predicted, what happened, and the paired difference in discrimination. Only patients with an outcome linked count;
the other model's risks were never shown, so its figures are what it would have done. A shadow scored each patient
as it came; a past version scores the logged inputs again (`rescored_pairs`)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, NotRequired, TypedDict

import numpy as np
import pandas as pd

from recovery_model.monitoring.statistics import auroc_interval, observed_expected, paired_auroc_difference

if TYPE_CHECKING:
    from recovery_model.log.store import PredictionLog
    from recovery_model.scoring.predictor import Predictor


class Interval(TypedDict):
    value: float | None
    low: float | None
    high: float | None


class ModelFigures(TypedDict):
    expected_events: float
    observed_expected: Interval
    auroc: Interval


class ShadowPeriod(TypedDict):
    start: str | None  # None: all periods together
    patients: int
    events: int
    in_use: ModelFigures
    shadow: ModelFigures
    auroc_difference: Interval  # the shadow's AUROC minus the model in use's, paired (DeLong)


class ShadowComparison(TypedDict):
    version: str
    digest: str
    beside: list[str]  # the versions in use it was scored beside
    periods: list[ShadowPeriod]
    all: ShadowPeriod
    rescored: NotRequired[bool]  # a past version scoring the logged inputs again, not a shadow as they came


def shadow_comparison(pairs: pd.DataFrame, period: str) -> list[ShadowComparison]:
    """One entry per shadow model (version, digest) with its periods, oldest first (`PredictionLog.shadow_pairs`)."""
    from recovery_model.monitoring.report import period_starts  # the report includes this comparison

    known = pairs[pairs["event"].notna()]
    out = []
    for (version, digest), rows in known.groupby(["shadow_version", "shadow_digest"], sort=False):
        starts = period_starts(rows["predicted_at"], period)
        periods = [_period(start, part) for start, part in rows.groupby(starts, sort=True)]
        out.append(ShadowComparison(version=str(version), digest=str(digest),
                                    beside=sorted(set(rows["model_version"])), periods=periods,
                                    all=_period(None, rows)))
    return out


def rescored_pairs(log: PredictionLog, in_use: Predictor, past: Predictor, since: datetime | None = None,
                   until: datetime | None = None) -> pd.DataFrame:
    """Pairs as `PredictionLog.shadow_pairs` gives them, for a past version that no longer scores: the model in use's
    matured predictions in [since, until), their logged inputs scored again by `past`."""
    matured = log.matured(in_use.digest, since, until)
    inputs = log.inputs(matured["id"].tolist(), past.schema.feature_names)
    risk = past.model.predict_proba(inputs)[:, 1] if len(inputs) else np.array([], dtype=float)
    return pd.DataFrame({"predicted_at": matured["predicted_at"], "risk": matured["risk"],
                         "model_version": in_use.version, "model_digest": in_use.digest, "shadow_risk": risk,
                         "shadow_version": past.version, "shadow_digest": past.digest,
                         "event": matured["event"].astype("boolean")})


def _period(start: pd.Timestamp | None, rows: pd.DataFrame) -> ShadowPeriod:
    event = rows["event"].astype(int).to_numpy()
    shown, shadow = rows["risk"].to_numpy(dtype=float), rows["shadow_risk"].to_numpy(dtype=float)
    return ShadowPeriod(start=None if start is None else start.date().isoformat(), patients=len(rows),
                        events=int(event.sum()), in_use=_figures(event, shown), shadow=_figures(event, shadow),
                        auroc_difference=_interval(paired_auroc_difference(event, shadow, shown)))


def _figures(event: np.ndarray, risk: np.ndarray) -> ModelFigures:
    return ModelFigures(expected_events=float(risk.sum()),
                        observed_expected=_interval(observed_expected(int(event.sum()), float(risk.sum()))),
                        auroc=_interval(auroc_interval(event, risk)))


def _interval(values: tuple[float | None, float | None, float | None]) -> Interval:
    value, low, high = values
    return Interval(value=value, low=low, high=high)

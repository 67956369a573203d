"""`recovery update`: a candidate model from the log's matured predictions of the model in use and their outcomes.

The matured predictions (those with an outcome linked) are split in time: the latest part, holding the last third of
the events, is held out; the closed testing procedure (`closed_testing`) chooses the update on the earlier part; the
candidate and the model in use are then compared on the held-out patients, paired. Nothing here changes which model
is in use: the candidate is a checkpoint in a folder of its own, with `update.json` saying what was done and how it
did.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recovery_model.errors import UpdateError
from recovery_model.log.store import PredictionLog
from recovery_model.monitoring.statistics import (
    auroc_interval,
    calibration_intercept_slope,
    observed_expected,
    paired_auroc_difference,
)
from recovery_model.parameters import COUNT, FRACTION, POSITIVE_COUNT, SEED, check
from recovery_model.scoring.checkpoint import UPDATE_JSON
from recovery_model.scoring.predictor import Predictor
from recovery_model.updating.closed_testing import ClosedTest, closed_test
from recovery_model.updating.thresholds import CONFIDENCE, guaranteed_high_threshold

RISK_CLIP = 1e-6
# Fewer events than this and neither the choice nor the check on held-out patients can be trusted: validation
# studies need about 100 events (Collins, Ogundimu & Altman, Stat Med 2016), and here a third of them are held out.
MIN_EVENTS = 100
# Refitting estimates far more than two numbers: at least this many development events per feature (Riley et al.,
# BMJ 2020, ask for more than the old ten per parameter when a model is developed with little shrinkage).
REFIT_EVENTS_PER_FEATURE = 20
HOLDOUT_EVENT_SHARE = 1 / 3
# An update learns from the latest matured patients: this many is ample for two recalibration numbers and for a
# refit (thousands of events at a few per cent), keeps older patients from a changed world out, and bounds the time.
MAX_PATIENTS = 50_000
BOOTSTRAP = 1000


@dataclass(frozen=True)
class UpdateSettings:
    since: datetime | None = None
    until: datetime | None = None
    min_events: int = MIN_EVENTS
    refit_events_per_feature: int = REFIT_EVENTS_PER_FEATURE
    holdout_event_share: float = HOLDOUT_EVENT_SHARE
    bootstrap: int = BOOTSTRAP
    max_patients: int = MAX_PATIENTS
    high_ppv: float | None = None  # choose the high tier's threshold for this PPV on the held-out outcomes
    ppv_confidence: float = CONFIDENCE
    seed: int = 0
    refit_config: str = "default"

    def __post_init__(self) -> None:
        check("min_events", self.min_events, POSITIVE_COUNT)
        check("refit_events_per_feature", self.refit_events_per_feature, COUNT)
        check("holdout_event_share", self.holdout_event_share, FRACTION)
        check("bootstrap", self.bootstrap, POSITIVE_COUNT)
        check("max_patients", self.max_patients, POSITIVE_COUNT)
        check("ppv_confidence", self.ppv_confidence, FRACTION)
        if self.high_ppv is not None:
            check("high_ppv", self.high_ppv, FRACTION)
        check("seed", self.seed, SEED)


@dataclass(frozen=True)
class Update:
    """What `update` found: the choice, the candidate (None when the model is kept) and `summary`, the content of
    `update.json`."""

    test: ClosedTest
    candidate: Predictor | None
    summary: dict[str, Any]


def update(log: PredictionLog, predictor: Predictor, settings: UpdateSettings = UpdateSettings()) -> Update:
    """Choose and build the update the log's outcomes support for `predictor` (the model in use)."""
    matured = log.matured(predictor.digest, settings.since, settings.until)
    available = len(matured)
    matured = matured.iloc[-settings.max_patients:].reset_index(drop=True)
    _enough(matured, log, predictor, settings)
    development, holdout = split_in_time(matured, settings.holdout_event_share)
    event = development["event"].to_numpy(dtype=int)
    lp = _logit(development["risk"])
    schema = predictor.schema
    refit_needs = settings.refit_events_per_feature * len(schema.features)
    refit = None
    if int(event.sum()) >= refit_needs:
        refit = _refit(log, predictor, development, settings)
    test = closed_test(event, lp, None if refit is None else _logit(refit.model.oof_risk_),
                       len(schema.features) + 1)
    version = f"{predictor.version}+{test.method}.{datetime.now(UTC):%Y%m%d}"
    facts = {"method": test.method, "version": version, "development": _span(development),
             "holdout": _span(holdout)}
    candidate = None
    if test.method in ("intercept", "logistic"):
        updated = _sigmoid(test.intercept + test.slope * lp)
        candidate = predictor.recalibrated(test.intercept, test.slope, updated, event, facts)
    elif test.method == "refit" and refit is not None:
        candidate = _as_update(refit, predictor, facts)
    champion_risk = holdout["risk"].to_numpy(dtype=float)
    candidate_risk = _candidate_risk(log, candidate, test, holdout)
    tiers = None
    if settings.high_ppv is not None:
        tiers = guaranteed_high_threshold(holdout["event"].to_numpy(dtype=int), candidate_risk, settings.high_ppv,
                                          settings.ppv_confidence)
        if candidate is not None and tiers.threshold is not None:
            candidate.thresholds = candidate.thresholds.with_guaranteed_high(tiers.threshold, tiers.target_ppv,
                                                                             tiers.confidence)
    summary = {
        "method": test.method, "level": test.level,
        "tests": [asdict(t) | {"rejects": t.rejects} for t in test.tests],
        "log_likelihoods": test.log_likelihoods,
        "recalibration": {"intercept": test.intercept, "slope": test.slope}
        if test.method in ("intercept", "logistic") else None,
        "refit": {"considered": refit is not None, "development_events_needed": refit_needs,
                  "why": f"{settings.refit_events_per_feature} development events per feature "
                         f"({len(schema.features)} features)"},
        "champion": {"version": predictor.version, "digest": predictor.digest},
        "candidate": None if candidate is None else {"version": version},
        "thresholds": None if tiers is None else asdict(tiers) | {
            "applied": candidate is not None and tiers.threshold is not None,
            "on": "the held-out patients, with the " + ("candidate's" if candidate is not None else "model in use's")
                  + " risks"},
        "matured": {"available": available, "used": len(matured), "limit": settings.max_patients},
        "development": facts["development"],
        "holdout": compare_on_holdout(holdout["event"].to_numpy(dtype=int), champion_risk, candidate_risk,
                                      settings.bootstrap, settings.seed),
        "since": None if settings.since is None else settings.since.isoformat(),
        "until": None if settings.until is None else settings.until.isoformat(),
    }
    return Update(test, candidate, summary)


def write_update(result: Update, folder: str | Path) -> Path:
    """The candidate checkpoint (when there is one) and `update.json` in `folder`; the JSON's path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    summary = dict(result.summary)
    if result.candidate is not None:
        result.candidate.save(folder)
        summary["candidate"] = {"version": result.candidate.version,
                                "digest": Predictor.load(folder).digest, "folder": str(folder.resolve())}
    path = folder / UPDATE_JSON
    path.write_text(json.dumps(summary, indent=2, default=_jsonable) + "\n", encoding="utf-8")
    return path


def split_in_time(matured: pd.DataFrame, holdout_event_share: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(development, holdout): the holdout is the latest rows, from the one holding the first of the last
    `holdout_event_share` of the events (rows are oldest first)."""
    events = matured["event"].to_numpy(dtype=int)
    keep = round(int(events.sum()) * (1 - holdout_event_share))
    first_held = int(np.flatnonzero(events)[keep]) if keep < events.sum() else len(events)
    return matured.iloc[:first_held].reset_index(drop=True), matured.iloc[first_held:].reset_index(drop=True)


def compare_on_holdout(event: np.ndarray, champion: np.ndarray, candidate: np.ndarray, bootstrap: int,
                       seed: int) -> dict[str, Any]:
    """Each model's figures on the same held-out patients, and the paired differences (candidate − champion): AUROC
    by DeLong's paired interval, O/E and calibration slope by a paired bootstrap over patients."""
    differences: dict[str, Any] = {"auroc": _interval(paired_auroc_difference(event, candidate, champion))}
    draws = _paired_bootstrap(event, champion, candidate, bootstrap, seed)
    for name in ("observed_expected", "calibration_slope"):
        value = _figures(event, candidate)[name] - _figures(event, champion)[name]
        low, high = np.nanpercentile(draws[name], [2.5, 97.5]) if np.isfinite(draws[name]).any() else (None, None)
        differences[name] = {"value": value, "low": low, "high": high}
    return {"champion": _model_figures(event, champion), "candidate": _model_figures(event, candidate),
            "difference": differences}


def _model_figures(event: np.ndarray, risk: np.ndarray) -> dict[str, Any]:
    ratio = observed_expected(int(event.sum()), float(risk.sum()))
    intercept, slope = calibration_intercept_slope(event, risk)
    return {"patients": len(event), "events": int(event.sum()), "expected_events": float(risk.sum()),
            "observed_expected": _interval(ratio), "auroc": _interval(auroc_interval(event, risk)),
            "calibration_slope": slope, "calibration_intercept": intercept}


def _figures(event: np.ndarray, risk: np.ndarray) -> dict[str, float]:
    _, slope = calibration_intercept_slope(event, risk)
    expected = float(risk.sum())
    return {"observed_expected": event.sum() / expected if expected > 0 else np.nan,
            "calibration_slope": np.nan if slope is None else slope}


def _paired_bootstrap(event: np.ndarray, champion: np.ndarray, candidate: np.ndarray, bootstrap: int,
                      seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {"observed_expected": np.full(bootstrap, np.nan), "calibration_slope": np.full(bootstrap, np.nan)}
    for i in range(bootstrap):
        rows = rng.integers(0, len(event), len(event))
        ours, theirs = _figures(event[rows], candidate[rows]), _figures(event[rows], champion[rows])
        for name in out:
            out[name][i] = ours[name] - theirs[name]
    return out


def _candidate_risk(log: PredictionLog, candidate: Predictor | None, test: ClosedTest,
                    holdout: pd.DataFrame) -> np.ndarray:
    """The candidate's risks for the held-out patients: the recalibration applied to the logged risks (exactly what
    the candidate scores), or the refit scoring their logged inputs; the model in use's own when it is kept."""
    if candidate is None or test.method != "refit":
        return _sigmoid(test.intercept + test.slope * _logit(holdout["risk"]))
    inputs = log.inputs(holdout["id"].tolist(), candidate.schema.feature_names)
    return candidate.model.predict_proba(inputs)[:, 1]


def _refit(log: PredictionLog, predictor: Predictor, development: pd.DataFrame,
           settings: UpdateSettings) -> Predictor:
    """Our recipe fitted on the development patients' logged inputs and outcomes."""
    schema = predictor.schema
    frame = log.inputs(development["id"].tolist(), schema.feature_names)
    target = schema.target
    frame[target.name] = np.where(development["event"], target.event_value, 1 - target.event_value)
    return Predictor.fit(frame, schema, settings.refit_config, seed=settings.seed)


def _as_update(refit: Predictor, predictor: Predictor, facts: dict[str, Any]) -> Predictor:
    """The refit, carrying the update's version and where it came from, as a recalibration does."""
    refit.metadata["model_version"] = facts["version"]
    refit.metadata["updates"] = [*predictor.metadata.get("updates", []), {
        **facts, "from_digest": predictor.digest, "from_version": predictor.version,
        "at": datetime.now(UTC).isoformat(timespec="seconds")}]
    return refit


def _enough(matured: pd.DataFrame, log: PredictionLog, predictor: Predictor, settings: UpdateSettings) -> None:
    events = int(matured["event"].sum())
    if events >= settings.min_events and events < len(matured):
        return
    span = _span_words(settings)
    if not len(matured):
        others = log.models_with_outcomes()
        elsewhere = ("" if not len(others) else " The outcomes in the log are linked to other models' predictions: "
                     + "; ".join(f"{r.model_version} ({str(r.model_digest)[:12]}): {r.with_outcome} with an outcome"
                                 for r in others.itertuples()) + ". Update the model that made them (--checkpoint).")
        raise UpdateError(f"No prediction of this model ({predictor.version}, {predictor.digest[:12]}) has an outcome "
                          f"linked to it{span}, so there is nothing to update from. Record outcomes with `recovery "
                          f"outcomes --input FILE`.{elsewhere} Nothing was written.")
    raise UpdateError(f"Only {events} event{'' if events == 1 else 's'} among the {len(matured)} predictions of this "
                      f"model with an outcome{span}; an update needs at least {settings.min_events} (about 100 events "
                      "to validate a model, and a third are held out to check the update). Wait for more outcomes, "
                      "or widen --since/--until. Nothing was written.")


def _span_words(settings: UpdateSettings) -> str:
    parts = ([f"from {settings.since:%Y-%m-%d}"] if settings.since else []) + (
        [f"until {settings.until:%Y-%m-%d}"] if settings.until else [])
    return f" ({' '.join(parts)})" if parts else ""


def _span(rows: pd.DataFrame) -> dict[str, Any]:
    times = rows["predicted_at"]
    return {"patients": len(rows), "events": int(rows["event"].sum()),
            "from": None if not len(rows) else times.iloc[0].isoformat(),
            "to": None if not len(rows) else times.iloc[-1].isoformat()}


def _interval(values: tuple[float | None, float | None, float | None]) -> dict[str, float | None]:
    value, low, high = values
    return {"value": value, "low": low, "high": high}


def _logit(risk: Any) -> np.ndarray:
    p = np.clip(np.asarray(risk, dtype=float), RISK_CLIP, 1 - RISK_CLIP)
    return np.asarray(np.log(p / (1 - p)), dtype=float)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=float)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON")

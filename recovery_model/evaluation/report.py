"""The evaluation report as typed data: written by `evaluate`, read by the model card, the pages and the CLI.

A checkpoint folder keeps it as `report.json`, small enough that a retrain's diff can be read, and
`report_arrays.npz`, which holds the per-row explanation matrices (most of the numbers, none of the
meaning). Nothing here imports torch, so the Home page can show a model's figures without loading it.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from recovery_model.errors import CheckpointError
from recovery_model.model.config import NetworkConfig
from recovery_model.scoring.thresholds import Thresholds

if TYPE_CHECKING:
    import pandas as pd

REPORT_FORMAT = 2
REPORT_JSON, REPORT_ARRAYS = "report.json", "report_arrays.npz"
ARRAY_FIELD = {"array": True}
MAJORITY = "Majority class (the seed's '96 %')"  # the baseline's name, as `baselines` fits it


@dataclass(frozen=True)
class Estimate:
    """A statistic with its 95 % bootstrap confidence interval."""

    value: float
    low: float
    high: float


@dataclass(frozen=True)
class Metrics:
    """Discrimination and calibration of a risk for a rare event (positive class = event)."""

    auroc: float
    auprc: float
    brier: float
    scaled_brier: float
    calibration_intercept: float
    calibration_slope: float
    mean_risk: float
    event_rate: float
    accuracy_at_0_5: float


@dataclass(frozen=True)
class MetricsWithCI:
    """Every metric's point estimate, and the low and high ends of its 95 % CI."""

    value: Metrics
    low: Metrics
    high: Metrics

    def estimate(self, name: str) -> Estimate:
        return Estimate(*(getattr(part, name) for part in (self.value, self.low, self.high)))


@dataclass(frozen=True)
class AtThreshold:
    """What a flagging rule does: sensitivity, specificity, PPV, NPV, number needed to evaluate, counts."""

    sensitivity: float
    specificity: float
    ppv: float
    npv: float
    nne: float
    flagged_share: float
    tp: float
    fp: float
    fn: float
    tn: float


@dataclass(frozen=True)
class CalibrationBin:
    predicted: float
    observed: float
    low: float
    high: float
    n: int


@dataclass(frozen=True)
class Curves:
    """ROC and precision-recall curves, thinned."""

    fpr: list[float]
    tpr: list[float]
    recall: list[float]
    precision: list[float]


@dataclass(frozen=True)
class DecisionCurve:
    thresholds: list[float]
    treat_all: list[float]
    treat_none: list[float]
    models: dict[str, list[float]]


@dataclass(frozen=True)
class Baseline:
    """One model of the comparison, scored on the same folds (and on the fresh sample when there is one)."""

    name: str
    internal: Metrics
    internal_at_top_k: AtThreshold
    fresh: Metrics | None = None
    fresh_at_top_k: AtThreshold | None = None


@dataclass(frozen=True)
class Verdict:
    """Does the network beat logistic regression, and does its MLP part add anything? In plain words."""

    text: str
    beats_logistic_regression: bool
    ours_auroc: float
    logistic_auroc: float
    difference: Estimate
    mlp_gain: Estimate | None = None
    mlp_earns_its_place: bool | None = None


@dataclass(frozen=True)
class SubgroupResult:
    group: str
    level: str
    patients: int
    events: int
    mean_risk: float
    event_rate: float
    auroc: Estimate | None = None


@dataclass(frozen=True)
class InternalValidation:
    """Out-of-fold validation on every training row."""

    method: str
    rows: int
    events: int
    metrics: MetricsWithCI
    at_high_threshold: AtThreshold
    at_moderate_threshold: AtThreshold
    top_k_share: float
    at_top_k: AtThreshold
    calibration_curve: list[CalibrationBin]
    curves: Curves
    decision_curve: DecisionCurve


@dataclass(frozen=True)
class PatternResult:
    """The fresh record-view patients who lack the same blocks of values: ours against the oracle given what is
    observed (the best any model could do with these records) and against the oracle given everything."""

    pattern: str
    rows: int
    share: float
    events: int
    auroc: float
    observed_oracle_auroc: float
    full_oracle_auroc: float
    calibration_slope: float
    calibration_intercept: float
    mean_risk: float
    event_rate: float


@dataclass(frozen=True)
class FreshValidation:
    """A fresh synthetic sample scored against the oracle (synthetic training data only). For a model trained on
    the record view the sample is shown as records show it, and `patterns` holds one row per missingness pattern."""

    rows: int
    seed: int
    events: int
    metrics: Metrics
    calibration_curve: list[CalibrationBin]
    decision_curve: DecisionCurve
    subgroups: list[SubgroupResult]
    record_view_seed: int | None = None
    patterns: list[PatternResult] = field(default_factory=list)
    complete_auroc: dict[str, float] = field(default_factory=dict)  # every model on the same patients, complete
    mlp_gain: Estimate | None = None  # ours − the same recipe without the MLP, DeLong's paired CI


@dataclass(frozen=True)
class Epoch:
    epoch: int
    train_loss: float | None
    val_loss: float
    val_auroc: float


@dataclass(frozen=True)
class Training:
    history: list[Epoch]
    best_epochs: list[int]
    stopped_epochs: list[int | None]  # None: a member that ran all its epochs
    calibration_slope: float
    calibration_intercept: float


@dataclass(frozen=True)
class TrainingData:
    fingerprint: str
    rows: int
    events: int


@dataclass(frozen=True)
class Provenance:
    package_version: str
    trained_at: str
    seed: int
    config_name: str
    training_data: TrainingData


@dataclass(frozen=True)
class Ensemble:
    members: int
    folds: int
    repeats: int
    linear_c: float | None
    missing_indicators: list[str]
    hinged_features: list[str]
    max_missing: int
    background_rows: int
    encoding: str = "hinges"  # chosen with C on the held-out folds: "hinges" or "ple" (piecewise-linear bins)
    knots: int = 0


@dataclass(frozen=True)
class GlobalExplanations:
    """Attributions (log-odds of the event) for a sample of training rows; the matrices live in the .npz."""

    space: str
    base_value: float
    importance: dict[str, float]
    features: list[str]
    values: np.ndarray = field(metadata=ARRAY_FIELD)
    attributions: np.ndarray = field(metadata=ARRAY_FIELD)


@dataclass(frozen=True)
class EvaluationReport:
    """Everything `recovery evaluate` found, for the model card, the Model and Home pages and the CLI."""

    provenance: Provenance
    architecture: NetworkConfig
    ensemble: Ensemble
    schema_name: str
    thresholds: Thresholds
    training: Training
    internal: InternalValidation
    baselines: list[Baseline]
    verdict: Verdict
    subgroups: list[SubgroupResult]
    explanations: GlobalExplanations
    fresh: FreshValidation | None = None
    format: int = REPORT_FORMAT

    @property
    def majority(self) -> Baseline:
        """The majority-class baseline: the seed notebook's '96 % accuracy' that finds no one."""
        return next(b for b in self.baselines if b.name == MAJORITY)

    def baseline_table(self) -> pd.DataFrame:
        """One row per model: the same table on the Model page and in the model card."""
        import pandas as pd  # tables are for the Model page and the card; Home reads the report without pandas

        top_k = f"sensitivity at top {100 * self.internal.top_k_share:.0f} %"
        rows = []
        for b in self.baselines:
            row = {"model": b.name, "AUROC": b.internal.auroc, "AUPRC": b.internal.auprc, "Brier": b.internal.brier,
                   "calibration slope": b.internal.calibration_slope, top_k: b.internal_at_top_k.sensitivity,
                   "accuracy (not a goal)": b.internal.accuracy_at_0_5}
            if b.fresh is not None:
                row |= {"fresh AUROC": b.fresh.auroc, "fresh AUPRC": b.fresh.auprc,
                        "fresh calibration slope": b.fresh.calibration_slope}
            rows.append(row)
        return pd.DataFrame(rows)

    def pattern_table(self) -> pd.DataFrame:
        """One row per missingness pattern of the fresh record-view sample (empty for a model trained on complete
        rows): ours against the oracle given what the records hold."""
        import pandas as pd

        patterns = self.fresh.patterns if self.fresh is not None else []
        return pd.DataFrame([{"record lacks": p.pattern, "share": p.share, "patients": p.rows, "events": p.events,
                              "AUROC": p.auroc, "oracle AUROC, given what is recorded": p.observed_oracle_auroc,
                              "oracle AUROC, given everything": p.full_oracle_auroc,
                              "calibration slope": p.calibration_slope,
                              "calibration intercept": p.calibration_intercept, "mean risk": p.mean_risk,
                              "event rate": p.event_rate} for p in patterns])

    def subgroup_table(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame([{"group": r.group, "level": r.level, "patients": r.patients, "events": r.events,
                              "mean risk": r.mean_risk, "event rate": r.event_rate,
                              "AUROC": r.auroc.value if r.auroc else np.nan,
                              "AUROC 95 % CI low": r.auroc.low if r.auroc else np.nan,
                              "AUROC 95 % CI high": r.auroc.high if r.auroc else np.nan} for r in self.subgroups])

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        arrays: dict[str, np.ndarray] = {}
        content = _to_jsonable(self, "", arrays)
        (folder / REPORT_JSON).write_text(json.dumps(content, indent=1, allow_nan=True) + "\n", encoding="utf-8")
        np.savez_compressed(folder / REPORT_ARRAYS, **cast(dict[str, Any], arrays))

    @classmethod
    def load(cls, folder: str | Path) -> EvaluationReport | None:
        """The report beside a checkpoint; None if there is none; a `CheckpointError` if it cannot be read."""
        folder = Path(folder)
        if not (folder / REPORT_JSON).is_file():
            return None
        hint = "Rewrite it with `recovery evaluate`."
        try:
            content = json.loads((folder / REPORT_JSON).read_text(encoding="utf-8"))
            if not isinstance(content, dict) or content.get("format") != REPORT_FORMAT:
                raise CheckpointError(f"{folder / REPORT_JSON} was written by another version of recovery "
                                      f"(report format {content.get('format') if isinstance(content, dict) else '?'}, "
                                      f"this version reads {REPORT_FORMAT}). {hint}")
            with np.load(folder / REPORT_ARRAYS, allow_pickle=False) as stored:
                arrays = {name: stored[name] for name in stored.files}
            return _from_jsonable(cls, content, "", arrays)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"The evaluation report in {folder} cannot be read ({type(exc).__name__}: "
                                  f"{exc}). {hint}") from None


def _to_jsonable(value: Any, path: str, arrays: dict[str, np.ndarray]) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            item, where = getattr(value, f.name), f"{path}{f.name}"
            if f.metadata.get("array"):
                arrays[where] = np.asarray(item)
                out[f.name] = {"stored_in": REPORT_ARRAYS, "name": where}
            else:
                out[f.name] = _to_jsonable(item, f"{where}.", arrays)
        return out
    if isinstance(value, list | tuple):
        return [_to_jsonable(v, path, arrays) for v in value]
    if isinstance(value, dict):
        return {k: _to_jsonable(v, path, arrays) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _from_jsonable(kind: Any, data: Any, path: str, arrays: dict[str, np.ndarray]) -> Any:
    """Rebuild a typed value from its JSON form, guided by the type hints (dataclasses, lists, dicts, unions)."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if dataclasses.is_dataclass(kind):
        hints = typing.get_type_hints(kind)
        values = {}
        for f in dataclasses.fields(kind):
            if f.name not in data:
                continue
            where = f"{path}{f.name}"
            values[f.name] = arrays[where] if f.metadata.get("array") else \
                _from_jsonable(hints[f.name], data[f.name], f"{where}.", arrays)
        return cast(Callable[..., Any], kind)(**values)
    if origin in (types.UnionType, typing.Union):
        if data is None:
            return None
        return _from_jsonable(next(a for a in args if a is not type(None)), data, path, arrays)
    if origin is list:
        return [_from_jsonable(args[0], v, path, arrays) for v in data]
    if origin is tuple:
        return tuple(_from_jsonable(args[0], v, path, arrays) for v in data)
    if origin is dict:
        return {k: _from_jsonable(args[1], v, path, arrays) for k, v in data.items()}
    if kind is float:
        return float("nan") if data is None else float(data)
    if kind is int and not isinstance(data, int):
        raise TypeError(f"{path.rstrip('.')} should be a whole number, not {data!r}")
    return data

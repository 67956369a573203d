"""The evaluation report: rare-outcome metrics with bootstrap CIs, calibration, decision curve,
baselines side by side, subgroups and global explanations. Accuracy is reported only to show
what the seed's "96 %" was worth.

Internal validation (TRIPOD+AI) uses the cross-fitted out-of-fold predictions: every training row
scored by the members that never saw it. Every baseline is fitted and scored on the same folds. For
the synthetic cohort, a fresh sample scored against the true risk is the external check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, cast

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_curve, roc_auc_score, roc_curve

from recovery_model.cohort import generate_cohort, true_risk
from recovery_model.evaluation.baselines import LOGISTIC, ORACLE, RiskFunction, fit_baselines
from recovery_model.evaluation.report import (
    AtThreshold,
    Baseline,
    CalibrationBin,
    Curves,
    DecisionCurve,
    Ensemble,
    Epoch,
    Estimate,
    EvaluationReport,
    FreshValidation,
    GlobalExplanations,
    InternalValidation,
    Metrics,
    MetricsWithCI,
    PatternResult,
    Provenance,
    SubgroupResult,
    Training,
    TrainingData,
    Verdict,
)
from recovery_model.model.config import NetworkConfig, without_mlp
from recovery_model.model.risk_model import RiskModel
from recovery_model.monitoring.statistics import (
    average_precision,
    calibration_intercept_slope,
    midrank_auroc,
    paired_auroc_difference,
)
from recovery_model.record_view import FRESH_RECORD_SEED, missing_pattern, record_view
from recovery_model.schema import Schema
from recovery_model.scoring.predictor import Predictor
from recovery_model.scoring.thresholds import Thresholds

OURS = "Our network (cross-fitted ensemble, calibrated)"
SEED_MLP = "Seed architecture MLP (128-64-32-16-8)"
LINEAR_ONLY = "Our recipe without the MLP (linear path only)"
FRESH_ROWS, FRESH_SEED = 200_000, 2024
TOP_K_SHARE = 0.10
NET_BENEFIT_THRESHOLDS = np.round(np.arange(0.01, 0.401, 0.01), 2)
EPS = 1e-12


@dataclass(frozen=True)
class EvaluationSettings:
    n_bootstrap: int = 1000
    fresh_rows: int = FRESH_ROWS
    explain_rows: int = 300
    seed: int = 0
    seed_config: str | NetworkConfig = "seed"
    record_view: bool = False  # the model was trained on the record view: the fresh sample is shown as records show it
    peer: bool = True  # InterpretML's EBM beside the baselines, where it is installed (`ebm_installed`)


def metrics(event: np.ndarray, risk: np.ndarray) -> dict[str, float]:
    """Discrimination and calibration of a risk for a rare event (positive class = event)."""
    event, risk = np.asarray(event), np.clip(np.asarray(risk, dtype=float), EPS, 1 - EPS)
    brier = float(np.mean((risk - event) ** 2))
    reference = float(np.mean((event.mean() - event) ** 2))
    intercept, slope = (float("nan") if value is None else value for value in calibration_intercept_slope(event, risk))
    has_both = 0 < event.sum() < len(event)
    return {
        "auroc": _fast_auroc(event, risk),
        "auprc": _nan_if_none(average_precision(event, risk) if has_both else None),
        "brier": brier,
        "scaled_brier": 1 - brier / reference if reference > 0 else float("nan"),
        "calibration_intercept": intercept,
        "calibration_slope": slope,
        "mean_risk": float(risk.mean()),
        "event_rate": float(event.mean()),
        "accuracy_at_0_5": float(np.mean((risk >= 0.5) == event)),
    }


def bootstrap(event: np.ndarray, risk: np.ndarray, statistic: Callable[[np.ndarray, np.ndarray], dict],
              n: int, seed: int) -> dict[str, dict[str, float]]:
    """Point estimate and percentile 95 % CI of each statistic, resampling rows with replacement."""
    rng = np.random.default_rng(seed)
    point = statistic(event, risk)
    draws: dict[str, list[float]] = {k: [] for k in point}
    for _ in range(n):
        idx = rng.integers(0, len(event), len(event))
        if 0 < event[idx].sum() < len(idx):
            for k, v in statistic(event[idx], risk[idx]).items():
                draws[k].append(v)
    return {k: {"value": v, "low": _percentile(draws[k], 2.5), "high": _percentile(draws[k], 97.5)}
            for k, v in point.items()}


def metrics_with_ci(event: np.ndarray, risk: np.ndarray, n_bootstrap: int, seed: int) -> MetricsWithCI:
    draws = bootstrap(event, risk, metrics, n_bootstrap, seed)
    return MetricsWithCI(*(Metrics(**{name: d[part] for name, d in draws.items()})
                           for part in ("value", "low", "high")))


def _percentile(values: list[float], q: float) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.percentile(finite, q)) if finite else float("nan")


def at_threshold(event: np.ndarray, flagged: np.ndarray) -> AtThreshold:
    """Sensitivity, specificity, PPV, NPV and number needed to evaluate for a set of flags."""
    tp = float(np.sum(flagged & (event == 1)))
    fp = float(np.sum(flagged & (event == 0)))
    fn = float(np.sum(~flagged & (event == 1)))
    tn = float(np.sum(~flagged & (event == 0)))
    ppv = tp / (tp + fp) if tp + fp else float("nan")
    return AtThreshold(sensitivity=tp / (tp + fn) if tp + fn else float("nan"),
                       specificity=tn / (tn + fp) if tn + fp else float("nan"),
                       ppv=ppv, npv=tn / (tn + fn) if tn + fn else float("nan"),
                       nne=1 / ppv if ppv and np.isfinite(ppv) else float("nan"),
                       flagged_share=float(np.mean(flagged)), tp=tp, fp=fp, fn=fn, tn=tn)


def top_k_flags(risk: np.ndarray, share: float) -> np.ndarray:
    k = max(1, round(share * len(risk)))
    flags = np.zeros(len(risk), dtype=bool)
    flags[np.argsort(-risk, kind="stable")[:k]] = True
    return flags


def net_benefit(event: np.ndarray, risk: np.ndarray, thresholds: np.ndarray = NET_BENEFIT_THRESHOLDS) -> list:
    """Decision curve: net benefit of treating those at or above each threshold probability."""
    n = len(event)
    rows = []
    for t in thresholds:
        flagged = risk >= t
        tp, fp = np.sum(flagged & (event == 1)), np.sum(flagged & (event == 0))
        rows.append(float(tp / n - fp / n * t / (1 - t)))
    return rows


def calibration_curve(event: np.ndarray, risk: np.ndarray, bins: int = 10) -> list[CalibrationBin]:
    """Observed vs predicted risk in quantile bins, with a Wilson 95 % interval for the observed."""
    order = np.argsort(risk, kind="stable")
    rows = []
    for chunk in np.array_split(order, bins):
        n, observed = len(chunk), float(event[chunk].mean())
        low, high = _wilson(observed, n)
        rows.append(CalibrationBin(predicted=float(risk[chunk].mean()), observed=observed, low=low, high=high, n=n))
    return rows


def _wilson(p: float, n: int, z: float = 1.96) -> tuple[float, float]:
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def curves(event: np.ndarray, risk: np.ndarray, points: int = 150) -> Curves:
    """ROC and precision-recall curves, thinned to about `points` points each."""
    fpr, tpr, _ = roc_curve(event, risk)
    precision, recall, _ = precision_recall_curve(event, risk)
    roc_idx = np.unique(np.linspace(0, len(fpr) - 1, min(points, len(fpr))).astype(int))
    pr_idx = np.unique(np.linspace(0, len(recall) - 1, min(points, len(recall))).astype(int))
    return Curves(fpr=fpr[roc_idx].tolist(), tpr=tpr[roc_idx].tolist(),
                  recall=recall[pr_idx].tolist(), precision=precision[pr_idx].tolist())


def subgroups(frame: pd.DataFrame, event: np.ndarray, risk: np.ndarray, schema: Schema,
              n_bootstrap: int, seed: int) -> list[SubgroupResult]:
    """AUROC and calibration in each subgroup the schema defines (e.g. age bands, smoking)."""
    rows = []
    for subgroup in schema.subgroups:
        feature = schema.feature(subgroup.feature)
        for level, mask in subgroup.masks(feature, frame[feature.name].to_numpy(float)):
            e, r = event[mask], risk[mask]
            auroc = None
            if 0 < e.sum() < len(e):
                auroc = Estimate(**bootstrap(e, r, _auroc, n_bootstrap, seed)["auroc"])
            rows.append(SubgroupResult(
                group=feature.label, level=level, patients=int(mask.sum()), events=int(e.sum()),
                mean_risk=float(r.mean()) if len(r) else float("nan"),
                event_rate=float(e.mean()) if len(e) else float("nan"), auroc=auroc))
    return rows


def _auroc(event: np.ndarray, risk: np.ndarray) -> dict[str, float]:
    return {"auroc": _fast_auroc(event, risk)}


def _fast_auroc(event: np.ndarray, risk: np.ndarray) -> float:
    """The AUROC by midranks (what roc_auc_score computes, without its input checks: bootstraps call it thousands
    of times); NaN with one class only."""
    return _nan_if_none(midrank_auroc(event, risk))


def _nan_if_none(value: float | None) -> float:
    return float("nan") if value is None else value


def global_explanations(predictor: Predictor, frame: pd.DataFrame, rows: int, seed: int) -> GlobalExplanations:
    """Attributions for a sample of training rows: mean |SHAP| and the matrix for beeswarm/dependence."""
    sample = frame.sample(min(rows, len(frame)), random_state=seed)
    explanation = predictor.assess(sample[predictor.schema.feature_names]).explained
    return GlobalExplanations(space=f"log-odds ({predictor.schema.target.risk_of})",
                              base_value=explanation.base_value, importance=explanation.importance(),
                              features=list(explanation.values.columns),
                              values=explanation.values.to_numpy(dtype=np.float32),
                              attributions=explanation.attributions.to_numpy(dtype=np.float32))


def internal_method(model: RiskModel) -> str:
    config = model.config_
    repeats = f", repeated {config.repeats} times" if config.repeats > 1 else ""
    return (f"Cross-fitting: {config.folds} stratified folds{repeats}; each row scored by the "
            f"member{'s' if config.repeats > 1 else ''} that did not train on it (out-of-fold), "
            "calibration fitted on those scores.")


def evaluate(predictor: Predictor, frame: pd.DataFrame, include_oracle: bool,
             settings: EvaluationSettings = EvaluationSettings()) -> EvaluationReport:
    """The full report on the rows the predictor was trained on (see `report` and `model_card`)."""
    schema, model = predictor.schema, predictor.model
    seed, model_seed = settings.seed, predictor.metadata.get("seed", settings.seed)
    event = schema.event_from_target(frame[schema.target.name])
    if len(event) != len(model.oof_event_) or not np.array_equal(event, model.oof_event_):
        raise ValueError("Evaluate a predictor on the very rows it was trained on.")
    risk = model.oof_risk_
    references = {SEED_MLP: RiskModel(schema.feature_names, settings.seed_config, seed=model_seed).fit(frame, event)}
    if model.config_.linear_path and model.config_.hidden:
        references[LINEAR_ONLY] = RiskModel(schema.feature_names, without_mlp(model.config_),
                                            seed=model_seed).fit(frame, event)
    out_of_fold = {OURS: risk} | {name: m.oof_risk_ for name, m in references.items()} | _baselines_out_of_fold(
        frame, model.folds_, schema, model_seed, include_oracle, settings.peer)
    fresh: FreshValidation | None = None
    fresh_risks: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if include_oracle and settings.fresh_rows:
        fresh, fresh_risks = _fresh_validation(predictor, frame, references, settings)
    return EvaluationReport(
        provenance=_provenance(predictor.metadata),
        architecture=model.config_,
        ensemble=Ensemble(members=model.members, folds=model.config_.folds, repeats=model.config_.repeats,
                          linear_c=model.linear_c_,
                          missing_indicators=[schema.feature_names[j] for j in model.transform_.indicators],
                          hinged_features=[schema.feature_names[j] for j in model.transform_.curved],
                          max_missing=model.max_missing_, background_rows=len(predictor.background),
                          encoding=model.transform_.encoding, knots=model.transform_.knots.shape[2]),
        schema_name=schema.name,
        thresholds=predictor.thresholds,
        training=Training(history=[Epoch(**cast(dict[str, Any], h)) for h in model.history_],
                          best_epochs=list(model.best_epochs_),
                          stopped_epochs=list(model.stopped_epochs_), calibration_slope=model.calibration_[0],
                          calibration_intercept=model.calibration_[1]),
        internal=_internal_validation(model, predictor.thresholds, event, risk, settings),
        baselines=_compare(out_of_fold, event, fresh_risks),
        verdict=verdict(event, risk, out_of_fold[LOGISTIC], out_of_fold.get(LINEAR_ONLY),
                        fresh.mlp_gain if fresh else None),
        subgroups=subgroups(frame, event, risk, schema, min(settings.n_bootstrap, 300), seed),
        explanations=global_explanations(predictor, frame, settings.explain_rows, seed),
        fresh=fresh)


def _provenance(metadata: dict) -> Provenance:
    data = metadata.get("training_data", {})
    return Provenance(package_version=str(metadata.get("package_version", "?")),
                      trained_at=str(metadata.get("trained_at", "?")), seed=int(metadata.get("seed", 0)),
                      config_name=str(metadata.get("config_name", "?")),
                      training_data=TrainingData(fingerprint=str(data.get("fingerprint", "")),
                                                 rows=int(data.get("rows", 0)), events=int(data.get("events", 0))))


def _internal_validation(model: RiskModel, thresholds: Thresholds, event: np.ndarray, risk: np.ndarray,
                         settings: EvaluationSettings) -> InternalValidation:
    return InternalValidation(
        method=internal_method(model), rows=len(event), events=int(event.sum()),
        metrics=metrics_with_ci(event, risk, settings.n_bootstrap, settings.seed),
        at_high_threshold=at_threshold(event, risk >= thresholds.high),
        at_moderate_threshold=at_threshold(event, risk >= thresholds.moderate),
        top_k_share=TOP_K_SHARE, at_top_k=at_threshold(event, top_k_flags(risk, TOP_K_SHARE)),
        calibration_curve=calibration_curve(event, risk), curves=curves(event, risk),
        decision_curve=decision_curve(event, {OURS: risk}))


def _fresh_validation(predictor: Predictor, frame: pd.DataFrame, references: dict[str, RiskModel],
                      settings: EvaluationSettings) -> tuple[FreshValidation, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Every model refitted on all training rows and scored on a fresh sample whose true risk is known."""
    schema = predictor.schema
    complete = generate_cohort(settings.fresh_rows, FRESH_SEED, schema)
    fresh = record_view(complete, FRESH_RECORD_SEED, schema) if settings.record_view else complete
    event = schema.event_from_target(fresh[schema.target.name])
    fitted: dict[str, RiskFunction] = {name: _risk_function(m)
                                       for name, m in {OURS: predictor.model, **references}.items()}
    fitted |= fit_baselines(frame, schema, predictor.metadata.get("seed", settings.seed), include_oracle=True,
                            peer=settings.peer)
    risks = {name: np.asarray(risk_of(fresh), dtype=float) for name, risk_of in fitted.items()}
    return FreshValidation(rows=len(fresh), seed=FRESH_SEED, events=int(event.sum()),
                           metrics=Metrics(**metrics(event, risks[OURS])),
                           calibration_curve=calibration_curve(event, risks[OURS], 20),
                           decision_curve=decision_curve(event, risks),
                           subgroups=subgroups(fresh, event, risks[OURS], schema, 0, settings.seed),
                           record_view_seed=FRESH_RECORD_SEED if settings.record_view else None,
                           patterns=pattern_results(fresh, event, risks[OURS], risks[ORACLE], true_risk(complete))
                           if settings.record_view else [],
                           complete_auroc={name: float(roc_auc_score(event, risk_of(complete)))
                                           for name, risk_of in fitted.items()} if settings.record_view else {},
                           mlp_gain=_paired_difference(event, risks[OURS], risks[LINEAR_ONLY])
                           if LINEAR_ONLY in risks else None), \
        {name: (event, r) for name, r in risks.items()}


def pattern_results(record: pd.DataFrame, event: np.ndarray, ours: np.ndarray, observed_oracle: np.ndarray,
                    full_oracle: np.ndarray, min_events: int = 20) -> list[PatternResult]:
    """One row per missingness pattern with enough events to measure, the most common first."""
    pattern = missing_pattern(record).to_numpy()
    results = []
    for name in pd.Series(pattern).value_counts().index:
        rows = pattern == name
        if event[rows].sum() < min_events or event[rows].all():
            continue
        m = metrics(event[rows], ours[rows])
        results.append(PatternResult(
            pattern=str(name), rows=int(rows.sum()), share=float(rows.mean()), events=int(event[rows].sum()),
            auroc=m["auroc"], observed_oracle_auroc=float(roc_auc_score(event[rows], observed_oracle[rows])),
            full_oracle_auroc=float(roc_auc_score(event[rows], full_oracle[rows])),
            calibration_slope=m["calibration_slope"], calibration_intercept=m["calibration_intercept"],
            mean_risk=m["mean_risk"], event_rate=m["event_rate"]))
    return results


def _baselines_out_of_fold(frame: pd.DataFrame, folds: np.ndarray, schema: Schema, seed: int,
                           include_oracle: bool, peer: bool) -> dict[str, np.ndarray]:
    """Every simple baseline fitted on K-1 folds and scored on the remaining one: the network's own folds."""
    risks: dict[str, np.ndarray] = {}
    for fold in np.unique(folds):
        held_out = folds == fold
        fitted = fit_baselines(frame[~held_out], schema, seed, include_oracle, peer)
        for name, risk_of in fitted.items():
            risks.setdefault(name, np.full(len(frame), np.nan))[held_out] = risk_of(frame[held_out])
    return risks


def verdict(event: np.ndarray, ours: np.ndarray, logistic: np.ndarray, linear_only: np.ndarray | None,
            fresh_gain: Estimate | None = None) -> Verdict:
    """Does our model beat logistic regression on these patients, and does its MLP part add anything over the
    same recipe without it? AUROC differences with DeLong's paired CIs, and the answer in plain words: which part
    does the beating (the recipe, the MLP) is said, never left to a figure that rounds to nothing."""
    ours_auroc, logistic_auroc = float(roc_auc_score(event, ours)), float(roc_auc_score(event, logistic))
    ci = _paired_difference(event, ours, logistic)
    beats = ci.value > 0
    figures = (f"AUROC {ours_auroc:.3f} against logistic regression's {logistic_auroc:.3f} "
               f"(difference {_signed(ci.value)}, 95 % CI {_signed(ci.low)} to {_signed(ci.high)}, same folds)")
    text = (f"On these patients our model beats logistic regression: {figures}." if beats else
            f"On these patients our model does not beat logistic regression: {figures}. "
            "A logistic regression would serve as well; the model's explanations and tiers still apply.")
    gain, earned = None, None
    if linear_only is not None:
        gain = _paired_difference(event, ours, linear_only)
        earned = gain.low > 0
        text += " " + _mlp_sentence(gain, earned, beats)
    if fresh_gain is not None:
        text += f" On the fresh sample, whose true risk is known, the MLP part {_change(fresh_gain)}."
    return Verdict(text=text, beats_logistic_regression=bool(beats), ours_auroc=ours_auroc,
                   logistic_auroc=logistic_auroc, difference=ci, mlp_gain=gain,
                   mlp_earns_its_place=None if earned is None else bool(earned))


def _mlp_sentence(gain: Estimate, earned: bool, beats: bool) -> str:
    if earned:
        return (f"Its MLP part {_change(gain)} over the same recipe without it: the non-linear part has earned "
                "its place.")
    source = (" What beats logistic regression is the recipe (its inputs, its handling of missing values and the "
              "regularisation chosen on held-out folds), not the MLP." if beats else "")
    return f"Its MLP part {_change(gain)} over the same recipe without it: no measurable gain.{source}"


def _change(gain: Estimate) -> str:
    """'adds 0.012 AUROC (difference +0.012, 95 % CI …)'; a change that rounds to nothing at three decimals is said
    as 'less than 0.001' with four-decimal figures, and one whose every figure is below 0.0001 as 'less than 0.0001'
    alone (never 'adds 0.000' or '+0.000 (+0.000 to +0.001)')."""
    largest = max(abs(gain.value), abs(gain.low), abs(gain.high))
    if largest < 0.00005:
        return "changes AUROC by less than 0.0001, the whole 95 % CI included"
    if max(abs(gain.low), abs(gain.high)) < 0.0005:
        return (f"changes AUROC by less than 0.001 ({_signed(gain.value, 4)}, 95 % CI {_signed(gain.low, 4)} to "
                f"{_signed(gain.high, 4)})")
    if abs(gain.value) < 0.0005:  # rounds to nothing at three decimals, but the CI does not: four decimals
        return (f"changes AUROC by {_signed(gain.value, 4)} (95 % CI {_signed(gain.low, 4)} to "
                f"{_signed(gain.high, 4)})")
    verb = "adds" if gain.value >= 0 else "costs"
    return (f"{verb} {abs(gain.value):.3f} AUROC (difference {_signed(gain.value)}, 95 % CI {_signed(gain.low)} to "
            f"{_signed(gain.high)})")


def _signed(value: float, digits: int = 3) -> str:
    """+0.012, -0.004, and 0.000 without a sign for what rounds to nothing: '+0.000' would hide a bound a hair
    below zero, '-0.000' one a hair above it."""
    rounded = round(value, digits)
    return f"{0.0:.{digits}f}" if rounded == 0 else f"{rounded:+.{digits}f}"


def _paired_difference(event: np.ndarray, a: np.ndarray, b: np.ndarray) -> Estimate:
    """AUROC(a) − AUROC(b) on the same patients, with DeLong's paired 95 % CI."""
    value, low, high = paired_auroc_difference(event, a, b)
    if value is None or low is None or high is None:
        raise ValueError("a paired AUROC difference needs at least two events and two non-events")
    return Estimate(value, low, high)


def _risk_function(model: RiskModel) -> RiskFunction:
    return lambda x: model.predict_proba(x)[:, 1]


def _compare(out_of_fold: dict[str, np.ndarray], event: np.ndarray,
             fresh: dict[str, tuple[np.ndarray, np.ndarray]]) -> list[Baseline]:
    """Each model's metrics on the same folds, and on the fresh sample when there is one."""
    rows = []
    for name, risk in out_of_fold.items():
        row = Baseline(name, Metrics(**metrics(event, risk)), at_threshold(event, top_k_flags(risk, TOP_K_SHARE)))
        if name in fresh:
            fresh_event, fresh_risk = fresh[name]
            row = replace(row, fresh=Metrics(**metrics(fresh_event, fresh_risk)),
                          fresh_at_top_k=at_threshold(fresh_event, top_k_flags(fresh_risk, TOP_K_SHARE)))
        rows.append(row)
    return rows


def decision_curve(event: np.ndarray, risks: dict[str, np.ndarray]) -> DecisionCurve:
    prevalence = float(event.mean())
    treat_all = [float(prevalence - (1 - prevalence) * t / (1 - t)) for t in NET_BENEFIT_THRESHOLDS]
    return DecisionCurve(thresholds=NET_BENEFIT_THRESHOLDS.tolist(), treat_all=treat_all,
                         treat_none=[0.0] * len(NET_BENEFIT_THRESHOLDS),
                         models={name: net_benefit(event, np.asarray(r)) for name, r in risks.items()})


__all__ = ["ORACLE", "OURS", "EvaluationSettings", "evaluate", "metrics", "verdict"]

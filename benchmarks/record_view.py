"""Incomplete records: `python -m benchmarks.record_view`.

The default recipe trained twice with the same seed, on `data/patients.csv` (complete rows, the earlier default)
and on `data/patients_record.csv` (the same patients as records show them), then scored on:
- a fresh complete 200,000-patient sample (target: the record-trained model within 0.002 AUROC of the other);
- the same sample as records show it, against the oracle given what each record holds (target: within 0.01),
  with the calibration slope in each missingness pattern that holds at least 5 % of patients (target 0.9–1.1);
- how often the 10th–90th percentile spread over the missing inputs holds the risk the patient's own values give.
Logistic regression (median-imputed, with missing indicators) and gradient boosting on the same rows beside them.
Writes benchmarks/results/record_view.json and .md.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from recovery_model.cohort import generate_cohort, true_risk
from recovery_model.evaluation.baselines import LOGISTIC, fit_baselines
from recovery_model.evaluation.evaluate import metrics, pattern_results
from recovery_model.readers.training import load_training_data
from recovery_model.record_view import FRESH_RECORD_SEED, missing_pattern, observed_risk, record_view
from recovery_model.schema import load_schema
from recovery_model.scoring.columns import MISSING_RISK_HIGH, MISSING_RISK_LOW
from recovery_model.scoring.predictor import Predictor

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
FRESH_ROWS, FRESH_SEED, SEED = 200_000, 2024, 42
BOOSTING = "Gradient boosting (HistGradientBoosting)"


def main() -> None:
    schema = load_schema()
    trained = {}
    for name, file in (("complete rows", "patients.csv"), ("record view", "patients_record.csv")):
        frame = load_training_data(ROOT / "data" / file, schema)
        started = time.perf_counter()
        predictor = Predictor.fit(frame, schema, "default", seed=SEED)
        trained[name] = (predictor, fit_baselines(frame, schema, SEED, include_oracle=False),
                         time.perf_counter() - started)
    complete = generate_cohort(FRESH_ROWS, FRESH_SEED, schema)
    record = record_view(complete, FRESH_RECORD_SEED, schema)
    event = schema.event_from_target(complete[schema.target.name])
    features = record[schema.feature_names]
    oracle_given_recorded = observed_risk(features, draws=256)
    results = {"fresh_rows": FRESH_ROWS, "oracle_complete": roc_auc_score(event, true_risk(complete)),
               "oracle_given_recorded": roc_auc_score(event, oracle_given_recorded), "models": {}}
    for name, (predictor, baselines, seconds) in trained.items():
        on_complete = predictor.model.predict_proba(complete[schema.feature_names])[:, 1]
        on_record = predictor.model.predict_proba(features)[:, 1]
        row = {"training_seconds": seconds, "ours_complete": _scores(event, on_complete),
               "ours_record": _scores(event, on_record)}
        for baseline in (LOGISTIC, BOOSTING):
            row[f"{baseline} complete"] = _scores(event, baselines[baseline](complete))
            row[f"{baseline} record"] = _scores(event, baselines[baseline](record))
        results["models"][name] = row
    predictor = trained["record view"][0]
    results["patterns"] = [asdict(p) for p in pattern_results(
        features, event, predictor.model.predict_proba(features)[:, 1], oracle_given_recorded, true_risk(complete))]
    results["other_samples"] = _other_samples(predictor, schema)
    results["spread_coverage"] = _coverage(predictor, complete, features, schema)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "record_view.json").write_text(json.dumps(results, indent=1))
    (RESULTS / "record_view.md").write_text(_markdown(results))
    print(_markdown(results))


def _scores(event: np.ndarray, risk: np.ndarray) -> dict[str, float]:
    return {k: v for k, v in metrics(event, risk).items() if k in ("auroc", "calibration_slope",
                                                                    "calibration_intercept")}


def _other_samples(predictor: Predictor, schema, seeds: tuple[int, ...] = (2031, 2032)) -> list[dict]:
    """The same model on two more fresh record samples: how much the per-pattern calibration moves by chance."""
    out = []
    for seed in seeds:
        complete = generate_cohort(FRESH_ROWS, seed, schema)
        features = record_view(complete, seed + 1, schema)[schema.feature_names]
        event = schema.event_from_target(complete[schema.target.name])
        risk = predictor.model.predict_proba(features)[:, 1]
        pattern = missing_pattern(features).to_numpy()
        out.append({"seed": seed, "auroc": float(roc_auc_score(event, risk)),
                    "patterns": {str(p): _scores(event[pattern == p], risk[pattern == p])
                                 for p in pd.Series(pattern).value_counts().index if (pattern == p).mean() >= 0.05}})
    return out


def _coverage(predictor: Predictor, complete: pd.DataFrame, features: pd.DataFrame, schema) -> dict[str, float]:
    """On 20,000 incomplete records: how often the spread holds the risk of the patient's own values, its width."""
    incomplete = features.index[features.isna().any(axis=1)][:20_000]
    started = time.perf_counter()
    rows = predictor.assess(features.loc[incomplete], explain=False).rows
    seconds = time.perf_counter() - started
    own = predictor.model.predict_proba(complete.loc[incomplete, schema.feature_names])[:, 1]
    low, high = rows[MISSING_RISK_LOW].to_numpy(), rows[MISSING_RISK_HIGH].to_numpy()
    return {"records": len(incomplete), "inside": float(((low <= own) & (own <= high)).mean()),
            "median_width": float(np.median(high - low)), "assess_seconds": seconds}


def _markdown(results: dict) -> str:
    lines = [f"# Incomplete records (fresh {results['fresh_rows']:,}-patient sample)", "",
             f"Oracle AUROC: {results['oracle_complete']:.4f} given everything, "
             f"{results['oracle_given_recorded']:.4f} given what the records hold.", "",
             "| trained on | training s | ours, complete | ours, records | LR, complete | LR, records | GBM, complete "
             "| GBM, records |", "|---|---|---|---|---|---|---|---|"]
    for name, row in results["models"].items():
        cells = [row[k]["auroc"] for k in ("ours_complete", "ours_record", f"{LOGISTIC} complete",
                                            f"{LOGISTIC} record", f"{BOOSTING} complete", f"{BOOSTING} record")]
        lines.append(f"| {name} | {row['training_seconds']:.1f} | " + " | ".join(f"{c:.4f}" for c in cells) + " |")
    lines += ["", "| record lacks | share | events | AUROC | oracle AUROC given recorded | slope | intercept | "
              "mean risk | event rate |", "|---|---|---|---|---|---|---|---|---|"]
    for p in results["patterns"]:
        lines.append(f"| {p['pattern']} | {p['share']:.1%} | {p['events']} | {p['auroc']:.4f} | "
                     f"{p['observed_oracle_auroc']:.4f} | {p['calibration_slope']:.3f} | "
                     f"{p['calibration_intercept']:+.3f} | {p['mean_risk']:.4f} | {p['event_rate']:.4f} |")
    for other in results["other_samples"]:
        slopes = ", ".join(f"{name} {p['calibration_slope']:.3f} ({p['calibration_intercept']:+.3f})"
                           for name, p in other["patterns"].items())
        lines += ["", f"Another fresh sample (seed {other['seed']}): AUROC {other['auroc']:.4f}; slope (intercept) in "
                  f"each pattern of ≥ 5 %: {slopes}."]
    c = results["spread_coverage"]
    lines += ["", f"Spread over the missing inputs (10th–90th percentile): holds the risk of the patient's own "
              f"values for {c['inside']:.1%} of {c['records']:,} incomplete records; median width "
              f"{100 * c['median_width']:.2f} percentage points; scoring them took {c['assess_seconds']:.1f} s.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()

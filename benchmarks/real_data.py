"""Real-data benchmark: `make benchmark-real` (or `python -m benchmarks.real_data --data-dir DIR`).

For every CSV in the folder (binary `recovered` column, 0 = the adverse event): stratified 5-fold
cross-validation with a fixed seed. On each outer training part the schema is inferred and the model
trained exactly as `recovery train --data F --target recovered --event 0` does (`Schema.infer` +
`Predictor.fit`); the outer test part is scored through `Predictor.predict_risk`, so validation and
refusals count. Logistic regression and HistGradientBoosting are fitted on the same parts. An
ablation adds one ingredient at a time. The synthetic cohort is scored on the fresh 200,000-row
sample against the oracle.

Writes benchmarks/results/real_data.json and real_data.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from recovery_model import Predictor, Schema, generate_cohort, load_schema, true_risk
from recovery_model.evaluation.evaluate import FRESH_ROWS, FRESH_SEED, metrics
from recovery_model.model.config import CONFIGS, NetworkConfig

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_DATA = ROOT.parent / "shared" / "real-data"
TARGET, ADVERSE, OUTER_FOLDS, OUTER_SEED, TRAIN_SEED = "recovered", 0, 5, 0, 42  # recovered = 0: the adverse event
DEFAULT = CONFIGS["default"]
SEED_RECIPE = CONFIGS["seed"]

# Cumulative: each row adds one ingredient to the row above; then two variants of the final recipe.
ABLATION: dict[str, NetworkConfig] = {
    "seed architecture, cross-fitted ensemble": SEED_RECIPE,
    "+ missing indicators": replace(SEED_RECIPE, missing_indicators=True),
    "+ linear path (warm start), AdamW, lr 3e-3, batch 512": replace(DEFAULT, hinges=0),
    "+ hinges = default": DEFAULT,
    "default with robust scaling": replace(DEFAULT, scaling="robust"),
    "default without the MLP (linear path only)": replace(DEFAULT, hidden=()),
}
OURS = "+ hinges = default"


def logistic() -> object:
    """Median-imputed with missing-value indicators, as our network's inputs are: the fair linear baseline."""
    return make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler(),
                         LogisticRegression(max_iter=5000))


def gradient_boosting() -> object:
    return HistGradientBoostingClassifier(random_state=0)


def summary(event: np.ndarray, risk: np.ndarray, seconds: float) -> dict[str, float]:
    m = metrics(event, risk)
    return {"auroc": m["auroc"], "auprc": m["auprc"], "brier": m["brier"], "calibration_slope": m["calibration_slope"],
            "fit_s": seconds}


def run_data_set(path: Path, configs: dict[str, NetworkConfig]) -> dict:
    frame = pd.read_csv(path)
    labels = frame[TARGET].to_numpy()
    outer = StratifiedKFold(OUTER_FOLDS, shuffle=True, random_state=OUTER_SEED)
    folds: dict[str, list[dict]] = {}
    refused = {name: 0 for name in configs}
    for train_rows, test_rows in outer.split(frame, labels):
        train, test = frame.iloc[train_rows], frame.iloc[test_rows]
        event = (test[TARGET].to_numpy() == 0).astype(int)
        features = test.drop(columns=TARGET)
        for name, make in (("Logistic regression", logistic), ("Gradient boosting", gradient_boosting)):
            started = time.perf_counter()
            fitted = make().fit(train.drop(columns=TARGET), (train[TARGET] == 0).astype(int))
            folds.setdefault(name, []).append(summary(event, fitted.predict_proba(features)[:, 1],
                                                      time.perf_counter() - started))
        schema = Schema.infer(train, TARGET, ADVERSE, name=path.stem)
        for name, config in configs.items():
            started = time.perf_counter()
            predictor = Predictor.fit(train, schema, config, TRAIN_SEED)
            seconds = time.perf_counter() - started
            risk = predictor.predict_risk(features)["risk"].to_numpy()
            scored = ~np.isnan(risk)
            refused[name] += int((~scored).sum())
            folds.setdefault(name, []).append(summary(event[scored], risk[scored], seconds))
    means = {name: {k: float(np.mean([f[k] for f in rows])) for k in rows[0]} for name, rows in folds.items()}
    return {"rows": len(frame), "features": frame.shape[1] - 1, "event_share": float((labels == 0).mean()),
            "mean": means, "folds": folds, "refused_rows": refused}


def run_synthetic(configs: dict[str, NetworkConfig], fresh_rows: int) -> dict:
    schema = load_schema()
    frame = pd.read_csv(ROOT / "data" / "patients.csv")
    fresh = generate_cohort(fresh_rows, FRESH_SEED, schema)
    event = schema.event_from_target(fresh[schema.target.name])
    train_event = schema.event_from_target(frame[schema.target.name])
    results = {"Oracle (true risk)": summary(event, true_risk(fresh), 0.0)}
    for name, make in (("Logistic regression", logistic), ("Gradient boosting", gradient_boosting)):
        started = time.perf_counter()
        fitted = make().fit(frame[schema.feature_names], train_event)
        results[name] = summary(event, fitted.predict_proba(fresh[schema.feature_names])[:, 1],
                                time.perf_counter() - started)
    for name, config in configs.items():
        started = time.perf_counter()
        predictor = Predictor.fit(frame, schema, config, TRAIN_SEED)
        seconds = time.perf_counter() - started
        risk = predictor.predict_risk(fresh)["risk"].to_numpy()
        m = metrics(event, risk)
        results[name] = summary(event, risk, seconds) | {
            "calibration_intercept": m["calibration_intercept"]}
    return {"rows": len(frame), "fresh_rows": fresh_rows, "results": results}


def verdict_table(data_sets: dict[str, dict]) -> tuple[list[str], dict]:
    lines = ["| data set | rows | ours AUROC | LR | HGB | ours − best baseline | ours AUPRC | ours Brier | "
             "ours calibration slope | fit s | refused rows |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    differences = []
    for name, result in data_sets.items():
        mean = result["mean"]
        best = max(mean["Logistic regression"]["auroc"], mean["Gradient boosting"]["auroc"])
        ours, logistic_auroc = mean[OURS], mean["Logistic regression"]["auroc"]
        differences.append(ours["auroc"] - best)
        lines.append(f"| {name} | {result['rows']:,} | {ours['auroc']:.4f} | {logistic_auroc:.4f} | "
                     f"{mean['Gradient boosting']['auroc']:.4f} | {ours['auroc'] - best:+.4f} | {ours['auprc']:.4f} | "
                     f"{ours['brier']:.4f} | {ours['calibration_slope']:.2f} | {ours['fit_s']:.1f} | "
                     f"{result['refused_rows'][OURS]} |")
    targets = {"at_or_above_best": int(sum(d >= 0 for d in differences)), "of": len(differences),
               "median_difference": float(statistics.median(differences)) if differences else float("nan"),
               "worst_difference": float(min(differences)) if differences else float("nan")}
    return lines, targets


def ablation_table(data_sets: dict[str, dict], configs: dict[str, NetworkConfig]) -> list[str]:
    names = list(data_sets)
    lines = ["| recipe | " + " | ".join(names) + " | median vs LR |", "|---|" + "---|" * (len(names) + 1)]
    for config in configs:
        differences = [data_sets[n]["mean"][config]["auroc"] - data_sets[n]["mean"]["Logistic regression"]["auroc"]
                       for n in names]
        cells = [f"{data_sets[n]['mean'][config]['auroc']:.4f}" for n in names]
        lines.append(f"| {config} | " + " | ".join(cells) + f" | {statistics.median(differences):+.4f} |")
    lines.append("| Logistic regression | " + " | ".join(
        f"{data_sets[n]['mean']['Logistic regression']['auroc']:.4f}" for n in names) + " | 0 |")
    return lines


def synthetic_table(synthetic: dict) -> list[str]:
    lines = [f"Fresh {synthetic['fresh_rows']:,}-row sample, models trained on the {synthetic['rows']:,}-row cohort:",
             "", "| model | AUROC | AUPRC | Brier | calibration slope | fit s |", "|---|---|---|---|---|---|"]
    for name, r in synthetic["results"].items():
        lines.append(f"| {name} | {r['auroc']:.4f} | {r['auprc']:.4f} | {r['brier']:.4f} | "
                     f"{r['calibration_slope']:.2f} | {r['fit_s']:.1f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--only", nargs="*", help="Data set names (file stems) to run; default all.")
    parser.add_argument("--no-ablation", action="store_true", help="Only the default recipe and the baselines.")
    parser.add_argument("--fresh-rows", type=int, default=FRESH_ROWS)
    parser.add_argument("--output", type=Path, default=RESULTS / "real_data")
    parser.add_argument("--jobs", type=int, default=2, help="Data sets run in parallel (one core each).")
    args = parser.parse_args()
    configs = {OURS: DEFAULT} if args.no_ablation else ABLATION
    files = sorted(args.data_dir.glob("*.csv"))
    if args.only:
        files = [f for f in files if f.stem in args.only]
    if not files:
        raise SystemExit(f"No CSV files in {args.data_dir}: pass --data-dir with the real data sets.")
    largest_first = sorted(files, key=lambda f: -f.stat().st_size)
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        results = pool.starmap(run_data_set, [(path, configs) for path in largest_first])
    data_sets = {path.stem: result for path, result in sorted(zip(largest_first, results, strict=True))}
    synthetic = run_synthetic(configs, args.fresh_rows) if not args.only else None
    lines, targets = verdict_table(data_sets)
    report = ["# Real-data benchmark", "", f"Stratified {OUTER_FOLDS}-fold CV (seed {OUTER_SEED}), same folds for "
              "every model; means over folds. Adverse event = positive class.", "", *lines, "",
              f"At or above the better baseline on {targets['at_or_above_best']} of {targets['of']}; median "
              f"difference {targets['median_difference']:+.4f}; worst {targets['worst_difference']:+.4f}.", ""]
    if len(configs) > 1:
        report += ["## Ablation (AUROC)", "", *ablation_table(data_sets, configs), ""]
    if synthetic:
        report += ["## Synthetic cohort", "", *synthetic_table(synthetic), ""]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".json").write_text(json.dumps(
        {"data_sets": data_sets, "targets": targets, "synthetic": synthetic}, indent=1) + "\n", encoding="utf-8")
    args.output.with_suffix(".md").write_text("\n".join(report), encoding="utf-8")
    print("\n".join(report))


if __name__ == "__main__":
    main()

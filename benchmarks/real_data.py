"""Real-data benchmark: `make benchmark-real` (or `python -m benchmarks.real_data --data-dir DIR`).

For every CSV in the folder (binary `recovered` column, 0 = the adverse event): stratified 5-fold
cross-validation with a fixed seed, repeated (`--repeats`, 2 by default) because fold-to-fold spread is large
on small sets; every difference is paired over the same folds with a 95 % CI by Nadeau and Bengio's corrected
resampled t (the folds' training parts overlap, so the naive t is far too narrow). On each outer training part
the schema is inferred and the model trained exactly as `recovery train --data F --target recovered --event 0`
does (`Schema.infer` + `Predictor.fit`); the outer test part is scored through `Predictor.predict_risk`, so
validation and refusals count. Logistic regression, HistGradientBoosting and InterpretML's Explainable Boosting
Machine (its defaults: bagged boosted shape functions with pairwise interactions; `interpret-core`, in the test
extra) are fitted on the same parts. The
ablation adds one ingredient at a time, then changes one thing at a time. The synthetic cohort is scored on
the fresh 200,000-row sample against the oracle.

Writes benchmarks/results/real_data.json and real_data.md.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from recovery_model import Predictor, Schema, generate_cohort, load_schema, true_risk
from recovery_model.evaluation.evaluate import FRESH_ROWS, FRESH_SEED, metrics
from recovery_model.model.config import CONFIGS, NetworkConfig, without_mlp
from recovery_model.monitoring.statistics import paired_auroc_difference

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_DATA = ROOT.parent / "shared" / "real-data"
TARGET, ADVERSE, OUTER_FOLDS, OUTER_SEED, TRAIN_SEED = "recovered", 0, 5, 0, 42  # recovered = 0: the adverse event
REPEATS = 2
DEFAULT, DEEP, SEED_RECIPE = CONFIGS["default"], CONFIGS["deep"], CONFIGS["seed"]
# The default of the rounds before the inputs were chosen on held-out folds: 3 hinges, the linear path trained together
# with one MLP over all inputs (lr 3e-3, weight decay 1e-3, dropout 0.3).
PREVIOUS = replace(DEEP, hinges=(3,), encodings=("hinges",), freeze_linear=False, learning_rate=3e-3,
                   weight_decay=1e-3, dropout=0.3)
OURS = "default: inputs chosen on held-out folds + one MLP per feature on the residual"
LINEAR = "default without the MLPs (linear path only)"
DEEP_NAME = "deep: one MLP over all inputs on the residual (the default until issue 33)"

# Cumulative up to the previous default; then one change at a time to it; then the default and two variants of it.
ABLATION: dict[str, NetworkConfig] = {
    "seed architecture, cross-fitted ensemble": SEED_RECIPE,
    "+ missing indicators": replace(SEED_RECIPE, missing_indicators=True),
    "+ linear path (warm start, trained with the MLP), AdamW, lr 3e-3, batch 512": replace(PREVIOUS, hinges=(0,)),
    "+ 3 hinges (the previous default)": PREVIOUS,
    "previous, dropout 0.1": replace(PREVIOUS, dropout=0.1),
    "previous, TabM-mini: 4 copies sharing each member's layers": replace(PREVIOUS, sub_members=4),
    "previous, residual MLP: linear path frozen; MLP lr 1e-3, weight decay 1e-2, dropout 0.1": replace(
        PREVIOUS, freeze_linear=True, learning_rate=1e-3, weight_decay=1e-2, dropout=0.1),
    "previous, 7 hinges": replace(PREVIOUS, hinges=(7,)),
    "previous, piecewise-linear encoding, 8 bins": replace(PREVIOUS, hinges=(7,), encodings=("ple",)),
    DEEP_NAME: DEEP,
    "deep, TabM-mini: 4 copies": replace(DEEP, sub_members=4),
    OURS: DEFAULT,
    LINEAR: without_mlp(DEFAULT),
}
QUICK = {OURS: DEFAULT, LINEAR: ABLATION[LINEAR]}


@dataclass(frozen=True)
class WithPairs:
    """A recipe given `pairs` extra inputs: products of the standardised pairs FAST ranks first on the training part
    (a proxy for GA2M's pairwise terms: each product gets its own shape function from the recipe's encoding)."""

    config: NetworkConfig
    pairs: int


Recipe = NetworkConfig | WithPairs
# What EBM has that the default lacks (issue 33), one thing at a time against the default (measured when the default
# was the deep recipe; docs/model.md).
EBM_ABLATION: dict[str, Recipe] = {
    OURS: DEFAULT,
    LINEAR: ABLATION[LINEAR],
    "finer shapes: knots chosen from 3, 7 or 15": replace(DEFAULT, hinges=(3, 7, 15)),
    "finer shapes: knots from 3, 7, 15 or 31, C from 0.003": replace(DEFAULT, hinges=(3, 7, 15, 31),
                                                                        linear_c=(0.003, 0.01, 0.1, 1.0)),
    "bagging: twice the members (folds repeated)": replace(DEFAULT, repeats=2),
    "pairwise: 3 FAST-chosen products": WithPairs(DEFAULT, 3),
    "pairwise: 3 FAST-chosen products, linear path only": WithPairs(ABLATION[LINEAR], 3),
}
# A network whose every part can be read (issue 33): the default (the deep part as one MLP per feature, a neural
# additive model) against the deep recipe it replaced, and variants of it.
ADDITIVE_ABLATION: dict[str, Recipe] = {
    OURS: DEFAULT,
    LINEAR: ABLATION[LINEAR],
    DEEP_NAME: DEEP,
    "default, dropout 0.1": replace(DEFAULT, dropout=0.1),
    "default, one 16-unit layer per feature": replace(DEFAULT, hidden=(16,)),
    "default, MLPs trained with the linear path (not frozen)": replace(DEFAULT, freeze_linear=False),
}
ABLATIONS = {"recipe": ABLATION, "ebm": EBM_ABLATION, "additive": ADDITIVE_ABLATION}
EBM = "EBM (InterpretML)"
BASELINES = ("Logistic regression", "Gradient boosting", EBM)


def logistic() -> object:
    """Median-imputed with missing-value indicators, as our network's inputs are: the fair linear baseline."""
    return make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler(),
                         LogisticRegression(max_iter=5000))


def gradient_boosting() -> object:
    return HistGradientBoostingClassifier(random_state=0)


def explainable_boosting() -> object:
    """InterpretML's EBM with its defaults (one job: the data sets already run a core each)."""
    from interpret.glassbox import ExplainableBoostingClassifier

    return ExplainableBoostingClassifier(random_state=0, n_jobs=1)


PEERS = {"Logistic regression": logistic, "Gradient boosting": gradient_boosting, EBM: explainable_boosting}


def summary(event: np.ndarray, risk: np.ndarray, seconds: float) -> dict[str, float]:
    m = metrics(event, risk)
    return {"auroc": m["auroc"], "auprc": m["auprc"], "brier": m["brier"], "calibration_slope": m["calibration_slope"],
            "fit_s": seconds}


def paired_difference(a: list[float], b: list[float], test_share: float = 1 / OUTER_FOLDS) -> dict[str, float]:
    """Mean of a − b over the same folds with a 95 % CI by Nadeau and Bengio's corrected resampled t: the variance
    of the fold differences is inflated by test/train size, as the folds' training parts overlap."""
    differences = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    mean, n = float(differences.mean()), len(differences)
    if n < 2:
        return {"mean": mean, "low": float("nan"), "high": float("nan")}
    spread = math.sqrt((1 / n + test_share / (1 - test_share)) * differences.var(ddof=1))
    half = float(stats.t.ppf(0.975, n - 1)) * spread
    return {"mean": mean, "low": mean - half, "high": mean + half}


def fast_pairs(features: pd.DataFrame, event: np.ndarray, count: int, bins: int = 8) -> list[tuple[str, str]]:
    """The `count` pairs whose 2-D binned means of the main-effects model's residual explain most of it (Lou et al.'s
    FAST, KDD 2013): logistic regression on the features alone, then per pair the residual's sum of squares
    explained by the cells of a quantile grid."""
    model = logistic().fit(features, event)
    residual = event - model.predict_proba(features)[:, 1]
    binned = {}
    for name in features.columns:
        values = features[name].to_numpy(dtype=float)
        edges = np.unique(np.nanquantile(values, np.linspace(0, 1, bins + 1)[1:-1]))
        binned[name] = np.where(np.isnan(values), len(edges) + 1, np.searchsorted(edges, values, side="right"))
    gains = {}
    names = list(features.columns)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            cells = binned[first] * (bins + 2) + binned[second]
            sums, counts = np.bincount(cells, residual), np.bincount(cells)
            seen = counts > 0
            gains[first, second] = float((sums[seen] ** 2 / counts[seen]).sum())
    return sorted(gains, key=gains.__getitem__, reverse=True)[:count]


def with_products(train: pd.DataFrame, others: list[pd.DataFrame], pairs: list[tuple[str, str]]) -> list[pd.DataFrame]:
    """The frames with one column per pair: the product of the two values standardised on `train` (missing when
    either is)."""
    out = [frame.copy() for frame in (train, *others)]
    for first, second in pairs:
        scale = {name: (train[name].mean(), train[name].std() or 1.0) for name in (first, second)}
        for frame in out:
            frame[f"{first} x {second}"] = ((frame[first] - scale[first][0]) / scale[first][1]
                                            * (frame[second] - scale[second][0]) / scale[second][1])
    return out


def fit_recipe(train: pd.DataFrame, test: pd.DataFrame, recipe: Recipe, target: str, adverse: int,
               name: str) -> tuple[np.ndarray, float]:
    """The recipe trained as `recovery train` does (`Schema.infer` + `Predictor.fit`) and its risks on `test`."""
    config = recipe.config if isinstance(recipe, WithPairs) else recipe
    started = time.perf_counter()
    if isinstance(recipe, WithPairs):
        features = train.drop(columns=target)
        pairs = fast_pairs(features.select_dtypes("number"), (train[target] == adverse).to_numpy(dtype=int),
                           recipe.pairs)
        train, test = with_products(train, [test], pairs)
    schema = Schema.infer(train, target, adverse, name=name)
    predictor = Predictor.fit(train, schema, config, TRAIN_SEED)
    seconds = time.perf_counter() - started
    return predictor.predict_risk(test.drop(columns=target, errors="ignore"))["risk"].to_numpy(), seconds


def one_thread_per_job() -> None:
    """The data sets run side by side, a core each: no job's training takes the other's core."""
    import torch

    torch.set_num_threads(1)


def run_data_set(path: Path, configs: dict[str, Recipe], repeats: int = REPEATS, peers: dict | None = None) -> dict:
    """`peers`: the baselines' fold results of an earlier run on the same folds (same seed and repeats), reused."""
    frame = pd.read_csv(path)
    labels = frame[TARGET].to_numpy()
    outer = RepeatedStratifiedKFold(n_splits=OUTER_FOLDS, n_repeats=repeats, random_state=OUTER_SEED)
    folds: dict[str, list[dict]] = {}
    refused = {name: 0 for name in configs}
    for train_rows, test_rows in outer.split(frame, labels):
        train, test = frame.iloc[train_rows], frame.iloc[test_rows]
        event = (test[TARGET].to_numpy() == 0).astype(int)
        features = test.drop(columns=TARGET)
        for name, make in (PEERS if peers is None else {}).items():
            started = time.perf_counter()
            fitted = make().fit(train.drop(columns=TARGET), (train[TARGET] == 0).astype(int))
            folds.setdefault(name, []).append(summary(event, fitted.predict_proba(features)[:, 1],
                                                      time.perf_counter() - started))
        for name, recipe in configs.items():
            risk, seconds = fit_recipe(train, test, recipe, TARGET, ADVERSE, path.stem)
            scored = ~np.isnan(risk)
            refused[name] += int((~scored).sum())
            folds.setdefault(name, []).append(summary(event[scored], risk[scored], seconds))
    if peers is not None:
        if len(peers[BASELINES[0]]) != len(folds[OURS]):
            raise SystemExit(f"{path.stem}: the reused baselines have {len(peers[BASELINES[0]])} folds, this run "
                             f"{len(folds[OURS])}: run with the same --repeats.")
        folds |= {name: peers[name] for name in BASELINES}
    means = {name: {k: float(np.mean([f[k] for f in rows])) for k in rows[0]} for name, rows in folds.items()}
    return {"rows": len(frame), "features": frame.shape[1] - 1, "event_share": float((labels == 0).mean()),
            "mean": means, "folds": folds, "refused_rows": refused}


def run_synthetic(configs: dict[str, Recipe], fresh_rows: int, peers: dict | None = None) -> dict:
    """`peers`: the baselines' results of an earlier run, reused. Recipes with pairs are left out: the schema
    inferred for their products would refuse fresh rows outside the cohort's ranges."""
    schema = load_schema()
    frame = pd.read_csv(ROOT / "data" / "patients.csv")
    fresh = generate_cohort(fresh_rows, FRESH_SEED, schema)
    event = schema.event_from_target(fresh[schema.target.name])
    train_event = schema.event_from_target(frame[schema.target.name])
    results = {"Oracle (true risk)": summary(event, true_risk(fresh), 0.0)}
    risks: dict[str, np.ndarray] = {}
    for name, make in (PEERS if peers is None else {}).items():
        started = time.perf_counter()
        fitted = make().fit(frame[schema.feature_names], train_event)
        results[name] = summary(event, fitted.predict_proba(fresh[schema.feature_names])[:, 1],
                                time.perf_counter() - started)
    results |= {name: peers[name] for name in BASELINES} if peers else {}
    for name, recipe in configs.items():
        if isinstance(recipe, WithPairs):
            continue
        started = time.perf_counter()
        predictor = Predictor.fit(frame, schema, recipe, TRAIN_SEED)
        seconds = time.perf_counter() - started
        risk = predictor.predict_risk(fresh)["risk"].to_numpy()
        m = metrics(event, risk)
        results[name] = summary(event, risk, seconds) | {
            "calibration_intercept": m["calibration_intercept"]}
        risks[name] = risk
    gain = paired_auroc_difference(event, risks[OURS], risks[LINEAR]) if LINEAR in risks else (None, None, None)
    return {"rows": len(frame), "fresh_rows": fresh_rows, "results": results,
            "gap_to_oracle": results[OURS]["auroc"] - results["Oracle (true risk)"]["auroc"],
            "mlp_gain": dict(zip(("mean", "low", "high"), gain, strict=True))}


def fold_aurocs(result: dict, name: str) -> list[float]:
    return [fold["auroc"] for fold in result["folds"][name]]


def best_baseline(result: dict) -> str:
    return max(BASELINES, key=lambda name: result["mean"][name]["auroc"])


def _ci(estimate: dict[str, float]) -> str:
    return f"{estimate['mean']:+.4f} ({estimate['low']:+.4f} to {estimate['high']:+.4f})"


def verdict_table(data_sets: dict[str, dict]) -> tuple[list[str], dict]:
    lines = ["| data set | rows | ours AUROC | LR | HGB | EBM | ours − best of the three (95 % CI) | ours − EBM "
             "(95 % CI) | MLP: ours − linear path only (95 % CI) | ours AUPRC | ours Brier | ours calibration slope | "
             "fit s (ours, EBM) | refused rows |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    versus_best, versus_ebm, mlp_gain = [], [], []
    for name, result in data_sets.items():
        mean, best = result["mean"], best_baseline(result)
        ours = mean[OURS]
        versus_best.append(paired_difference(fold_aurocs(result, OURS), fold_aurocs(result, best)))
        versus_ebm.append(paired_difference(fold_aurocs(result, OURS), fold_aurocs(result, EBM)))
        mlp_gain.append(paired_difference(fold_aurocs(result, OURS), fold_aurocs(result, LINEAR)))
        lines.append(f"| {name} | {result['rows']:,} | {ours['auroc']:.4f} | {mean[BASELINES[0]]['auroc']:.4f} | "
                     f"{mean[BASELINES[1]]['auroc']:.4f} | {mean[EBM]['auroc']:.4f} | {_ci(versus_best[-1])} | "
                     f"{_ci(versus_ebm[-1])} | {_ci(mlp_gain[-1])} | {ours['auprc']:.4f} | {ours['brier']:.4f} | "
                     f"{ours['calibration_slope']:.2f} | {ours['fit_s']:.1f}, {mean[EBM]['fit_s']:.1f} | "
                     f"{result['refused_rows'][OURS]} |")
    differences = [d["mean"] for d in versus_best]
    targets = {"at_or_above_best": int(sum(d >= 0 for d in differences)), "of": len(differences),
               "median_difference": float(statistics.median(differences)) if differences else float("nan"),
               "worst_difference": float(min(differences)) if differences else float("nan"),
               "at_or_above_ebm": int(sum(d["mean"] >= 0 for d in versus_ebm)),
               "median_difference_ebm": float(statistics.median(d["mean"] for d in versus_ebm)) if versus_ebm
               else float("nan"),
               "mlp_better_than_linear": int(sum(g["mean"] > 0 for g in mlp_gain)),
               "mlp_better_with_ci_above_0": int(sum(g["low"] > 0 for g in mlp_gain))}
    return lines, targets


def ablation_table(data_sets: dict[str, dict], configs: dict[str, Recipe]) -> list[str]:
    """Mean AUROC of every recipe tried on every set, its median difference from logistic regression, and on how
    many sets it beats the one it changes (the previous default, or the default) by more than the paired CI's
    half-width (CI above 0)."""
    names = list(data_sets)
    previous = "+ 3 hinges (the previous default)" if "+ 3 hinges (the previous default)" in configs else OURS
    lines = ["| recipe | " + " | ".join(names) + f" | median vs LR | better than {previous.split(':')[0]} (CI above "
             "0) | worse (CI below 0) |", "|---|" + "---|" * (len(names) + 3)]
    for config in configs:
        differences = [data_sets[n]["mean"][config]["auroc"] - data_sets[n]["mean"][BASELINES[0]]["auroc"]
                       for n in names]
        versus = [paired_difference(fold_aurocs(data_sets[n], config), fold_aurocs(data_sets[n], previous))
                  for n in names] if previous in configs else []
        cells = [f"{data_sets[n]['mean'][config]['auroc']:.4f}" for n in names]
        better, worse = sum(v["low"] > 0 for v in versus), sum(v["high"] < 0 for v in versus)
        lines.append(f"| {config} | " + " | ".join(cells) + f" | {statistics.median(differences):+.4f} | "
                     f"{better} | {worse} |")
    for baseline in BASELINES:
        lines.append(f"| {baseline} | " + " | ".join(f"{data_sets[n]['mean'][baseline]['auroc']:.4f}" for n in names)
                     + " | | | |")
    return lines


def synthetic_table(synthetic: dict) -> list[str]:
    gain = synthetic["mlp_gain"]
    lines = [f"Fresh {synthetic['fresh_rows']:,}-row sample, models trained on the {synthetic['rows']:,}-row cohort "
             "(complete rows):", "", "| model | AUROC | AUPRC | Brier | calibration slope | fit s |",
             "|---|---|---|---|---|---|"]
    for name, r in synthetic["results"].items():
        lines.append(f"| {name} | {r['auroc']:.4f} | {r['auprc']:.4f} | {r['brier']:.4f} | "
                     f"{r['calibration_slope']:.2f} | {r['fit_s']:.1f} |")
    return [*lines, "", f"Ours − oracle: {synthetic['gap_to_oracle']:+.4f}. The MLP (ours − the same recipe without "
                        f"it): {gain['mean']:+.4f}, DeLong paired 95 % CI {gain['low']:+.4f} to {gain['high']:+.4f}."]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--only", nargs="*", help="Data set names (file stems) to run; default all.")
    parser.add_argument("--no-ablation", action="store_true", help="Only the default recipe and the baselines.")
    parser.add_argument("--ablation", choices=ABLATIONS, default="recipe",
                        help="recipe: how the default was built; ebm: what EBM has that the default lacks.")
    parser.add_argument("--peers-from", type=Path, help="An earlier run's JSON on the same folds: its baselines are "
                        "reused, not fitted again (EBM takes most of a run's time).")
    parser.add_argument("--fresh-rows", type=int, default=FRESH_ROWS)
    parser.add_argument("--output", type=Path, default=RESULTS / "real_data")
    parser.add_argument("--jobs", type=int, default=2, help="Data sets run in parallel (one core each).")
    parser.add_argument("--repeats", type=int, default=REPEATS, help="Repeats of the 5-fold cross-validation.")
    args = parser.parse_args()
    configs: dict[str, Recipe] = dict(QUICK) if args.no_ablation else ABLATIONS[args.ablation]
    earlier = json.loads(args.peers_from.read_text()) if args.peers_from else None
    files = sorted(args.data_dir.glob("*.csv"))
    if args.only:
        files = [f for f in files if f.stem in args.only]
    if not files:
        raise SystemExit(f"No CSV files in {args.data_dir}: pass --data-dir with the real data sets.")
    largest_first = sorted(files, key=lambda f: -f.stat().st_size)
    with multiprocessing.get_context("spawn").Pool(args.jobs, initializer=one_thread_per_job) as pool:
        results = pool.starmap(run_data_set, [
            (path, configs, args.repeats, earlier["data_sets"][path.stem]["folds"] if earlier else None)
            for path in largest_first])
    data_sets = {path.stem: result for path, result in sorted(zip(largest_first, results, strict=True))}
    synthetic = run_synthetic(configs, args.fresh_rows, earlier["synthetic"]["results"] if earlier else None) \
        if not args.only else None
    lines, targets = verdict_table(data_sets)
    report = ["# Real-data benchmark", "", f"Stratified {OUTER_FOLDS}-fold CV repeated {args.repeats} times (seed "
              f"{OUTER_SEED}), the same folds for every model; means over folds; differences paired over the folds "
              "with Nadeau and Bengio's corrected 95 % CI. Adverse event = positive class.", "", *lines, "",
              f"At or above the best of LR, HGB and EBM on {targets['at_or_above_best']} of {targets['of']}; median "
              f"difference {targets['median_difference']:+.4f}; worst {targets['worst_difference']:+.4f}. At or above "
              f"EBM on {targets['at_or_above_ebm']} of {targets['of']} (median "
              f"{targets['median_difference_ebm']:+.4f}). The MLP "
              f"better than the linear path alone on {targets['mlp_better_than_linear']} of {targets['of']} "
              f"({targets['mlp_better_with_ci_above_0']} with the CI above 0).", ""]
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

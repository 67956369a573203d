"""The benchmark suite: `make benchmark` (or `python -m benchmarks.run`).

Every figure is a median over repeats with its spread, next to a baseline measured in the same run,
because these machines are shared and noisy. Writes benchmarks/results/report.json and report.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from math import factorial
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from recovery_model import Predictor, generate_cohort, load_schema
from recovery_model.evaluation.evaluate import FRESH_SEED
from recovery_model.model.config import CONFIGS
from recovery_model.model.risk_model import RiskModel, logistic_paths
from recovery_model.model.training import LinearStart, train_ensemble
from recovery_model.readers.csv import read_patient_csv
from recovery_model.record_view import FRESH_RECORD_SEED, record_view
from recovery_model.scoring.narrative import percent

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def timed(function: Callable[[], object], repeats: int) -> tuple[dict[str, float], object]:
    """Median, p95, min and max wall time in seconds over `repeats` calls, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return {"median_s": statistics.median(times), "p95_s": float(np.percentile(times, 95)),
            "min_s": min(times), "max_s": max(times), "repeats": repeats}, result


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "date": datetime.now(UTC).isoformat(timespec="seconds")}


# ----- 1. training --------------------------------------------------------------------------------
def training(repeats: int) -> dict:
    """`recovery train --no-evaluate`'s fit on the 15,000-row cohort, and the same members trained one by
    one (K sequential trainings on the same inputs, folds and warm starts) to show what batching buys."""
    schema = load_schema()
    frame = pd.read_csv(ROOT / "data" / "patients.csv")
    fresh = generate_cohort(50_000, FRESH_SEED, schema)
    features, event = schema.feature_names, schema.event_from_target(frame[schema.target.name])
    fresh_event = schema.event_from_target(fresh[schema.target.name])

    def ours():
        return RiskModel(features, "default", seed=42).fit(frame, event)

    fitted = ours()
    config, masks = fitted.config_, np.stack([fitted.folds_ != k for k in range(fitted.config_.folds)])
    inputs = fitted.transform_.transform(frame[features].to_numpy(dtype=float))
    start = logistic_paths(inputs, event, masks, config.linear_c)

    features = fitted.transform_.n_features

    def batched():
        return train_ensemble(inputs, event, masks, config, start, seed=42, features=features)

    def sequential():
        return [train_ensemble(inputs[k:k + 1], event, masks[k:k + 1], config,
                               LinearStart(start.coef[k:k + 1], start.intercept[k:k + 1], start.c), seed=42,
                               features=features)
                for k in range(len(masks))]

    def sklearn_mlp():  # the seed's widths; its own early stopping holds out 15 %
        return make_pipeline(StandardScaler(), MLPClassifier(CONFIGS["seed"].hidden, alpha=1e-3,
                                                             early_stopping=True, validation_fraction=0.15,
                                                             n_iter_no_change=10, max_iter=500,
                                                             random_state=42)).fit(frame[features], event)

    def boosting():
        return HistGradientBoostingClassifier(random_state=42).fit(frame[features], event)

    rows = {}
    for name, fit in (("Ours: cross-fitted ensemble of 5, whole fit", ours),
                      ("scikit-learn MLPClassifier, seed widths, its early stopping", sklearn_mlp),
                      ("HistGradientBoosting", boosting)):
        timing, model = timed(fit, repeats)
        rows[name] = timing | {"fresh_auroc": float(roc_auc_score(fresh_event, model.predict_proba(
            fresh if name.startswith("Ours") else fresh[features])[:, 1]))}
    rows["Ours: the 5 members' training loop, batched"], _ = timed(batched, repeats)
    rows["The same 5 members trained one after another"], _ = timed(sequential, repeats)
    rows["Ours: cross-fitted ensemble of 5, whole fit"]["batched_speedup"] = (
        rows["The same 5 members trained one after another"]["median_s"]
        / rows["Ours: the 5 members' training loop, batched"]["median_s"])
    return rows


# ----- 2. one patient -----------------------------------------------------------------------------
def one_patient(predictor: Predictor, repeats: int, kernel_repeats: int) -> dict:
    schema = predictor.schema
    patients = generate_cohort(repeats, 77).drop(columns=schema.target.name)
    predictor.warm_up()
    times = []
    for i in range(repeats):
        row = patients.iloc[[i]]
        started = time.perf_counter()
        predictor.assess(row)
        times.append(time.perf_counter() - started)
    ours = {"median_s": statistics.median(times), "p95_s": float(np.percentile(times, 95)), "repeats": repeats}

    import shap

    model, background = predictor.model, predictor.background.astype(np.float64)

    def log_odds(values: np.ndarray) -> np.ndarray:
        return model.decision_function(pd.DataFrame(values, columns=model.feature_names))

    kernel = shap.KernelExplainer(log_odds, background)
    row = patients.iloc[[0]][model.feature_names].to_numpy(dtype=np.float64)
    kernel_timing, _ = timed(lambda: kernel.shap_values(row, silent=True), kernel_repeats)
    return {"ours": ours, "kernel_explainer": kernel_timing,
            "speedup_vs_kernel": kernel_timing["median_s"] / ours["median_s"]}


# ----- 3. explanation quality ---------------------------------------------------------------------
def exact_shapley(predictor: Predictor, row: np.ndarray) -> np.ndarray:
    """Interventional Shapley values by brute force over all 2^n coalitions, same background, log-odds."""
    model, background = predictor.model, predictor.background
    n = row.shape[0]
    masks = ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1).astype(bool)
    value = np.empty(2 ** n)
    for start in range(0, 2 ** n, 256):
        block = masks[start:start + 256]
        mixed = np.where(block[:, None, :], row, background[None, :, :]).reshape(-1, n)
        logits = model.decision_function(pd.DataFrame(mixed, columns=model.feature_names))
        value[start:start + len(block)] = logits.reshape(len(block), len(background)).mean(axis=1)
    sizes = masks.sum(axis=1)
    weights = np.array([factorial(s) * factorial(n - s - 1) / factorial(n) for s in range(n)])
    phi = np.zeros(n)
    index = np.arange(2 ** n)
    for i in range(n):
        without = index[~masks[:, i]]
        phi[i] = np.sum(weights[sizes[without]] * (value[without | (1 << i)] - value[without]))
    return phi


def explanation_quality(predictor: Predictor, patients: int) -> dict:
    schema = predictor.schema
    test = pd.read_csv(ROOT / "data" / "patients.csv").sample(2250, random_state=42)
    explanation = predictor.assess(test).explanation
    local = np.abs(explanation.base_value + explanation.attributions.to_numpy().sum(axis=1) - explanation.log_odds)
    sample = test.sample(patients, random_state=0)
    ours = predictor.assess(sample).explanation.attributions.to_numpy()
    values = sample[schema.feature_names].to_numpy(dtype=np.float64)
    started = time.perf_counter()
    exact = np.array([exact_shapley(predictor, r) for r in values])
    exact_seconds = (time.perf_counter() - started) / patients
    relative_l1 = np.abs(ours - exact).sum(axis=1) / np.abs(exact).sum(axis=1)
    pairs = list(zip(ours, exact, strict=True))
    top3_same_set = [set(np.argsort(-np.abs(a))[:3]) == set(np.argsort(-np.abs(b))[:3]) for a, b in pairs]
    top3_same_order = [list(np.argsort(-np.abs(a))[:3]) == list(np.argsort(-np.abs(b))[:3]) for a, b in pairs]
    top1 = [np.argmax(np.abs(a)) == np.argmax(np.abs(b)) for a, b in pairs]
    return {"local_accuracy_max_abs_error": float(local.max()), "rows_checked": len(test),
            "patients_compared": patients, "mean_relative_l1_error": float(relative_l1.mean()),
            "max_relative_l1_error": float(relative_l1.max()), "top3_same_set": float(np.mean(top3_same_set)),
            "top3_same_order": float(np.mean(top3_same_order)), "top1_same": float(np.mean(top1)),
            "exact_seconds_per_patient": exact_seconds}


# ----- 4. a ward ----------------------------------------------------------------------------------
def ward(predictor: Predictor, repeats: int) -> dict:
    out = {}
    for rows, reps in ((50, repeats * 5), (10_000, repeats)):
        frame = generate_cohort(rows, 5).drop(columns="recovered")
        frame.insert(0, "patient_id", [f"P{i:06d}" for i in range(rows)])
        content = frame.to_csv(index=False).encode()
        timing, _ = timed(lambda c=content: predictor.rank(read_patient_csv(c, "ward.csv"), top_k=10), reps)
        out[f"{rows}_rows"] = timing
    return out


# ----- 4b. when not to trust a risk -------------------------------------------------------------------
def trust(predictor: Predictor, fresh_rows: int, wards: int, high_patients: int) -> dict:
    """The issue-11 targets: interval coverage by risk decile, typicality flag rates, drift false alarms
    and power, and suggestions for high-tier patients with their latency. Patients come as records show them
    (the record view), as the default model is trained and as a hospital would send them."""
    schema = predictor.schema
    fresh = record_view(generate_cohort(fresh_rows, 2024), FRESH_RECORD_SEED)
    event = schema.event_from_target(fresh[schema.target.name])
    rows = predictor.predict_risk(fresh.drop(columns=schema.target.name))
    deciles = []
    for chunk in np.array_split(np.argsort(rows["risk"].to_numpy(), kind="stable"), 10):
        observed, n = float(event[chunk].mean()), len(chunk)
        se = float(np.sqrt(max(observed * (1 - observed), 1e-12) / n))
        low, high = float(rows["risk_low"].iloc[chunk].mean()), float(rows["risk_high"].iloc[chunk].mean())
        deciles.append({"observed": observed, "low": low, "high": high, "se": se,
                        "inside": bool(low - se <= observed <= high + se)})
    rng = np.random.default_rng(5)
    uniform = pd.DataFrame({f.name: rng.integers(int(f.valid_min), int(f.valid_max) + 1, 10_000) if f.is_integer
                            else rng.uniform(f.valid_min, f.valid_max, 10_000) for f in schema.features})
    uniform_rows = predictor.predict_risk(uniform)
    pool = record_view(generate_cohort(wards * 50, 77), 78).drop(columns=schema.target.name)
    calm = [predictor.check_drift(pool.iloc[i * 50:(i + 1) * 50]).drifted for i in range(wards)]
    shifted = [predictor.check_drift(pool.iloc[i * 50:(i + 1) * 50].assign(
        oxygen_level=lambda w: w["oxygen_level"] - 4, heart_rate=lambda w: w["heart_rate"] + 15)).drifted
        for i in range(wards)]
    high = rows[rows["tier"] == "high"].head(high_patients)
    times, reached, none = [], 0, 0
    for i in range(len(high)):
        started = time.perf_counter()
        options = predictor.suggest_changes(high.iloc[[i]][schema.feature_names].astype(float))
        times.append(time.perf_counter() - started)
        reached += bool(len(options) and options["below_threshold"].any())
        none += not len(options)
    return {"interval": {"fresh_rows": fresh_rows, "deciles": deciles,
                         "deciles_inside": sum(d["inside"] for d in deciles),
                         "median_width": float((rows["risk_high"] - rows["risk_low"]).median())},
            "typicality": {"in_distribution_flagged": float(rows["atypical"].mean()),
                           "uniform_flagged": float(uniform_rows.loc[uniform_rows["status"] == "scored",
                                                                      "atypical"].mean()),
                           "uniform_refused": int((uniform_rows["status"] == "rejected").sum())},
            "drift": {"wards": wards, "false_alarms": float(np.mean(calm)), "detected_shift": float(np.mean(shifted))},
            "suggestions": {"high_tier_patients": len(high), "below_threshold": reached / max(len(high), 1),
                            "no_option": none, "median_s": statistics.median(times),
                            "p95_s": float(np.percentile(times, 95))}}


# ----- 5. a hospital overnight --------------------------------------------------------------------
def overnight(predictor: Predictor, sizes: list[int]) -> dict:
    """`recovery predict` on a generated hospital file, CSV and Parquet, each in a fresh process (wall time
    and peak memory), next to the same rows scored in process (`predict_risk`) and the forward pass alone."""
    out = {}
    with tempfile.TemporaryDirectory() as scratch:
        for rows in sizes:
            frame = generate_cohort(rows, 9).drop(columns="recovered")
            frame.insert(0, "patient_id", [f"H{i:07d}" for i in range(rows)])
            in_process, _ = timed(lambda f=frame: predictor.predict_risk(f), 1)
            values = frame[predictor.schema.feature_names].to_numpy(dtype=float)
            ceiling, _ = timed(lambda v=values: predictor.model.network_(
                torch.as_tensor(predictor.model.transform_.transform(v), dtype=torch.float32)).detach(), 3)
            result = {"in_process_rows_per_s": rows / in_process["median_s"],
                      "forward_pass_rows_per_s": rows / ceiling["median_s"]}
            for kind in ("csv", "parquet"):
                source = Path(scratch) / f"hospital_{rows}.{kind}"
                frame.to_csv(source, index=False) if kind == "csv" else frame.to_parquet(source, index=False)
                started = time.perf_counter()
                probe = subprocess.run([sys.executable, "-c", _PREDICT_AND_REPORT_MEMORY, str(source),
                                        str(Path(scratch) / f"ranked.{kind}")], capture_output=True, text=True,
                                       check=True)
                seconds = time.perf_counter() - started
                result[kind] = {"seconds": seconds, "rows_per_s": rows / seconds,
                                "peak_rss_mb": json.loads(probe.stdout.strip().splitlines()[-1])["peak_rss_mb"],
                                "ratio_to_in_process": seconds / in_process["median_s"],
                                "file_mb": source.stat().st_size / 2**20}
            out[f"{rows}_rows"] = result
    return out


# VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork and exec, so a child would report the benchmark's own
# peak (with a million rows in memory) instead of its own.
_PREDICT_AND_REPORT_MEMORY = """
import json, sys
from recovery_model.cli import main
code = main(["predict", "--input", sys.argv[1], "--output", sys.argv[2], "--no-log"])
assert code == 0
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({"peak_rss_mb": peak_kb / 1024}))
"""


# ----- 5b. FHIR R4 in ----------------------------------------------------------------------------------------
def fhir(patients: int, repeats: int) -> dict:
    """A Bundle of `patients` synthetic patients (their values as Observations, an Encounter, Conditions and a
    QuestionnaireResponse each): read and scored in process, and `recovery predict` on it in a fresh process."""
    from datetime import UTC, datetime

    from recovery_model.readers.fhir.reader import read_fhir
    from recovery_model.readers.fhir.sample import to_bundle

    predictor = Predictor.load()
    as_of = datetime(2026, 11, 30, 12, tzinfo=UTC)
    frame = generate_cohort(patients, 21).drop(columns="recovered")
    frame.insert(0, "patient_id", [f"P{i:05d}" for i in range(patients)])
    with tempfile.TemporaryDirectory() as scratch:
        bundle = Path(scratch) / "bundle.json"
        document = to_bundle(frame, predictor.schema, as_of)
        bundle.write_text(json.dumps(document), encoding="utf-8")
        read, record = timed(lambda: read_fhir(bundle, predictor.schema, as_of), repeats)
        scored, _ = timed(lambda: predictor.rank(read_fhir(bundle, predictor.schema, as_of).frame, explain=False),
                          repeats)
        command = [str(Path(sys.executable).parent / "recovery"), "predict", "--input", str(bundle), "--output",
                   str(Path(scratch) / "ranked.csv"), "--as-of", as_of.isoformat(), "--no-log"]
        cli, _ = timed(lambda: subprocess.run(command, check=True, capture_output=True), repeats)
    values = record.frame[predictor.schema.feature_names].to_numpy(dtype=float)
    return {"patients": patients, "resources": len(document["entry"]), "bundle_mb": bundle_size(document),
            "read": read, "read_and_scored": scored, "cli_fresh_process": cli,
            "values_equal_to_the_rows": bool(np.array_equal(values, frame[predictor.schema.feature_names]
                                                            .to_numpy(dtype=float)))}


def bundle_size(document: dict) -> float:
    return len(json.dumps(document).encode()) / 2**20


# ----- 5c. the Dask engine ------------------------------------------------------------------------------------
def cluster(rows: int, files: int) -> dict:
    """`recovery predict --engine dask` on `rows` rows in `files` Parquet files (row groups of 50,000), with one and
    with two local workers, each run a fresh process; and the same rows as one file through the one-process path,
    whose ranked list the cluster's must equal row for row."""
    out: dict = {"rows": rows, "files": files}
    recovery = str(Path(sys.executable).parent / "recovery")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "exports"
        folder.mkdir()
        frame = generate_cohort(rows, 13).drop(columns="recovered")
        frame.insert(0, "patient_id", [f"H{i:08d}" for i in range(rows)])
        for i, part in enumerate(np.array_split(np.arange(rows), files)):
            frame.iloc[part].to_parquet(folder / f"ward{i:03d}.parquet", index=False, row_group_size=50_000)
        frame.to_parquet(Path(scratch) / "all.parquet", index=False, row_group_size=50_000)
        del frame
        for workers in (1, 2):
            started = time.perf_counter()
            subprocess.run([recovery, "predict", "--engine", "dask", "--workers", str(workers), "--input", str(folder),
                            "--output", str(Path(scratch) / f"ranked_{workers}"), "--no-log"], check=True,
                           capture_output=True)
            out[f"workers_{workers}_s"] = time.perf_counter() - started
        started = time.perf_counter()
        subprocess.run([recovery, "predict", "--input", str(Path(scratch) / "all.parquet"), "--output",
                        str(Path(scratch) / "single.parquet"), "--no-log"], check=True, capture_output=True)
        out["one_process_s"] = time.perf_counter() - started
        columns = ["patient_id", "risk", "rank", "tier"]
        single = pd.read_parquet(Path(scratch) / "single.parquet", columns=columns)
        on_cluster = pd.read_parquet(Path(scratch) / "ranked_2", columns=columns)
        out["identical_to_one_process"] = bool(single.equals(on_cluster))
    out["speedup_2_vs_1"] = out["workers_1_s"] / out["workers_2_s"]
    return out


# ----- 6. the app in a browser --------------------------------------------------------------------
def browser(repeats: int) -> dict:
    from playwright.sync_api import sync_playwright

    from tests.dashboard.patient_form import fill
    from tests.dashboard.test_browser import CHROMIUM, CHROMIUM_ARGS, free_port

    if not Path(CHROMIUM).exists():
        return {"skipped": f"{CHROMIUM} not installed"}
    startup, cold, form, again, upload = [], [], [], [], []
    predictor = Predictor.load()
    second = predictor.schema.defaults() | {"age": 80}
    second_risk = percent(float(predictor.predict_risk(pd.DataFrame([second]))["risk"].iloc[0]))
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for _ in range(repeats):
            port = free_port()
            started = time.perf_counter()
            server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py"),
                                       "--server.port", str(port), "--server.headless", "true",
                                       "--browser.gatherUsageStats", "false"], cwd=ROOT,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                page = _open_home_navigation(chromium, port)
                startup.append(time.perf_counter() - started)
                page.get_by_text("AUROC", exact=True).wait_for()
                cold.append(time.perf_counter() - started)
                page.goto(f"http://127.0.0.1:{port}/patient")
                page.get_by_role("button", name="Estimate risk").wait_for()
                fill(page, predictor.schema.defaults(), predictor.schema)  # as a clinician types the patient in
                page.wait_for_timeout(1500)  # let the explainer warm up, as it does while a clinician types
                started = time.perf_counter()
                page.get_by_role("button", name="Estimate risk").click()
                page.get_by_text("Risk of not recovering", exact=True).wait_for()
                page.get_by_text("Why this risk:").wait_for()  # the waterfall itself, not the placeholder
                form.append(time.perf_counter() - started)
                fill(page, {"age": 80}, predictor.schema)
                started = time.perf_counter()
                page.get_by_role("button", name="Estimate risk").click()
                page.get_by_text(second_risk, exact=True).first.wait_for()
                again.append(time.perf_counter() - started)
                page.goto(f"http://127.0.0.1:{port}/ward")
                page.get_by_text("Ward CSV or FHIR record", exact=True).wait_for()
                started = time.perf_counter()
                page.locator("input[type='file']").first.set_input_files(str(ROOT / "data" / "sample_ward.csv"))
                page.get_by_text("Ranked by risk").wait_for()
                page.locator("[data-testid='stDataFrame'] >> visible=true").first.wait_for()
                upload.append(time.perf_counter() - started)
                page.close()
            finally:
                server.terminate()
                server.wait(timeout=20)
        bare = _bare_streamlit_start(chromium, repeats)
        chromium.close()

    def summary(values: list[float]) -> dict:
        return {"median_s": statistics.median(values), "min_s": min(values), "max_s": max(values),
                "repeats": len(values)}

    return {"start_to_usable_home_navigation": summary(startup),
            "baseline_bare_streamlit_app_same_navigation": summary(bare),
            "start_to_home_with_model_figures": summary(cold), "patient_submit_first": summary(form),
            "patient_submit_next": summary(again), "ward_upload_48_rows": summary(upload)}


BARE_APP = {"app.py": 'import streamlit as st\nst.navigation([st.Page("views/home.py", title="Home", default=True), '
                      'st.Page("views/patient.py", title="Patient")]).run()\n',
            "views/home.py": 'import streamlit as st\nst.title("Home")\n'
                             'st.page_link("views/patient.py", label="Patient — clinicians")\n',
            "views/patient.py": 'import streamlit as st\nst.title("Patient")\n'}


def _bare_streamlit_start(chromium, repeats: int) -> list[float]:
    """The floor: the same measurement on a Streamlit app that does nothing but the same navigation."""

    from tests.dashboard.test_browser import free_port

    times = []
    with tempfile.TemporaryDirectory() as scratch:
        for name, text in BARE_APP.items():
            (Path(scratch) / name).parent.mkdir(parents=True, exist_ok=True)
            (Path(scratch) / name).write_text(text, encoding="utf-8")
        shutil.copytree(ROOT / ".streamlit", Path(scratch) / ".streamlit")
        for _ in range(repeats):
            port = free_port()
            started = time.perf_counter()
            server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)],
                                      cwd=scratch, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                page = _open_home_navigation(chromium, port)
                times.append(time.perf_counter() - started)
                page.close()
            finally:
                server.terminate()
                server.wait(timeout=20)
    return times


def _open_home_navigation(chromium, port: int):
    """A new page on the server's Home, returned once its navigation is usable: the Home page has run to its
    page links and the sidebar's link to Patient can be clicked."""
    page = chromium.new_page(viewport={"width": 1400, "height": 2000})
    page.set_default_timeout(120_000)
    while True:
        try:
            page.goto(f"http://127.0.0.1:{port}/")
            break
        except Exception:  # the server is not listening yet
            time.sleep(0.05)
    page.get_by_role("link", name="Patient — clinicians").wait_for()
    page.locator("[data-testid='stSidebarNav'] a", has_text="Patient").wait_for()
    return page


# ----- 7. set-up ----------------------------------------------------------------------------------
def setup() -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        clone = Path(scratch) / "clone"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        started = time.perf_counter()
        subprocess.run(["make", "install-test"], cwd=clone, check=True, capture_output=True)
        seconds = time.perf_counter() - started
        size = subprocess.run(["du", "-sm", str(clone / ".venv")], capture_output=True, text=True, check=True)
        return {"seconds": seconds, "venv_mb": int(size.stdout.split()[0]),
                "note": "pip's cache and the local torch wheel were warm; a cold machine downloads more"}


# ----- report -------------------------------------------------------------------------------------
def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [f"# Benchmarks ({m['date']})", "", f"{m['cpu']}, {m['cores']} cores; Python {m['python']}, "
             f"torch {m['torch']}. Medians over repeats (spread in brackets).", ""]
    if "training" in report:
        lines += ["## Training to early stop (15,000-row cohort; AUROC on a fresh 50,000-row sample)", "",
                  "| model | median | spread | fresh AUROC |", "|---|---|---|---|"]
        for name, r in report["training"].items():
            auroc = f"{r['fresh_auroc']:.3f}" if "fresh_auroc" in r else "—"
            lines.append(f"| {name} | {r['median_s']:.1f} s | {r['min_s']:.1f}–{r['max_s']:.1f} s | {auroc} |")
        speedup = report["training"]["Ours: cross-fitted ensemble of 5, whole fit"]["batched_speedup"]
        lines += ["", f"Batching the members: **{speedup:.1f}× faster** than training them one after another.", ""]
    if "one_patient" in report:
        o = report["one_patient"]
        lines += ["## One patient, scored and explained", "",
                  f"Ours: median {1e3 * o['ours']['median_s']:.1f} ms, p95 {1e3 * o['ours']['p95_s']:.1f} ms "
                  f"({o['ours']['repeats']} patients). shap KernelExplainer, same model and background: median "
                  f"{o['kernel_explainer']['median_s']:.2f} s. **{o['speedup_vs_kernel']:.0f}× faster.**", ""]
    if "explanation_quality" in report:
        q = report["explanation_quality"]
        lines += ["## Explanation quality", "",
                  f"Local accuracy: max |base + Σ attributions − log-odds| = {q['local_accuracy_max_abs_error']:.1e} "
                  f"over {q['rows_checked']:,} test rows. Against exact Shapley values (all 2^15 coalitions, same "
                  f"background) on {q['patients_compared']} patients: mean relative L1 error "
                  f"{100 * q['mean_relative_l1_error']:.1f} % (max {100 * q['max_relative_l1_error']:.1f} %); top-3 "
                  f"drivers the same set {100 * q['top3_same_set']:.0f} %, same order "
                  f"{100 * q['top3_same_order']:.0f} %, top driver the same {100 * q['top1_same']:.0f} %. "
                  f"Exact values cost {q['exact_seconds_per_patient']:.1f} s a patient.", ""]
    if "ward" in report:
        lines += ["## A ward: read, validated, scored, explained and ranked", "", "| rows | median | spread |",
                  "|---|---|---|"]
        for name, r in report["ward"].items():
            lines.append(f"| {name.split('_')[0]} | {r['median_s']:.3f} s | {r['min_s']:.3f}–{r['max_s']:.3f} s |")
        lines.append("")
    if "trust" in report:
        t = report["trust"]
        i, ty, d, sg = t["interval"], t["typicality"], t["drift"], t["suggestions"]
        lines += ["## When not to trust a risk", "",
                  f"- Interval: in {i['deciles_inside']} of 10 risk deciles of a fresh {i['fresh_rows']:,}-row sample "
                  "the observed event rate lies within the decile's mean [risk_low, risk_high] widened by its "
                  f"binomial SE; median width {100 * i['median_width']:.2f} percentage points.",
                  f"- Typicality at 1 %: {100 * ty['in_distribution_flagged']:.2f} % of the fresh sample flagged; "
                  f"{100 * ty['uniform_flagged']:.1f} % of patients drawn uniformly over the valid ranges "
                  f"({ty['uniform_refused']:,} of 10,000 refused for other reasons).",
                  f"- Drift: {100 * d['false_alarms']:.1f} % false alarms over {d['wards']} random wards of 50; "
                  f"{100 * d['detected_shift']:.1f} % detected with SpO2 4 lower and heart rate 15 higher.",
                  f"- Suggestions: {100 * sg['below_threshold']:.1f} % of {sg['high_tier_patients']} high-tier "
                  f"patients get an option below their threshold ({sg['no_option']} get none); median "
                  f"{1e3 * sg['median_s']:.0f} ms, p95 {1e3 * sg['p95_s']:.0f} ms.", ""]
    if "overnight" in report:
        lines += ["## A hospital overnight: `recovery predict`, no explanations", "",
                  "| rows | format | file | wall time | rows/s | × in-process scoring | in-process rows/s | "
                  "forward-pass rows/s | peak memory |", "|---|---|---|---|---|---|---|---|---|"]
        for name, r in report["overnight"].items():
            for kind in ("csv", "parquet"):
                k = r[kind]
                lines.append(f"| {int(name.split('_')[0]):,} | {kind} | {k['file_mb']:.0f} MB | {k['seconds']:.1f} s | "
                             f"{k['rows_per_s']:,.0f} | {k['ratio_to_in_process']:.1f}× | "
                             f"{r['in_process_rows_per_s']:,.0f} | {r['forward_pass_rows_per_s']:,.0f} | "
                             f"{k['peak_rss_mb']:.0f} MB |")
        lines.append("")
    if "fhir" in report:
        f = report["fhir"]
        lines += ["## FHIR R4 in", "", f"A Bundle of {f['patients']:,} patients ({f['resources']:,} resources, "
                  f"{f['bundle_mb']:.1f} MB): read {f['read']['median_s']:.2f} s, read and scored "
                  f"{f['read_and_scored']['median_s']:.2f} s in process; `recovery predict` on it in a fresh process "
                  f"{f['cli_fresh_process']['median_s']:.2f} s (spread {f['cli_fresh_process']['min_s']:.2f}–"
                  f"{f['cli_fresh_process']['max_s']:.2f} s). Every value read back equals the row it was written "
                  f"from: {'yes' if f['values_equal_to_the_rows'] else 'NO'}.", ""]
    if "cluster" in report:
        c = report["cluster"]
        lines += ["## The Dask engine", "", f"{c['rows']:,} rows in {c['files']} Parquet files, each run a fresh "
                  f"`recovery predict --engine dask` with its own LocalCluster: one worker {c['workers_1_s']:.1f} s, "
                  f"two workers {c['workers_2_s']:.1f} s (**{c['speedup_2_vs_1']:.2f}×**); the one-process path on the "
                  f"same rows as one file {c['one_process_s']:.1f} s. Ranked list identical to the one-process path: "
                  f"{'yes' if c['identical_to_one_process'] else 'NO'}.", ""]
    if "browser" in report and "skipped" not in report["browser"]:
        lines += ["## The app in headless Chromium", "", "| step | median | spread |", "|---|---|---|"]
        for name, r in report["browser"].items():
            lines.append(f"| {name.replace('_', ' ')} | {r['median_s']:.2f} s | {r['min_s']:.2f}–{r['max_s']:.2f} s |")
        lines.append("")
    if "setup" in report:
        s = report["setup"]
        lines += ["## Set-up", "", f"`make install-test` in a fresh clone: {s['seconds']:.0f} s, "
                  f"`.venv` {s['venv_mb']:,} MB ({s['note']}).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="Fewer repeats and smaller files (a smoke run).")
    parser.add_argument("--only", nargs="*", default=None,
                        help="Sections: training one_patient explanation_quality ward trust overnight fhir cluster "
                        "browser setup")
    args = parser.parse_args(argv)
    quick = args.quick
    wanted = set(args.only or ["training", "one_patient", "explanation_quality", "ward", "trust", "overnight",
                               "fhir", "cluster", "browser", "setup"])
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    predictor = Predictor.load()
    report: dict = {"machine": machine()}
    steps = {
        "training": lambda: training(1 if quick else 3),
        "one_patient": lambda: one_patient(predictor, 50 if quick else 300, 1 if quick else 3),
        "explanation_quality": lambda: explanation_quality(predictor, 3 if quick else 20),
        "ward": lambda: ward(predictor, 1 if quick else 3),
        "trust": lambda: trust(predictor, 20_000 if quick else 200_000, 40 if quick else 200, 20 if quick else 200),
        "overnight": lambda: overnight(predictor, [10_000] if quick else [100_000, 1_000_000]),
        "fhir": lambda: fhir(200 if quick else 1000, 1 if quick else 3),
        "cluster": lambda: cluster(200_000 if quick else 4_000_000, 8),
        "browser": lambda: browser(1 if quick else 3),
        "setup": setup,
    }
    for name, step in steps.items():
        if name in wanted:
            started = time.perf_counter()
            report[name] = step()
            print(f"{name}: done in {time.perf_counter() - started:.0f} s", flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "report.json").write_text(json.dumps(report, indent=1))
    (RESULTS / "report.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())


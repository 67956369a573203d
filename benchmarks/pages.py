"""The waits a person feels on the pages, before and after a change, in the same run: submit → risk shown, a second
submit → its risk shown, a ward upload → the ranked table shown, and the Model page opened → its explanations drawn,
warm, in Chromium.

    python -m benchmarks.pages [--before COMMIT] [--repeats N] [--monitoring-log FILE.sqlite]

With `--monitoring-log` (a filled SQLite log, such as `benchmarks.monitor` keeps), each visit runs on a copy of it
and opens the Monitoring page twice: first computing the report (cold), then in a new session from the cache
(warm), each to its table of periods drawn.

The commit before is checked out in a temporary git worktree and run with its own package (PYTHONPATH) and its own
committed model; the two apps take turns, so a slower minute of the machine falls on both. Before the Patient page
rewrite (issue 28) the form opened filled with the training medians; after, it opens empty and the same values
are typed in. Either way the clock runs from the click on "Estimate risk" to the risk on screen, and on to its
waterfall drawn (plotly's title text, so the chart itself and not its placeholder).
Results: benchmarks/results/pages.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from recovery_model.scoring.narrative import percent
from recovery_model.scoring.predictor import Predictor

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "pages.json"
BEFORE_PAGES = "b2d8860"  # the last commit before the issue-28 pages
SECOND = {"age": 80}
CLI = "import sys; from recovery_model.cli import main; sys.exit(main())"  # the tree's own package, by PYTHONPATH


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=BEFORE_PAGES, help="the commit to compare with (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--monitoring-log", type=Path, help="a filled SQLite log for the Monitoring page")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        before = Path(scratch) / "before"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(before), args.before], cwd=ROOT, check=True)
        try:
            result = compare({"before": before, "after": ROOT}, args.repeats, args.monitoring_log)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=ROOT, check=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.strip()
    result |= {"before_commit": args.before, "after_commit": commit, "repeats": args.repeats}
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


def compare(trees: dict[str, Path], repeats: int, monitoring_log: Path | None = None) -> dict:
    from playwright.sync_api import sync_playwright

    from tests.dashboard.test_browser import CHROMIUM, CHROMIUM_ARGS

    times: dict[str, dict[str, list[float]]] = {name: {} for name in trees}
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for _ in range(repeats):
            for name, tree in trees.items():
                for measure, seconds in _one_visit(chromium, tree, monitoring_log).items():
                    times[name].setdefault(measure, []).append(seconds)
        chromium.close()
    return {name: {measure: {"median_s": statistics.median(values), "min_s": min(values), "max_s": max(values)}
                   for measure, values in measured.items()} for name, measured in times.items()}


def _one_visit(chromium, tree: Path, monitoring_log: Path | None) -> dict[str, float]:
    from tests.dashboard.patient_form import fill
    from tests.dashboard.test_browser import free_port

    predictor = Predictor.load(tree / "checkpoints" / "default")
    schema = predictor.schema
    second_risk = percent(float(predictor.predict_risk(pd.DataFrame([schema.defaults() | SECOND]))["risk"].iloc[0]))
    port = free_port()
    env = os.environ | {"PYTHONPATH": str(tree)}
    with tempfile.TemporaryDirectory() as log_dir:
        env["RECOVERY_DATABASE_URL"] = f"sqlite:///{Path(log_dir) / 'log.sqlite'}"
        if monitoring_log is not None:  # a copy: the Patient page's submits are logged into it
            shutil.copyfile(monitoring_log, Path(log_dir) / "log.sqlite")
        subprocess.run([sys.executable, "-c", CLI, "db", "upgrade"], cwd=tree, env=env, check=True, capture_output=True)
        server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(tree / "dashboard" / "app.py"),
                                   "--server.port", str(port), "--server.headless", "true",
                                   "--browser.gatherUsageStats", "false"], cwd=tree, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            return _visit(chromium, port, fill, schema, second_risk) | (
                _monitoring(chromium, port) if monitoring_log is not None else {})
        finally:
            server.terminate()
            server.wait(timeout=20)


def _visit(chromium, port: int, fill, schema, second_risk: str) -> dict[str, float]:
    page = chromium.new_page(viewport={"width": 1280, "height": 720})
    page.set_default_timeout(120_000)
    _open(page, f"http://127.0.0.1:{port}/patient")
    button = page.get_by_role("button", name="Estimate risk")
    button.wait_for()
    if page.get_by_role("spinbutton", name="Age").first.input_value() == "":  # opens empty: type the patient in
        fill(page, schema.defaults(), schema)
    page.wait_for_timeout(1500)  # the explainer warms up while a clinician types
    out = {}
    started = time.perf_counter()
    button.click()
    page.get_by_text("Risk of not recovering", exact=True).first.wait_for()
    out["patient_submit_to_risk_s"] = time.perf_counter() - started
    page.get_by_text("Why this risk:").first.wait_for()
    out["patient_submit_to_waterfall_s"] = time.perf_counter() - started
    fill(page, SECOND, schema)
    page.wait_for_timeout(1500)
    started = time.perf_counter()
    button.click()
    page.get_by_text(second_risk, exact=True).first.wait_for()
    out["patient_second_submit_to_risk_s"] = time.perf_counter() - started
    page.get_by_text("Why this risk:").first.wait_for()
    out["patient_second_submit_to_waterfall_s"] = time.perf_counter() - started
    page.goto(f"http://127.0.0.1:{port}/ward")
    page.get_by_text("Ward CSV or FHIR record", exact=True).wait_for()
    started = time.perf_counter()
    page.locator("input[type='file']").first.set_input_files(str(ROOT / "data" / "sample_ward.csv"))
    page.get_by_text("Ranked by risk").first.wait_for()
    page.locator("[data-testid='stDataFrame'] >> visible=true").first.wait_for()
    out["ward_upload_to_table_s"] = time.perf_counter() - started
    started = time.perf_counter()  # the model is loaded: the Model page opened (a new session), warm
    page.goto(f"http://127.0.0.1:{port}/model")
    page.get_by_text("ROC curve (out-of-fold)").first.wait_for()
    out["model_page_open_s"] = time.perf_counter() - started
    started = time.perf_counter()
    page.get_by_role("tab", name="Explanations").click()
    page.get_by_text("Every patient, every feature").first.wait_for()
    page.get_by_text("moves the risk").first.wait_for()  # the shape function or, before, the dependence plot
    out["model_explanations_tab_s"] = time.perf_counter() - started
    page.close()
    return out


def _monitoring(chromium, port: int) -> dict[str, float]:
    """The Monitoring page opened to its table of periods drawn: first computing the report, then in a new session
    (the report cached)."""
    out = {}
    for measure in ("monitoring_page_cold_s", "monitoring_page_warm_s"):
        page = chromium.new_page(viewport={"width": 1280, "height": 720})
        page.set_default_timeout(300_000)
        started = time.perf_counter()
        page.goto(f"http://127.0.0.1:{port}/monitoring")
        page.get_by_text("Per period", exact=True).wait_for()
        page.locator("[data-testid='stDataFrame'] >> visible=true").first.wait_for()
        out[measure] = time.perf_counter() - started
        page.close()
    return out


def _open(page, url: str) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            page.goto(url)
            return
        except Exception:  # the server is not listening yet
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


if __name__ == "__main__":
    main()

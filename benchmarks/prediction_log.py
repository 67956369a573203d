"""The prediction log's targets: `python -m benchmarks.prediction_log` (or `make benchmark-log`).

- logging overhead: `recovery predict` on 200,000 rows, each run a fresh process, without the log, with the SQLite
  file and with PostgreSQL (runs interleaved, medians); and one Patient-page estimate's write;
- `recovery monitor` over 1,000,000 logged predictions with outcomes;
- `recovery update` over the same million;
- 6 concurrent `recovery predict` writers and a dashboard's single-row writes into one SQLite file: every row
  there, no "database is locked".
PostgreSQL is $RECOVERY_TEST_POSTGRES (default the local socket's `postgres`); without a server its figures are
left out and the report says so. Writes benchmarks/results/prediction_log.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

from recovery_model import Predictor, generate_cohort
from recovery_model.log.database import upgrade
from recovery_model.log.records import Context, Source, driver_texts, prediction_records
from recovery_model.log.store import PredictionLog

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
RECOVERY = str(Path(sys.executable).parent / "recovery")
ADMIN_URL = os.environ.get("RECOVERY_TEST_POSTGRES", "postgresql+psycopg:///postgres")


def ward_file(folder: Path, rows: int, seed: int, prefix: str = "H") -> Path:
    frame = generate_cohort(rows, seed).drop(columns="recovered")
    frame.insert(0, "patient_id", [f"{prefix}{i:07d}" for i in range(rows)])
    path = folder / f"{prefix}_{rows}.csv"
    frame.to_csv(path, index=False)
    return path


def sqlite_url(folder: Path, name: str) -> str:
    url = f"sqlite:///{folder / name}"
    upgrade(url)
    return url


def postgres_url() -> str | None:
    """A new, migrated database on the server, or None when there is no server."""
    from sqlalchemy import create_engine, make_url, text
    from sqlalchemy.exc import OperationalError

    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"recovery_bench_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError:
        return None
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    return url


def predict(source: Path, output: Path, url: str | None) -> float:
    env = {**os.environ, "RECOVERY_DATABASE_URL": url or "sqlite:///unused"}
    command = [RECOVERY, "predict", "--input", str(source), "--output", str(output)] + ([] if url else ["--no-log"])
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=env)
    return time.perf_counter() - started


def overhead(rows: int, repeats: int) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        source = ward_file(folder, rows, 21)
        targets = {"no_log": None, "sqlite": sqlite_url(folder, "overhead.sqlite"), "postgresql": postgres_url()}
        times: dict[str, list[float]] = {name: [] for name, url in targets.items() if name == "no_log" or url}
        for _ in range(repeats):  # interleaved, so that the machine's noise falls on every variant alike
            for name in times:
                times[name].append(predict(source, folder / "ranked.csv", targets[name]))
        out: dict = {"rows": rows, "repeats": repeats, "postgresql_server": "measured" if targets["postgresql"] else
                     f"no server at {ADMIN_URL}"}
        base = statistics.median(times["no_log"])
        for name, seconds in times.items():
            median = statistics.median(seconds)
            out[name] = {"median_s": median, "all_s": seconds, "ratio": median / base,
                         "logged_rows_per_s": rows / median if name != "no_log" else None}
        for name in ("sqlite", "postgresql"):
            if targets[name]:
                out[name]["rows_in_log"] = PredictionLog.open(targets[name]).count()
    return out


def patient_submit(predictor: Predictor, repeats: int) -> dict:
    """One Patient-page estimate: building its record and writing it (the page's `log_rows`), in process."""
    ward = pd.read_csv(ROOT / "data" / "sample_ward.csv").iloc[:1]
    assessment = predictor.assess(ward)
    out = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name, url in (("sqlite", sqlite_url(Path(scratch), "patient.sqlite")), ("postgresql", postgres_url())):
            if url is None:
                continue
            log = PredictionLog.open(url)
            times = []
            for _ in range(repeats):
                started = time.perf_counter()
                log.write(prediction_records(assessment.rows, predictor.schema,
                                             Context.for_model(predictor, Source.PATIENT),
                                             driver_texts(assessment.rows, assessment.explanation, predictor.schema)))
                times.append(time.perf_counter() - started)
            out[name] = {"median_ms": 1000 * statistics.median(times), "p95_ms": 1000 * float(np.percentile(times, 95))}
    return out


def fill_log(log: PredictionLog, predictor: Predictor, rows: int, folder: Path) -> int:
    """`rows` predictions over 26 weeks on 4 wards, each with its true outcome 5 days later; the outcomes linked."""
    from datetime import UTC, datetime, timedelta

    from recovery_model.log.outcomes import import_outcomes

    start = datetime(2026, 1, 5, tzinfo=UTC)
    chunk, outcomes = 50_000, []
    for i in range(rows // chunk):
        cohort = generate_cohort(chunk, 100 + i)
        cohort.insert(0, "patient_id", [f"M{i:03d}-{j:05d}" for j in range(chunk)])
        when = start + timedelta(days=7 * i * 26 // (rows // chunk))
        ranked = predictor.rank(cohort.drop(columns="recovered"), explain=False)
        log.write(prediction_records(ranked.ranked, predictor.schema,
                                     Context.for_model(predictor, Source.CLI_PREDICT, predicted_at=when,
                                                       ward=f"ward {i % 4}")))
        outcomes.append(cohort[["patient_id", "recovered"]].assign(outcome_time=(when + timedelta(days=5)).isoformat()))
    pd.concat(outcomes).to_csv(folder / "outcomes.csv", index=False)
    return import_outcomes(log, folder / "outcomes.csv", predictor.schema).linked


def monitor(predictor: Predictor, rows: int) -> dict:
    """`recovery monitor` (the whole command, a fresh process) over `rows` logged predictions, all with outcomes."""
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        url = sqlite_url(folder, "monitor.sqlite")
        log = PredictionLog.open(url)
        started = time.perf_counter()
        linked = fill_log(log, predictor, rows, folder)
        filled = time.perf_counter() - started
        env = {**os.environ, "RECOVERY_DATABASE_URL": url}
        times = []
        for period in ("week", "month"):
            started = time.perf_counter()
            subprocess.run([RECOVERY, "monitor", "--period", period, "--output", str(folder / "report.json")],
                           check=True, capture_output=True, env=env)
            times.append(time.perf_counter() - started)
        report = json.loads((folder / "report.json").read_text())
    return {"rows": log.count(), "linked_outcomes": linked, "fill_s": filled, "monitor_week_s": times[0],
            "monitor_month_s": times[1], "periods_month": len(report["periods"])}


def update_run(predictor: Predictor, rows: int) -> dict:
    """`recovery update` (the whole command, a fresh process) over `rows` logged predictions, all with outcomes: it
    reads them all and learns from the latest `MAX_PATIENTS` (a refit is then weighed: thousands of events)."""
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        url = sqlite_url(folder, "update.sqlite")
        log = PredictionLog.open(url)
        fill_log(log, predictor, rows, folder)
        env = {**os.environ, "RECOVERY_DATABASE_URL": url}
        started = time.perf_counter()
        subprocess.run([RECOVERY, "update", "--output", str(folder / "candidate")], check=True, capture_output=True,
                       env=env)
        seconds = time.perf_counter() - started
        summary = json.loads((folder / "candidate" / "update.json").read_text())
    return {"rows": rows, "update_s": seconds, "method": summary["method"], "used": summary["matured"]["used"],
            "refit_considered": summary["refit"]["considered"],
            "development_events": summary["development"]["events"]}


_DASHBOARD_WRITER = """
import json, sys, time
import pandas as pd
from recovery_model import Predictor
from recovery_model.log.records import Context, Source, driver_texts, prediction_records
from recovery_model.log.store import PredictionLog
predictor = Predictor.load()
log = PredictionLog.open(sys.argv[1])
rows = predictor.assess(pd.read_csv(sys.argv[2]).iloc[:1], explain=False).rows
written, errors, until = 0, [], time.time() + float(sys.argv[3])
while time.time() < until:
    try:
        written += log.write(prediction_records(rows, predictor.schema, Context.for_model(predictor, Source.PATIENT)))
    except Exception as exc:
        errors.append(str(exc))
    time.sleep(0.01)
print(json.dumps({"written": written, "errors": errors}))
"""


def concurrent_writers(writers: int, rows: int) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        url = sqlite_url(folder, "shared.sqlite")
        sources = [ward_file(folder, rows, 40 + w, prefix=f"W{w}") for w in range(writers)]
        env = {**os.environ, "RECOVERY_DATABASE_URL": url}
        started = time.perf_counter()
        jobs = [subprocess.Popen([RECOVERY, "predict", "--input", str(s), "--output", str(folder / f"out{w}.csv")],
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for w, s in enumerate(sources)]
        dashboard = subprocess.Popen([sys.executable, "-c", _DASHBOARD_WRITER, url, str(ROOT / "data" /
                                                                                     "sample_ward.csv"), "20"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        results = [(*job.communicate(), job.returncode) for job in jobs]
        page_out, page_err = dashboard.communicate()
        seconds = time.perf_counter() - started
        page = json.loads(page_out.strip().splitlines()[-1])
        messages = " ".join(err for _, err, _ in results) + page_err + " ".join(page["errors"])
        count = PredictionLog.open(url).count()
    expected = writers * rows + page["written"]
    return {"writers": writers, "rows_each": rows, "dashboard_rows": page["written"], "rows_in_log": count,
            "expected_rows": expected, "nothing_lost": count == expected,
            "failed_runs": sum(code != 0 for *_, code in results), "database_is_locked": "locked" in messages,
            "seconds": seconds}


def markdown(report: dict) -> str:
    o, p, m, c, u = (report.get(k, {}) for k in ("overhead", "patient_submit", "monitor", "concurrent", "update"))
    lines = ["# Prediction log benchmarks", ""]
    if o:
        lines += [f"`recovery predict`, {o['rows']:,} rows, CSV, fresh processes, medians of {o['repeats']} "
                  f"(PostgreSQL: {o['postgresql_server']}):", ""]
        lines += [f"- {name}: {v['median_s']:.2f} s, {v['ratio']:.2f}× no log"
                  + (f", {v['logged_rows_per_s']:,.0f} logged rows/s" if v.get("logged_rows_per_s") else "")
                  for name, v in o.items() if isinstance(v, dict)]
    if p:
        lines += ["", "One Patient-page estimate written: " + "; ".join(
            f"{name} {v['median_ms']:.1f} ms (p95 {v['p95_ms']:.1f})" for name, v in p.items())]
    if m:
        lines += ["", f"`recovery monitor` over {m['rows']:,} predictions ({m['linked_outcomes']:,} outcomes): "
                  f"weekly {m['monitor_week_s']:.1f} s, monthly {m['monitor_month_s']:.1f} s (whole command)"]
    if c:
        lines += ["", f"{c['writers']} concurrent `recovery predict` × {c['rows_each']:,} rows and a dashboard "
                  f"({c['dashboard_rows']} single-row writes) into one SQLite file in {c['seconds']:.1f} s: "
                  f"{c['rows_in_log']:,} of {c['expected_rows']:,} rows, failed runs {c['failed_runs']}, "
                  f"'database is locked' {'seen' if c['database_is_locked'] else 'never'}"]
    if u:
        lines += ["", f"`recovery update` over {u['rows']:,} predictions with outcomes (learning from the latest "
                  f"{u['used']:,}, {u['development_events']} development events, refit "
                  f"{'weighed' if u['refit_considered'] else 'not weighed'}): {u['update_s']:.1f} s (whole command), "
                  f"chose {u['method']}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="Smaller sizes (a smoke run).")
    parser.add_argument("--only", nargs="*", default=None,
                        help="overhead patient_submit monitor concurrent update")
    args = parser.parse_args(argv)
    wanted = set(args.only or ["overhead", "patient_submit", "monitor", "concurrent", "update"])
    predictor = Predictor.load()
    steps = {"overhead": lambda: overhead(20_000 if args.quick else 200_000, 1 if args.quick else 3),
             "patient_submit": lambda: patient_submit(predictor, 20 if args.quick else 200),
             "monitor": lambda: monitor(predictor, 100_000 if args.quick else 1_000_000),
             "concurrent": lambda: concurrent_writers(6, 5_000 if args.quick else 50_000),
             "update": lambda: update_run(predictor, 100_000 if args.quick else 1_000_000)}
    report = {}
    for name, step in steps.items():
        if name in wanted:
            report[name] = step()
            print(f"{name}: {json.dumps(report[name])}", flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "prediction_log.json").write_text(json.dumps(report, indent=1))
    (RESULTS / "prediction_log.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())

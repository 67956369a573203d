"""The monitor's aggregation on an existing engine: `python -m benchmarks.monitor_engine --database URL`.

Beyond one database server, the log is exported to Parquet, one file per period (each scored prediction's risk,
its linked outcome or none, and whether it was in the high tier: what `period_values` reads), and a Dask cluster
(`LocalCluster`, 2 single-thread workers) computes each period's figures, one task per file, with no shuffle: the
predictions scored, those with an outcome, the events, the expected events (the sum of their risks), observed over
expected, the flag rate and the exact AUROC from the period's ranks (Mann-Whitney, ties averaged). The same log's
`recovery monitor --period week --output report.json` runs in a fresh process beside it; every figure is compared,
period by period, to 1e-9 (the outcome figures where the report has them: matured periods).

Times: the monitor command (whole, fresh process), the export, the cluster's start, and the aggregation itself.
Results: benchmarks/results/monitor_engine.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from recovery_model.log.monitoring import period_values
from recovery_model.log.store import PredictionLog
from recovery_model.monitoring.data import read_monitoring_data
from recovery_model.monitoring.report import period_end
from recovery_model.schema import load_schema

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
TOLERANCE = 1e-9
FIGURES = ("scored", "with_outcome", "events", "expected_events", "observed_expected", "flag_rate", "auroc")
META = pd.DataFrame({"start": pd.Series(dtype=str), **{name: pd.Series(dtype=float) for name in FIGURES}})


def export(url: str, folder: Path, period: str) -> int:
    """The log's scored predictions as Parquet, one file per period; the rows written."""
    log = PredictionLog.open(url)
    data = read_monitoring_data(log, load_schema())
    written = 0
    for start in data.period_starts(period):
        values = period_values(log, start.to_pydatetime(), period_end(start, period).to_pydatetime(), [], False)
        if not len(values):
            continue
        table = pa.table({"start": pa.array([start.date().isoformat()] * len(values)), "risk": values[:, 0],
                          "event": values[:, 1], "high": values[:, 2] == 1})
        pq.write_table(table, folder / f"{start.date().isoformat()}.parquet")
        written += len(values)
    return written


def period_figures(part: pd.DataFrame) -> pd.DataFrame:
    """One period's figures from its rows alone (a Dask partition is one period's file)."""
    if not len(part):
        return META.copy()
    linked = part["event"].notna().to_numpy()
    risk, event = part["risk"].to_numpy()[linked], part["event"].to_numpy()[linked] == 1
    events, expected = int(event.sum()), float(risk.sum())
    positives, negatives = events, len(event) - events
    auroc = math.nan
    if positives and negatives:
        ranks = pd.Series(risk).rank(method="average").to_numpy()
        auroc = (ranks[event].sum() - positives * (positives + 1) / 2) / (positives * negatives)
    return pd.DataFrame({"start": [part["start"].iloc[0]], "scored": [float(len(part))],
                         "with_outcome": [float(linked.sum())], "events": [float(events)],
                         "expected_events": [expected], "observed_expected": [events / expected if expected else
                                                                              math.nan],
                         "flag_rate": [float(part["high"].mean())], "auroc": [auroc]})


def aggregate(folder: Path) -> tuple[pd.DataFrame, float, float]:
    """Every period's figures on a two-worker Dask cluster; the cluster's start and the computation's seconds."""
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    started = time.perf_counter()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster):
        cluster_s = time.perf_counter() - started
        started = time.perf_counter()
        frame = dd.read_parquet(str(folder), split_row_groups=False)
        figures = frame.map_partitions(period_figures, meta=META).compute()
        compute_s = time.perf_counter() - started
    return figures.sort_values("start").reset_index(drop=True), cluster_s, compute_s


def monitor(url: str, output: Path, period: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "recovery_model.cli", "monitor", "--period", period, "--output",
                    str(output)], env={**os.environ, "RECOVERY_DATABASE_URL": url}, check=True, capture_output=True)
    return time.perf_counter() - started


def compare(report: dict, figures: pd.DataFrame) -> dict:
    """The largest gap per figure between the report and the engine, over the periods both hold."""
    by_start = {row["start"]: row for row in figures.to_dict("records")}
    gaps = dict.fromkeys(FIGURES, 0.0)
    compared = 0
    for period in report["periods"]:
        engine = by_start.pop(period["start"], None)
        if engine is None:
            gaps["scored"] = math.inf  # a period the engine lacks is a mismatch
            continue
        compared += 1
        for name in FIGURES:
            if name in ("scored", "with_outcome", "flag_rate") or period.get(name) is not None:
                gap = abs(float(period[name]) - float(engine[name]))
                gaps[name] = max(gaps[name], math.inf if math.isnan(gap) else gap)
    return {"periods": compared, "periods_only_in_the_engine": len(by_start), "largest_gap": gaps,
            "equal": not by_start and all(gap <= TOLERANCE for gap in gaps.values())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True, help="The log's URL (a filled one: see benchmarks.monitor).")
    parser.add_argument("--period", choices=("week", "month"), default="week")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        folder, report_path = Path(scratch) / "log", Path(scratch) / "report.json"
        folder.mkdir()
        monitor_s = monitor(args.database, report_path, args.period)
        started = time.perf_counter()
        rows = export(args.database, folder, args.period)
        export_s = time.perf_counter() - started
        figures, cluster_s, compute_s = aggregate(folder)
        result = {"database": args.database.split(":", 1)[0], "rows": rows, "period": args.period,
                  "monitor_command_s": monitor_s, "export_s": export_s, "cluster_start_s": cluster_s,
                  "dask_aggregation_s": compute_s,
                  "parquet_mb": sum(p.stat().st_size for p in folder.iterdir()) / 2**20,
                  "comparison": compare(json.loads(report_path.read_text()), figures)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "monitor_engine.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return 0 if result["comparison"]["equal"] else 1


if __name__ == "__main__":
    sys.exit(main())

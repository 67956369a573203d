"""`recovery monitor`: the deployed model's report from the prediction log; `recovery export` for seismometer."""

from __future__ import annotations

import argparse
import getpass
import json
from pathlib import Path

from recovery_model.cli.options import checkpoint_option, in_use, positive_count, seed
from recovery_model.errors import RecoveryError


def _monitor(args: argparse.Namespace) -> int:
    from recovery_model.access import AuditLog
    from recovery_model.log.store import PredictionLog
    from recovery_model.monitoring.markdown import report_markdown
    from recovery_model.monitoring.report import ReportSettings
    from recovery_model.monitoring.run import run_monitor
    from recovery_model.scoring.predictor import Predictor

    suffix = args.output.suffix.lower()
    if suffix not in (".json", ".md"):
        raise RecoveryError(f"--output {args.output}: the report is written as .json or .md.")
    settings = ReportSettings(args.period, args.window_days, _start(args.since, "--since"),
                              _start(args.until, "--until"))
    predictor = Predictor.load(in_use(args))
    run = run_monitor(PredictionLog.open(), predictor, settings, args.compare)
    AuditLog().record("log_read", user=getpass.getuser(), what="monitor", rows=run.rows)
    for name in run.not_compared:
        print(f"--compare {name}: the model in use ({predictor.version}) has no predictions with an outcome in "
              "this span to compare it on.")
    report = run.report
    args.output.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=1, allow_nan=False) + "\n" if suffix == ".json" else report_markdown(report)
    args.output.write_text(text, encoding="utf-8")
    print(f"{run.rows} predictions in {len(report['periods'])} {args.period}s; "
          f"{len(report['alerts'])} alert{'s' if len(report['alerts']) != 1 else ''}. Report written to {args.output}.")
    for alert in report["alerts"]:
        print(f"alert: {alert['period']} {alert['kind']}: {alert['message']}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from recovery_model.access import AuditLog
    from recovery_model.log.store import PredictionLog
    from recovery_model.monitoring.data import read_prediction_rows
    from recovery_model.monitoring.seismometer import export_seismometer
    from recovery_model.scoring.checkpoint import read_header

    header = read_header(in_use(args))
    log = PredictionLog.open()
    rows = read_prediction_rows(log, header.schema, _start(args.since, "--since"), _start(args.until, "--until"))
    counts = export_seismometer(log, rows, header.schema, header.thresholds, args.output, args.window_days)
    AuditLog().record("log_export", user=getpass.getuser(), what="seismometer", rows=counts["predictions"])
    print(f"{counts['predictions']} predictions and {counts['events']} outcomes written to {args.output} in "
          f"seismometer's layout. Open it with: import seismometer as sm; sm.run_startup(config_path='{args.output}')")
    return 0


def _start(text: str | None, option: str):
    """--since and --until are the first moment of the day they name (--since inclusive, --until exclusive)."""
    from recovery_model.times import parse_start

    return parse_start(text, option) if text else None


def _simulate(args: argparse.Namespace) -> int:
    from recovery_model.log.database import upgrade
    from recovery_model.log.store import PredictionLog
    from recovery_model.monitoring.simulation import Deployment, simulate_deployment
    from recovery_model.paths import SIMULATION_DATABASE
    from recovery_model.scoring.predictor import Predictor
    from recovery_model.settings import DATABASE_ENV
    from recovery_model.times import as_utc

    url = args.database or f"sqlite:///{SIMULATION_DATABASE}"
    if not args.database:
        SIMULATION_DATABASE.parent.mkdir(parents=True, exist_ok=True)
    upgrade(url)
    log = PredictionLog.open(url)
    if log.count():
        raise RecoveryError(f"{log.location.shown} already holds {log.count()} predictions; a simulation is written "
                            "into a database of its own. Delete it, or give --database a new one.")
    start = as_utc(_start(args.start, "--start"))
    deployment = Deployment(args.months, args.drift_from_month, args.shift, args.patients_per_week, start=start,
                            seed=args.seed)
    shadow = None if args.shadow is None else Predictor.load(args.shadow)
    counts = simulate_deployment(log, Predictor.load(args.checkpoint), deployment, shadow)
    print(f"{counts['weeks']} weeks simulated: {counts['predictions']} predictions logged, {counts['outcomes']} "
          f"outcomes recorded ({counts['linked']} linked); outcomes drift from {deployment.drift_start:%Y-%m-%d} "
          f"(log-odds {args.shift:+g}). See it with:\n  {DATABASE_ENV}={url} recovery monitor --period month "
          "--window-days 15 --output simulation.md")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    monitor = commands.add_parser("monitor", help="How the deployed model does: per period, from the prediction "
                                  "log and the outcomes recorded, with alerts.")
    monitor.add_argument("--period", choices=("week", "month"), default="week",
                         help="ISO weeks from Monday, or calendar months (UTC).")
    monitor.add_argument("--since", default=None, help="First day (inclusive, ISO date).")
    monitor.add_argument("--until", default=None, help="Last day (exclusive, ISO date).")
    monitor.add_argument("--window-days", type=positive_count, default=30,
                         help="The outcome window: a period matures this many days after it ends, once outcomes "
                         "have arrived that far (default 30, as `recovery outcomes`).")
    monitor.add_argument("--output", type=Path, required=True, help="report.json or report.md")
    monitor.add_argument("--compare", action="append", default=[], metavar="VERSION",
                         help="Also a registered past version (or digest) on the same patients: the logged inputs of "
                         "the model in use's matured predictions scored again by it (repeat for more).")
    checkpoint_option(monitor)
    monitor.set_defaults(handler=_monitor)

    export = commands.add_parser("export", help="The prediction log and outcomes for another tool.")
    export.add_argument("--format", choices=("seismometer",), required=True,
                        help="seismometer: Epic's open-source tool's layout (config, usage config, Parquet files).")
    export.add_argument("--output", type=Path, required=True, help="A folder.")
    export.add_argument("--since", default=None, help="First day of predictions (inclusive, ISO date).")
    export.add_argument("--until", default=None, help="Last day (exclusive, ISO date).")
    export.add_argument("--window-days", type=positive_count, default=30,
                        help="The outcome window seismometer links outcomes to predictions by (default 30).")
    checkpoint_option(export)
    export.set_defaults(handler=_export)

    simulate = commands.add_parser("simulate-deployment", help="Months of synthetic wards scored and logged, their "
                                   "outcomes drawn from the oracle, and calibration drifting from a month on: to try "
                                   "the monitor.")
    simulate.add_argument("--months", type=positive_count, default=6)
    simulate.add_argument("--drift-from-month", type=positive_count, default=4,
                          help="The first month (counted from 1) whose outcomes no longer follow the model.")
    simulate.add_argument("--shift", type=float, default=1.0,
                          help="How far the outcomes' log-odds move from the drifted month on (default +1).")
    simulate.add_argument("--patients-per-week", type=positive_count, default=200)
    simulate.add_argument("--start", default="2026-01-05", help="The first Monday (ISO date).")
    simulate.add_argument("--seed", type=seed, default=0)
    simulate.add_argument("--database", default=None,
                          help="Where to log it (a database URL; default data/local/simulation.sqlite): never the "
                          "production log.")
    simulate.add_argument("--shadow", type=Path, default=None,
                          help="A checkpoint that also scores every patient, logged and never shown (as `recovery "
                          "models shadow` does), for the monitor to compare with the model in use.")
    checkpoint_option(simulate)
    simulate.set_defaults(handler=_simulate)

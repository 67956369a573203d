"""`recovery predict` and `recovery suggest`: a ward ranked by risk, and what could lower a few patients' risks."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

from recovery_model.cli.options import checkpoint_option, fraction, in_use, positive_count
from recovery_model.errors import RecoveryError

SHOWN_PROBLEMS = 50
ENGINES = ("local", "dask")


def _predict(args: argparse.Namespace) -> int:
    from recovery_model.batch.engines import BatchJob, DaskEngine, Engine, LocalEngine
    from recovery_model.log.registry import shadow_in_use

    _check_engine_options(args)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    rejected_path = args.output.with_name(f"{args.output.stem}_rejected.csv")
    rejected_path.unlink(missing_ok=True)
    log = None if args.no_log else _open_log()
    local = args.engine == "local"
    shadow = shadow_in_use(args.checkpoint) if log is not None and local else None  # a cluster runs no shadow
    job = BatchJob(args.input, args.output, rejected_path, in_use(args), top_k=args.top_k, threshold=args.threshold,
                   explain=args.explain, chunk_rows=args.chunk_rows, as_of=_as_of(args.as_of), log=log,
                   ward=args.ward, user=getpass.getuser(), shadow=shadow)
    engine: Engine = LocalEngine(args.format) if local else DaskEngine(args.scheduler, args.workers)
    run = engine.run(job)
    result = run.result
    counts = result.counts
    print(f"{counts['rows']} rows in: {counts['scored']} scored ({counts['flagged']} flagged), "
          f"{counts['rejected']} rejected. Ranked list written to {args.output}.")
    print(f"{result.logged} predictions logged to {log.location.shown}." if log is not None else
          "Not logged (--no-log).")
    if run.shadow is not None:
        print(f"Also scored in the shadow by {run.shadow.version} ({run.shadow.short_digest}), logged and not in "
              "the list.")
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    _print_record_problems(result.record_problems)
    if result.drift is not None:
        print(("Drift: " if result.drift.drifted else "") + result.drift.summary)
    if args.drift_report and result.drift is not None:
        args.drift_report.write_text(json.dumps(result.drift.to_dict(), indent=1, allow_nan=True) + "\n",
                                     encoding="utf-8")
        print(f"Drift report written to {args.drift_report}.")
    if result.rejected:
        print(f"Rejected rows, with the reason for each, written to {rejected_path}:", file=sys.stderr)
        for row, problem in result.rejected[:SHOWN_PROBLEMS]:
            print(f"  row {row}: {problem}", file=sys.stderr)
        if len(result.rejected) > SHOWN_PROBLEMS:
            print(f"  ... and {len(result.rejected) - SHOWN_PROBLEMS} more in {rejected_path}", file=sys.stderr)
    return 0


def _open_log():
    """The prediction log, opened before anything is scored: a database that cannot be used stops the run."""
    from recovery_model.log.store import PredictionLog

    return PredictionLog.open()


def _as_of(text: str | None):
    if not text:
        return None
    from recovery_model.times import parse_as_of

    return parse_as_of(text)


def _check_engine_options(args: argparse.Namespace) -> None:
    """Options that one engine would ignore are refused, so nobody believes they took effect."""
    wrong = ([f"--{name}" for name in ("format",) if getattr(args, name)]
             if args.engine == "dask" else
             [f"--{name}" for name in ("scheduler", "workers") if getattr(args, name)])
    if wrong:
        other = "local" if args.engine == "dask" else "dask"
        raise RecoveryError(f"{' and '.join(wrong)} {'is' if len(wrong) == 1 else 'are'} for --engine {other}; "
                            f"this run uses --engine {args.engine}.")


def _print_record_problems(problems: list) -> None:
    """What reading a FHIR record left blank, by patient (also in each row's fhir_notes column)."""
    if not problems:
        return
    print(f"Reading the FHIR record left values blank or resources unread ({len(problems)}; also in the "
          "fhir_notes column):", file=sys.stderr)
    for problem in problems[:SHOWN_PROBLEMS]:
        print(f"  patient {problem.patient}: {problem}", file=sys.stderr)
    if len(problems) > SHOWN_PROBLEMS:
        print(f"  ... and {len(problems) - SHOWN_PROBLEMS} more in the fhir_notes column", file=sys.stderr)


def _suggest(args: argparse.Namespace) -> int:
    from recovery_model.readers.table import read_patients
    from recovery_model.scoring.assessment import missing_inputs
    from recovery_model.scoring.columns import (
        ATYPICAL,
        ATYPICAL_FEATURES,
        CHANGED,
        MISSING_RISK_HIGH,
        MISSING_RISK_LOW,
        NOT_SCORED,
        PROBLEMS,
        RISK,
        RISK_HIGH,
        RISK_LOW,
        ROW,
        TIER,
    )
    from recovery_model.scoring.narrative import change_text, missing_note, percent
    from recovery_model.scoring.predictor import Predictor

    predictor = Predictor.load(in_use(args))
    schema = predictor.schema
    frame = read_patients(args.input, schema).frame
    if len(frame) > args.max_patients:
        raise RecoveryError(f"{args.input} holds {len(frame)} patients; `recovery suggest` is for a few at a time "
                            f"(at most {args.max_patients}, --max-patients). Rank a ward with `recovery predict`.")
    rows = predictor.predict_risk(frame)
    for i, row in rows.iterrows():
        name = row.get(schema.id_column, f"row {row[ROW]}")
        if row[TIER] == NOT_SCORED:
            print(f"{name}: not scored: {row[PROBLEMS]}")
            continue
        print(f"{name}: {schema.target.risk_of} {percent(row[RISK])} (range {percent(row[RISK_LOW])}–"
              f"{percent(row[RISK_HIGH])}), {row[TIER]} tier")
        if lacks := missing_note(missing_inputs(row, schema), row[MISSING_RISK_LOW], row[MISSING_RISK_HIGH],
                                 row[RISK_LOW], row[RISK_HIGH]):
            print(f"  {lacks}")
        if row[ATYPICAL]:
            print(f"  unlike the patients this model learned from: {row[ATYPICAL_FEATURES]}")
        options = predictor.suggest_changes(frame.loc[[i]])
        if not len(options):
            print("  no change to the modifiable factors lowers this risk in the model")
        for number, option in options.iterrows():
            changes = "; ".join(change_text(schema.feature(f), row[f], option[f]) for f in option[CHANGED])
            print(f"  option {number + 1}: {changes} → {percent(option[RISK])} (range {percent(option[RISK_LOW])}–"
                  f"{percent(option[RISK_HIGH])}){', unlike the training patients' if option[ATYPICAL] else ''}")
    print("Options are associations the model learned from data, not causal advice.")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    from recovery_model.readers.formats import Format

    predict = commands.add_parser("predict", help="Rank a ward (CSV, Parquet or FHIR R4) by risk, highest first.")
    predict.add_argument("--input", type=Path, required=True,
                         help="A CSV, Parquet or FHIR file (or a FHIR bulk-export folder); with --engine dask, a "
                         "folder or glob of CSV and Parquet files.")
    predict.add_argument("--output", type=Path, required=True,
                         help="CSV or Parquet by extension; with --engine dask, a folder of Parquet files unless "
                         "it ends in .csv.")
    checkpoint_option(predict)
    predict.add_argument("--top-k", type=positive_count, default=None, help="Flag the K highest-risk patients.")
    predict.add_argument("--threshold", type=fraction, default=None,
                         help="Flag risks at or above this fraction (0.20 for 20 %%; default: the model's high-risk "
                         "threshold).")
    predict.add_argument("--explain", action="store_true", help="Add the top 3 drivers per patient.")
    predict.add_argument("--format", choices=[f.value for f in Format], default=None,
                         help="Read (and, for csv and parquet, write) this format. Default: by each file's "
                         "extension: .parquet, .csv, or FHIR for .json (a Bundle), .ndjson or a bulk-export folder.")
    predict.add_argument("--as-of", default=None,
                         help="The index time (ISO date or date-time, UTC unless it says otherwise; default now): "
                         "the prediction time logged; for FHIR input each value is the latest at or before it; and "
                         "a value older than its shelf life then (a FHIR date, or a <feature>_time column) is not "
                         "recorded.")
    predict.add_argument("--ward", default=None,
                         help="The ward or unit these patients are on, logged with each prediction (the monitor "
                         "counts alerts per ward).")
    predict.add_argument("--no-log", action="store_true",
                         help="Do not write these predictions to the prediction log (research runs).")
    predict.add_argument("--drift-report", type=Path, default=None,
                         help="Also write the comparison with the training data (drift) to this JSON file.")
    predict.add_argument("--chunk-rows", type=positive_count, default=50_000,
                         help="Rows held in memory at once; any file size streams through. With --engine dask, also "
                         "the size of a partition of a Parquet file.")
    predict.add_argument("--engine", choices=ENGINES, default="local",
                         help="local: this process. dask: partitions scored on a Dask cluster, ranked globally.")
    predict.add_argument("--scheduler", default=None,
                         help="--engine dask: the scheduler's address (tcp://host:8786); default a cluster on this "
                         "machine.")
    predict.add_argument("--workers", type=positive_count, default=None,
                         help="--engine dask without --scheduler: worker processes on this machine (default: "
                         "one per core).")
    predict.set_defaults(handler=_predict)

    suggest = commands.add_parser("suggest", help="For a few patients: risk with its range, typicality, and what "
                                  "changes to modifiable factors the model scores lower.")
    suggest.add_argument("--input", type=Path, required=True, help="A CSV, Parquet or FHIR file of a few patients.")
    checkpoint_option(suggest)
    suggest.add_argument("--max-patients", type=positive_count, default=50)
    suggest.set_defaults(handler=_suggest)

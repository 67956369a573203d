"""The `recovery` command line: generate data, train, evaluate and predict."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from recovery_model.config import CONFIGS
from recovery_model.errors import RecoveryError
from recovery_model.paths import DATA_DIR, DEFAULT_CHECKPOINT
from recovery_model.schema import Schema, load_schema

DEFAULT_ROWS = 15_000
DEFAULT_SEED = 42


def _generate(args: argparse.Namespace) -> int:
    from recovery_model.cohort import generate_cohort, make_sample_ward
    from recovery_model.io import write_csv

    cohort = generate_cohort(args.rows, args.seed)
    write_csv(cohort, args.output)
    print(f"Wrote {len(cohort):,} patients to {args.output} "
          f"(non-recovery {1 - cohort['recovered'].mean():.2%}, seed {args.seed}).")
    if args.ward_output:
        ward = make_sample_ward()
        write_csv(ward, args.ward_output)
        print(f"Wrote a sample ward of {len(ward)} patients to {args.ward_output}.")
    if args.ward_fhir_output:
        _write_sample_bundle(args.ward_fhir_output)
    return 0


def _write_sample_bundle(path: Path) -> None:
    from datetime import UTC, datetime

    from recovery_model.cohort import make_sample_ward
    from recovery_model.fhir_sample import to_bundle

    ward = make_sample_ward()
    now = datetime.now(UTC)
    path.write_text(json.dumps(to_bundle(ward, load_schema(), now), indent=1) + "\n", encoding="utf-8")
    print(f"Wrote the sample ward's {len(ward)} patients as a FHIR R4 Bundle to {path} (measured an hour before "
          f"{now:%Y-%m-%d %H:%M} UTC).")


def _train(args: argparse.Namespace) -> int:
    from recovery_model.data import load_training_data
    from recovery_model.predictor import Predictor

    schema = _schema_for(args)
    frame = load_training_data(args.data, schema)
    print(f"Training on {len(frame):,} rows of {args.data} ({len(schema.features)} features, "
          f"config '{args.config}', seed {args.seed}).")
    started = time.perf_counter()
    predictor = Predictor.fit(frame, schema, args.config, args.seed, progress=True)
    model = predictor.model
    print(f"Cross-fitted {model.members} members ({model.config_.folds} folds × {model.config_.repeats}) in "
          f"{time.perf_counter() - started:.1f} s; best epochs {min(model.best_epochs_)}–{max(model.best_epochs_)}; "
          f"out-of-fold AUROC {_auroc(model.oof_event_, model.oof_risk_):.3f}.")
    predictor.save(args.output)
    if args.target and not args.schema:
        (args.output / "schema.toml").write_text(schema.to_toml(), encoding="utf-8")
        print(f"Inferred schema written to {args.output / 'schema.toml'}: review units and ranges.")
    print(f"Checkpoint written to {args.output}.")
    if not args.no_evaluate:
        _write_evaluation(predictor, frame, args)
    return 0


def _auroc(event, risk) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(event, risk)) if 0 < event.sum() < len(event) else float("nan")


def _evaluate(args: argparse.Namespace) -> int:
    from recovery_model.data import fingerprint, load_training_data
    from recovery_model.predictor import Predictor

    predictor = Predictor.load(args.checkpoint)
    frame = load_training_data(args.data, predictor.schema)
    trained_on = predictor.metadata["training_data"]["fingerprint"]
    if fingerprint(frame) != trained_on:
        raise RecoveryError(f"{args.data} is not the data {args.checkpoint} was trained on (fingerprint "
                            f"{fingerprint(frame)[:12]} ≠ {trained_on[:12]}). Pass the training file with --data.")
    _write_evaluation(predictor, frame, args)
    return 0


def _write_evaluation(predictor, frame, args: argparse.Namespace) -> None:
    from recovery_model.cohort import generate_cohort
    from recovery_model.evaluation import EvaluationSettings, evaluate
    from recovery_model.model_card import render_model_card

    synthetic = frame.equals(generate_cohort(len(frame), DEFAULT_SEED, predictor.schema)) if \
        predictor.schema.fingerprint() == load_schema().fingerprint() else False
    settings = EvaluationSettings(n_bootstrap=args.bootstrap, fresh_rows=args.fresh_rows if synthetic else 0)
    print(f"Evaluating on the {len(frame):,} training rows' out-of-fold predictions"
          + (f" and a fresh {settings.fresh_rows:,}-row sample with the oracle" if synthetic else "")
          + f" ({settings.n_bootstrap} bootstrap resamples)...")
    report = evaluate(predictor, frame, include_oracle=synthetic, settings=settings)
    predictor.write_report(report, render_model_card(report, predictor.schema))
    auroc = report.internal.metrics.estimate("auroc")
    print(f"Internal validation AUROC {auroc.value:.3f} ({auroc.low:.3f}–{auroc.high:.3f}). "
          f"{report.verdict.text}\nReport and model card written to {predictor.folder}.")


def _predict(args: argparse.Namespace) -> int:
    _check_engine_options(args)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    rejected_path = args.output.with_name(f"{args.output.stem}_rejected.csv")
    rejected_path.unlink(missing_ok=True)
    if args.engine == "dask":
        from recovery_model.cluster import rank_on_cluster

        result = rank_on_cluster(args.input, args.output, rejected_path, checkpoint=args.checkpoint,
                                 top_k=args.top_k, threshold=args.threshold, explain=args.explain,
                                 chunk_rows=args.chunk_rows, scheduler=args.scheduler, workers=args.workers)
    else:
        from recovery_model.batch import rank_file
        from recovery_model.fhir import parse_as_of
        from recovery_model.predictor import Predictor

        as_of = parse_as_of(args.as_of) if args.as_of else None
        result = rank_file(Predictor.load(args.checkpoint), args.input, args.output, rejected_path, top_k=args.top_k,
                           threshold=args.threshold, explain=args.explain, chunk_rows=args.chunk_rows,
                           declared_format=args.format, as_of=as_of)
    counts = result.counts
    print(f"{counts['rows']} rows in: {counts['scored']} scored ({counts['flagged']} flagged), "
          f"{counts['rejected']} rejected. Ranked list written to {args.output}.")
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    _print_record_problems(result.record_problems)
    print(("Drift: " if result.drift.drifted else "") + result.drift.summary)
    if args.drift_report:
        args.drift_report.write_text(json.dumps(result.drift.to_dict(), indent=1, allow_nan=True) + "\n",
                                     encoding="utf-8")
        print(f"Drift report written to {args.drift_report}.")
    if result.rejected:
        print(f"Rejected rows, with the reason for each, written to {rejected_path}:", file=sys.stderr)
        for row, problem in result.rejected[:50]:
            print(f"  row {row}: {problem}", file=sys.stderr)
        if len(result.rejected) > 50:
            print(f"  ... and {len(result.rejected) - 50} more in {rejected_path}", file=sys.stderr)
    return 0


def _check_engine_options(args: argparse.Namespace) -> None:
    """Options that one engine would ignore are refused, so nobody believes they took effect."""
    wrong = ([f"--{name.replace('_', '-')}" for name in ("as_of", "format") if getattr(args, name)]
             if args.engine == "dask" else
             [f"--{name}" for name in ("scheduler", "workers") if getattr(args, name)])
    if wrong:
        other = "local" if args.engine == "dask" else "dask"
        raise RecoveryError(f"{' and '.join(wrong)} {'is' if len(wrong) == 1 else 'are'} for --engine {other}; "
                            f"this run uses --engine {args.engine}.")


def _print_record_problems(problems: list, shown: int = 50) -> None:
    """What reading a FHIR record left blank, by patient (also in each row's fhir_notes column)."""
    if not problems:
        return
    print(f"Reading the FHIR record left values blank or resources unread ({len(problems)}; also in the "
          "fhir_notes column):", file=sys.stderr)
    for problem in problems[:shown]:
        print(f"  patient {problem.patient}: {problem}", file=sys.stderr)
    if len(problems) > shown:
        print(f"  ... and {len(problems) - shown} more in the fhir_notes column", file=sys.stderr)


def _suggest(args: argparse.Namespace) -> int:
    from recovery_model.columns import ATYPICAL, ATYPICAL_FEATURES, CHANGED, PROBLEMS, RISK, RISK_HIGH, RISK_LOW, TIER
    from recovery_model.io import read_patient_csv
    from recovery_model.narrative import change_text, percent
    from recovery_model.predictor import Predictor

    predictor = Predictor.load(args.checkpoint)
    schema = predictor.schema
    frame = read_patient_csv(args.input)
    if len(frame) > args.max_patients:
        raise RecoveryError(f"{args.input} holds {len(frame)} patients; `recovery suggest` is for a few at a time "
                            f"(at most {args.max_patients}, --max-patients). Rank a ward with `recovery predict`.")
    rows = predictor.predict_risk(frame)
    for i, row in rows.iterrows():
        name = row.get(schema.id_column, f"row {row['row']}")
        if row[TIER] == "not scored":
            print(f"{name}: not scored: {row[PROBLEMS]}")
            continue
        print(f"{name}: {schema.target.risk_of} {percent(row[RISK])} (range {percent(row[RISK_LOW])}–"
              f"{percent(row[RISK_HIGH])}), {row[TIER]} tier")
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


def _hash_password(args: argparse.Namespace) -> int:
    import getpass

    from recovery_model.access import ROLES, hash_password

    password = getpass.getpass("Password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    if sys.stdin.isatty() and getpass.getpass("Again: ") != password:
        raise RecoveryError("The two passwords differ.")
    print(f"[recovery_users.{args.user}]\npassword_hash = \"{hash_password(password)}\"\nrole = \"{args.role}\"")
    print(f"# add these lines to .streamlit/secrets.toml; roles: {', '.join(ROLES)}", file=sys.stderr)
    return 0


def _schema_for(args: argparse.Namespace) -> Schema:
    if args.schema:
        return load_schema(args.schema)
    if args.target:
        import pandas as pd

        from recovery_model.io import read_patient_csv

        frame = read_patient_csv(args.data).apply(pd.to_numeric, errors="coerce")
        return Schema.infer(frame, args.target, name=args.data.stem)
    return load_schema()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recovery", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="Write the synthetic cohort (reproduces data/patients.csv).")
    gen.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    gen.add_argument("--seed", type=int, default=DEFAULT_SEED)
    gen.add_argument("--output", type=Path, default=DATA_DIR / "patients.csv")
    gen.add_argument("--ward-output", type=Path, default=None,
                     help="Also write the sample ward extract here (data/sample_ward.csv).")
    gen.add_argument("--ward-fhir-output", type=Path, default=None,
                     help="Also write the sample ward as a FHIR R4 Bundle (JSON) here, to try FHIR import on.")
    gen.set_defaults(handler=_generate)

    train = sub.add_parser("train", help="Train, calibrate, evaluate and write a checkpoint.")
    train.add_argument("--data", type=Path, default=DATA_DIR / "patients.csv")
    source = train.add_mutually_exclusive_group()
    source.add_argument("--schema", type=Path, help="TOML schema describing --data (default: ours).")
    source.add_argument("--target", help="Outcome column of a foreign all-numeric CSV; the schema is inferred.")
    train.add_argument("--config", choices=sorted(CONFIGS), default="default")
    train.add_argument("--seed", type=int, default=DEFAULT_SEED)
    train.add_argument("--output", type=Path, default=DEFAULT_CHECKPOINT)
    train.add_argument("--no-evaluate", action="store_true", help="Skip the evaluation report.")
    _evaluation_options(train)
    train.set_defaults(handler=_train)

    evaluate = sub.add_parser("evaluate", help="Rewrite a checkpoint's evaluation report and model card.")
    evaluate.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    evaluate.add_argument("--data", type=Path, default=DATA_DIR / "patients.csv")
    _evaluation_options(evaluate)
    evaluate.set_defaults(handler=_evaluate)

    predict = sub.add_parser("predict", help="Rank a ward (CSV, Parquet or FHIR R4) by risk, highest first.")
    predict.add_argument("--input", type=Path, required=True,
                         help="A CSV, Parquet or FHIR file (or a FHIR bulk-export folder); with --engine dask, a "
                         "folder or glob of CSV and Parquet files.")
    predict.add_argument("--output", type=Path, required=True,
                         help="CSV or Parquet by extension; with --engine dask, a folder of Parquet files unless "
                         "it ends in .csv.")
    predict.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    predict.add_argument("--top-k", type=int, default=None, help="Flag the K highest-risk patients.")
    predict.add_argument("--threshold", type=float, default=None,
                         help="Flag risks at or above this (default: the model's high-risk threshold).")
    predict.add_argument("--explain", action="store_true", help="Add the top 3 drivers per patient.")
    predict.add_argument("--format", choices=["csv", "parquet", "fhir"], default=None,
                         help="Read (and, for csv and parquet, write) this format. Default: by each file's "
                         "extension: .parquet, .csv, or FHIR for .json (a Bundle), .ndjson or a bulk-export folder.")
    predict.add_argument("--as-of", default=None,
                         help="FHIR input: the index time; each value is the latest at or before it (ISO date or "
                         "date-time; default now).")
    predict.add_argument("--drift-report", type=Path, default=None,
                         help="Also write the comparison with the training data (drift) to this JSON file.")
    predict.add_argument("--chunk-rows", type=int, default=50_000,
                         help="Rows held in memory at once; any file size streams through. With --engine dask, also "
                         "the size of a partition of a Parquet file.")
    predict.add_argument("--engine", choices=["local", "dask"], default="local",
                         help="local: this process. dask: partitions scored on a Dask cluster, ranked globally.")
    predict.add_argument("--scheduler", default=None,
                         help="--engine dask: the scheduler's address (tcp://host:8786); default a cluster on this "
                         "machine.")
    predict.add_argument("--workers", type=int, default=None,
                         help="--engine dask without --scheduler: worker processes on this machine (default: "
                         "one per core).")
    predict.set_defaults(handler=_predict)

    suggest = sub.add_parser("suggest", help="For a few patients: risk with its range, typicality, and what "
                             "changes to modifiable factors the model scores lower.")
    suggest.add_argument("--input", type=Path, required=True)
    suggest.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    suggest.add_argument("--max-patients", type=int, default=50)
    suggest.set_defaults(handler=_suggest)

    hasher = sub.add_parser("hash-password", help="Print a secrets.toml entry with an Argon2 password hash.")
    hasher.add_argument("--user", required=True)
    hasher.add_argument("--role", required=True, choices=["clinician", "bed_manager", "analyst", "admin"])
    hasher.set_defaults(handler=_hash_password)
    return parser


def _evaluation_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bootstrap", type=int, default=1000, help="Bootstrap resamples for the CIs.")
    parser.add_argument("--fresh-rows", type=int, default=200_000,
                        help="Size of the fresh sample scored against the oracle (synthetic data only).")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except RecoveryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""`recovery generate`, `train` and `evaluate`: the synthetic cohort, a model and its evaluation report."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from recovery_model.cli.options import checkpoint_option, count, positive_count, seed
from recovery_model.errors import RecoveryError
from recovery_model.paths import DATA_DIR, DEFAULT_CHECKPOINT
from recovery_model.schema import Schema, load_schema

DEFAULT_ROWS = 15_000
DEFAULT_SEED = 42
DEFAULT_TRAINING_DATA = DATA_DIR / "patients_record.csv"  # the cohort as records show it (recovery generate)


def _generate(args: argparse.Namespace) -> int:
    from recovery_model.cohort import generate_cohort, make_sample_ward
    from recovery_model.readers.csv import write_csv

    cohort = generate_cohort(args.rows, args.seed)
    write_csv(cohort, args.output)
    print(f"Wrote {len(cohort):,} patients to {args.output} "
          f"(non-recovery {1 - cohort['recovered'].mean():.2%}, seed {args.seed}).")
    if args.record_output:
        from recovery_model.record_view import RECORD_SEED, record_view

        record = record_view(cohort, RECORD_SEED)
        write_csv(record, args.record_output)
        blank = record.drop(columns="recovered").isna()
        print(f"Wrote the same patients as records would show them to {args.record_output} "
              f"({blank.any(axis=1).mean():.0%} with a value not recorded, {blank.to_numpy().mean():.0%} of "
              f"values; seed {RECORD_SEED}).")
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
    from recovery_model.readers.fhir.sample import to_bundle

    ward = make_sample_ward()
    now = datetime.now(UTC)
    path.write_text(json.dumps(to_bundle(ward, load_schema(), now), indent=1) + "\n", encoding="utf-8")
    print(f"Wrote the sample ward's {len(ward)} patients as a FHIR R4 Bundle to {path} (measured an hour before "
          f"{now:%Y-%m-%d %H:%M} UTC).")


def _train(args: argparse.Namespace) -> int:
    from recovery_model.readers.training import load_training_data
    from recovery_model.scoring.predictor import Predictor

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
    from recovery_model.readers.training import load_training_data
    from recovery_model.scoring.predictor import Predictor, data_fingerprint

    predictor = Predictor.load(args.checkpoint)
    frame = load_training_data(args.data, predictor.schema)
    trained_on = predictor.metadata["training_data"]["fingerprint"]
    if data_fingerprint(frame) != trained_on:
        raise RecoveryError(f"{args.data} is not the data {predictor.folder} was trained on (fingerprint "
                            f"{data_fingerprint(frame)[:12]} ≠ {trained_on[:12]}). Pass the training file with --data.")
    _write_evaluation(predictor, frame, args)
    return 0


def _write_evaluation(predictor, frame, args: argparse.Namespace) -> None:
    from recovery_model.evaluation.baselines import ebm_installed
    from recovery_model.evaluation.evaluate import EvaluationSettings, evaluate
    from recovery_model.evaluation.model_card import render_model_card
    from recovery_model.evaluation.summary import write_report

    kind = _synthetic_kind(frame, predictor.schema)
    settings = EvaluationSettings(n_bootstrap=args.bootstrap, fresh_rows=args.fresh_rows if kind else 0,
                                  record_view=kind == "record")
    print(f"Evaluating on the {len(frame):,} training rows' out-of-fold predictions"
          + (f" and a fresh {settings.fresh_rows:,}-row sample with the oracle"
             + (" (as records show it)" if settings.record_view else "") if kind else "")
          + f" ({settings.n_bootstrap} bootstrap resamples)...")
    if not ebm_installed():
        print("InterpretML's EBM is not installed (pip install interpret-core), so it is not among the baselines.")
    report = evaluate(predictor, frame, include_oracle=kind is not None, settings=settings)
    write_report(predictor.folder, report, render_model_card(report, predictor.schema))
    auroc = report.internal.metrics.estimate("auroc")
    print(f"Internal validation AUROC {auroc.value:.3f} ({auroc.low:.3f}–{auroc.high:.3f}). "
          f"{report.verdict.text}\nReport and model card written to {predictor.folder}.")


def _synthetic_kind(frame, schema: Schema) -> str | None:
    """"complete" for our synthetic cohort, "record" for its record view, None for other data (no oracle)."""
    import numpy as np

    from recovery_model.cohort import generate_cohort
    from recovery_model.record_view import RECORD_SEED, record_view

    if schema.fingerprint() != load_schema().fingerprint() or list(frame.columns) != schema.columns:
        return None
    cohort = generate_cohort(len(frame), DEFAULT_SEED, schema)
    values = frame.to_numpy(dtype=float)
    if np.array_equal(values, cohort.to_numpy(dtype=float)):
        return "complete"
    if np.array_equal(values, record_view(cohort, RECORD_SEED, schema).to_numpy(dtype=float), equal_nan=True):
        return "record"
    return None


def _schema_for(args: argparse.Namespace) -> Schema:
    if args.event is not None and not args.target:
        raise RecoveryError("--event names the adverse value of --target; give both (a schema file names its event "
                            "in [target] event_value).")
    if args.schema:
        return load_schema(args.schema)
    if args.target:
        import pandas as pd

        from recovery_model.readers.table import read_whole

        frame = read_whole(args.data).apply(pd.to_numeric, errors="coerce")
        schema = Schema.infer(frame, args.target, args.event, name=args.data.stem)
        share = float((frame[args.target] == schema.target.event_value).mean())
        print(f"Adverse outcome: {schema.target.risk_label} ({100 * share:.0f} % of rows); every risk is the risk of "
              "that.")
        return schema
    return load_schema()


def add_commands(commands: argparse._SubParsersAction) -> None:
    from recovery_model.model.config import CONFIGS

    gen = commands.add_parser("generate", help="Write the synthetic cohort (reproduces data/patients.csv).")
    gen.add_argument("--rows", type=positive_count, default=DEFAULT_ROWS)
    gen.add_argument("--seed", type=seed, default=DEFAULT_SEED)
    gen.add_argument("--output", type=Path, default=DATA_DIR / "patients.csv")
    gen.add_argument("--ward-output", type=Path, default=None,
                     help="Also write the sample ward extract here (data/sample_ward.csv).")
    gen.add_argument("--record-output", type=Path, default=None,
                     help="Also write the same patients as EHR records would show them, values not recorded left "
                     "blank (data/patients_record.csv: what the default model trains on).")
    gen.add_argument("--ward-fhir-output", type=Path, default=None,
                     help="Also write the sample ward as a FHIR R4 Bundle (JSON) here, to try FHIR import on.")
    gen.set_defaults(handler=_generate)

    train = commands.add_parser("train", help="Train, calibrate, evaluate and write a checkpoint.")
    train.add_argument("--data", type=Path, default=DEFAULT_TRAINING_DATA, help="A CSV or Parquet file.")
    source = train.add_mutually_exclusive_group()
    source.add_argument("--schema", type=Path, help="TOML schema describing --data (default: ours).")
    source.add_argument("--target", help="Outcome column of a foreign all-numeric CSV; the schema is inferred.")
    train.add_argument("--event", type=float, default=None,
                       help="With --target: which of its two values is the adverse outcome (required; e.g. --event 0 "
                       "when 0 means died).")
    train.add_argument("--config", choices=sorted(CONFIGS), default="default")
    train.add_argument("--seed", type=seed, default=DEFAULT_SEED)
    train.add_argument("--output", type=Path, default=DEFAULT_CHECKPOINT)
    train.add_argument("--no-evaluate", action="store_true", help="Skip the evaluation report.")
    _evaluation_options(train)
    train.set_defaults(handler=_train)

    evaluate = commands.add_parser("evaluate", help="Rewrite a checkpoint's evaluation report and model card.")
    checkpoint_option(evaluate)
    evaluate.add_argument("--data", type=Path, default=DEFAULT_TRAINING_DATA)
    _evaluation_options(evaluate)
    evaluate.set_defaults(handler=_evaluate)

    remap = commands.add_parser("remap", help="Give a trained model a schema that reads its inputs otherwise (FHIR "
                                "codes, value sets, shelf lives) without retraining; anything else is refused.")
    checkpoint_option(remap)
    remap.add_argument("--schema", type=Path, required=True, help="The TOML schema to read inputs by.")
    remap.add_argument("--output", type=Path, default=None, help="Where to write it (default: in place).")
    remap.set_defaults(handler=_remap)


def _remap(args: argparse.Namespace) -> int:
    import shutil

    from recovery_model.evaluation.report import REPORT_ARRAYS, REPORT_JSON
    from recovery_model.scoring.checkpoint import MODEL_CARD, read_header
    from recovery_model.scoring.predictor import Predictor

    predictor = Predictor.load(args.checkpoint)
    remapped = predictor.remapped(load_schema(args.schema))
    source = Path(args.checkpoint)
    output = Path(args.output or source)
    remapped.save(output)
    if output.resolve() != source.resolve():
        for name in (REPORT_JSON, REPORT_ARRAYS, MODEL_CARD):  # the evaluation holds: the model is the same
            if (source / name).exists():
                shutil.copy2(source / name, output / name)
    changed = remapped.metadata["remapped"][-1]["features"]
    print(f"{output}: the model of {predictor.digest[:12]} now reads its inputs as {args.schema} says (digest "
          f"{read_header(output).digest[:12]}); changed where or how long these are read: "
          f"{', '.join(changed) or 'none'}. Its weights and the evaluation of its training data are unchanged; "
          "check the new mapping on records of your own before use.")
    return 0


def _evaluation_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bootstrap", type=positive_count, default=1000, help="Bootstrap resamples for the CIs.")
    parser.add_argument("--fresh-rows", type=count, default=200_000,
                        help="Size of the fresh sample scored against the oracle (synthetic data only; 0: none).")

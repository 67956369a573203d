"""`recovery db` and `recovery outcomes`: the prediction log's database, and the outcomes that followed."""

from __future__ import annotations

import argparse
import getpass
from pathlib import Path

from recovery_model.cli.options import in_use, positive_count
from recovery_model.settings import RETENTION_ENV, environment


def _upgrade(args: argparse.Namespace) -> int:
    from recovery_model.log.database import locate, upgrade

    location = locate()
    before, now = upgrade(location.url)
    print(f"{location.shown}: " + (f"already at version {now}." if before == now else
                                   f"migrated from {before or 'an empty database'} to version {now}."))
    return 0


def _status(args: argparse.Namespace) -> int:
    from recovery_model.log.database import locate, revisions

    location = locate()
    current, head = revisions(location)
    state = "up to date" if current == head else f"needs `recovery db upgrade` (the code is at {head})"
    print(f"{location.shown}: version {current or 'none (no tables yet)'}, {state}.")
    return 0


def _purge(args: argparse.Namespace) -> int:
    from recovery_model.access import AuditLog
    from recovery_model.log.store import PredictionLog

    before = _purge_before(args)
    log = PredictionLog.open()
    counts = log.purge(before)
    AuditLog().record("log_purge", user=getpass.getuser(), rows=counts["predictions"])
    print(f"{counts['predictions']} predictions made before {before:%Y-%m-%d %H:%M} UTC deleted from "
          f"{log.location.shown} (with {counts['feedback']} card feedback messages; their outcomes are kept).")
    return 0


def _purge_before(args: argparse.Namespace):
    """--before, else --retention-days (default $RECOVERY_RETENTION_DAYS) days ago."""
    from datetime import UTC, datetime, timedelta

    from recovery_model.errors import RecoveryError
    from recovery_model.times import parse_start

    if args.before:
        return parse_start(args.before, "--before")
    days = args.retention_days or environment().retention_days
    if not days:
        raise RecoveryError(f"Say what to purge: --before DATE, or --retention-days N (or set {RETENTION_ENV}).")
    try:
        return datetime.now(UTC) - timedelta(days=positive_count(str(days)))
    except argparse.ArgumentTypeError as exc:
        raise RecoveryError(f"{RETENTION_ENV}: {exc}") from None


def _outcomes(args: argparse.Namespace) -> int:
    from recovery_model.log.outcomes import import_outcomes
    from recovery_model.log.store import PredictionLog
    from recovery_model.scoring.checkpoint import read_header

    schema = read_header(in_use(args)).schema
    report = import_outcomes(PredictionLog.open(), args.input, schema, window_days=args.window_days)
    print(report.summary())
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    from recovery_model.cli.options import checkpoint_option

    database = commands.add_parser("db", help="The prediction log's database ($RECOVERY_DATABASE_URL, else the "
                                   "embedded SQLite file in data/local/).")
    actions = database.add_subparsers(dest="action", required=True)
    actions.add_parser("upgrade", help="Create the tables, or migrate them to this code's version.").set_defaults(
        handler=_upgrade)
    actions.add_parser("status", help="The database's version, and whether it needs an upgrade.").set_defaults(
        handler=_status)
    purge = actions.add_parser("purge", help="Delete the predictions made before a date (retention).")
    when = purge.add_mutually_exclusive_group()
    when.add_argument("--before", help="An ISO date or date-time (UTC unless it says otherwise).")
    when.add_argument("--retention-days", type=positive_count, default=None,
                      help=f"Keep this many days (default ${RETENTION_ENV}): purge what is older.")
    purge.set_defaults(handler=_purge)

    outcomes = commands.add_parser("outcomes", help="Record observed outcomes and link each to the patient's latest "
                                   "prediction before it.")
    outcomes.add_argument("--input", type=Path, required=True,
                          help="CSV or Parquet: the schema's id column, outcome_time, and the target column.")
    outcomes.add_argument("--window-days", type=positive_count, default=30,
                          help="Link an outcome to a prediction made at most this many days before it (default 30).")
    checkpoint_option(outcomes)
    outcomes.set_defaults(handler=_outcomes)

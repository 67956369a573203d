"""The prediction log's one door: write a chunk of predictions, read them back, link outcomes, purge.

Writes are bulk inserts in batches (one `executemany` per batch), so that logging a large ward costs little
beside scoring it. Reading is for the pages, the monitor and the exports; who reads is the caller's to audit.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from types import TracebackType
from typing import Any, Literal

import pandas as pd
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    String,
    and_,
    case,
    delete,
    func,
    insert,
    select,
    type_coerce,
    update,
)
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

from recovery_model.errors import LogError, LogUnreachable
from recovery_model.log.database import Location, connect, locate
from recovery_model.log.records import NOT_PREDICTIONS, Source
from recovery_model.log.tables import feedback, monitor_alerts, outcomes, predictions
from recovery_model.times import as_utc

BATCH_ROWS = 5_000
IDS_PER_QUERY = 5_000  # an IN list this long stays under every driver's limit on bound parameters
_SQLITE_WRITER = threading.Lock()


def counts_as_prediction(source: ColumnElement[Any]) -> ColumnElement[bool]:
    """A logged row counts as a prediction unless it is a what-if or a shadow's. Written as NOT IN, a condition no
    index serves: SQLite keeps no statistics, so with IN it would read a period through the index of the source
    (there for the few shadow rows), every row of the log, rather than the time index's range: the monitor took 27 s
    at a million predictions, against 11 s through the time index."""
    return source.not_in(NOT_PREDICTIONS)


class PredictionLog:
    """The log in one database (`locate`): opened, checked at the code's version, ready to write."""

    def __init__(self, engine: Engine, location: Location) -> None:
        self.engine = engine
        self.location = location

    @classmethod
    def open(cls, url: str | None = None) -> PredictionLog:
        """`url`, else $RECOVERY_DATABASE_URL, else the embedded SQLite file (created and migrated here)."""
        location = locate(url)
        return cls(connect(location), location)

    # ----- writing --------------------------------------------------------------------------
    def write(self, records: dict[str, list[Any]]) -> int:
        """Insert `records` (the columns `prediction_records` builds) in one transaction, all or none; the number
        written. PostgreSQL takes them by `COPY`, SQLite by one `executemany` per batch, both on the driver's own
        cursor: SQLAlchemy's per-value processing would cost more than the scoring."""
        names = [c.name for c in predictions.columns]
        count = len(records["id"])
        if not count:
            return 0
        with self.transaction() as connection:
            cursor = self._driver_cursor(connection)  # psycopg's has COPY, sqlite3's executemany
            if self.engine.dialect.name == "postgresql":
                with cursor.copy(f"COPY predictions ({', '.join(names)}) FROM STDIN") as copy:
                    for row in zip(*(records[name] for name in names), strict=True):
                        copy.write_row(row)
            else:
                columns = [_sqlite_times(records[n]) if n.endswith("_at") else records[n] for n in names]
                statement = f"INSERT INTO predictions ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
                rows = zip(*columns, strict=True)
                while batch := list(islice(rows, BATCH_ROWS)):
                    cursor.executemany(statement, batch)
            cursor.close()
        return count

    def mark_top_k(self, run_id: str, top_k: int) -> None:
        """Flag the K highest risks of a run, as its ranked list does (ties: the earlier row)."""
        top = (select(predictions.c.id).where(predictions.c.run_id == run_id)
               .order_by(predictions.c.risk.desc(), predictions.c.row_number).limit(top_k))
        with self.transaction() as connection:
            connection.execute(update(predictions).where(predictions.c.run_id == run_id)
                               .values(in_top_k=predictions.c.id.in_(top)))

    def purge(self, before: datetime) -> dict[str, int]:
        """Delete predictions made before `before` (their outcomes stay, unlinked; their feedback goes)."""
        cutoff = as_utc(before)
        with self.transaction() as connection:
            old = select(predictions.c.id).where(predictions.c.predicted_at < cutoff)
            removed = connection.execute(delete(feedback).where(feedback.c.prediction_id.in_(old)))
            counts = {"feedback": removed.rowcount}
            connection.execute(update(outcomes).where(outcomes.c.prediction_id.in_(old)).values(prediction_id=None))
            counts["predictions"] = connection.execute(delete(predictions)
                                                       .where(predictions.c.predicted_at < cutoff)).rowcount
        return counts

    def keep_alerts(self, period_kind: str, alerts: Sequence[Mapping[str, object]]) -> None:
        """The alerts of the newest report per period kind replace the ones before."""
        now = datetime.now(UTC)
        with self.transaction() as connection:
            connection.execute(delete(monitor_alerts).where(monitor_alerts.c.period_kind == period_kind))
            if alerts:
                connection.execute(insert(monitor_alerts), [
                    {"period_kind": period_kind, "period": a["period"], "kind": a["kind"], "message": a["message"],
                     "raised_at": now} for a in alerts])

    def current_alerts(self) -> pd.DataFrame:
        """The kept alerts, newest period first."""
        return self.read_frame(select(monitor_alerts.c.period_kind, monitor_alerts.c.period, monitor_alerts.c.kind,
                                      monitor_alerts.c.message, monitor_alerts.c.raised_at)
                               .order_by(monitor_alerts.c.period.desc()))

    # ----- reading --------------------------------------------------------------------------
    def get(self, prediction_id: str) -> dict[str, Any] | None:
        with self.connection() as connection:
            row = connection.execute(select(predictions).where(predictions.c.id == prediction_id)).mappings().first()
        return None if row is None else _utc_record(dict(row))

    def history(self, patient_id: str, limit: int = 50) -> pd.DataFrame:
        """A patient's logged predictions (what-ifs left out), oldest first: when, from where, risk and tier."""
        query = (select(predictions.c.predicted_at, predictions.c.source, predictions.c.risk, predictions.c.risk_low,
                        predictions.c.risk_high, predictions.c.tier, predictions.c.model_version)
                 .where(predictions.c.patient_id == str(patient_id), counts_as_prediction(predictions.c.source))
                 .order_by(predictions.c.predicted_at.desc()).limit(limit))
        frame = self.read_frame(query)
        return frame.iloc[::-1].reset_index(drop=True)

    def matured(self, model_digest: str, since: datetime | None = None, until: datetime | None = None) -> pd.DataFrame:
        """The scored predictions of one model made in [since, until) that have an outcome linked to them, oldest
        first: id, predicted_at, patient_id, risk and event (each outcome counts once, with its prediction)."""
        query = (select(predictions.c.id, predictions.c.predicted_at, predictions.c.patient_id, predictions.c.risk,
                        outcomes.c.event)
                 .select_from(predictions.join(outcomes, outcomes.c.prediction_id == predictions.c.id))
                 .where(predictions.c.model_digest == model_digest, counts_as_prediction(predictions.c.source),
                        predictions.c.risk.is_not(None)))
        if since is not None:
            query = query.where(predictions.c.predicted_at >= as_utc(since))
        if until is not None:
            query = query.where(predictions.c.predicted_at < as_utc(until))
        frame = self.read_frame(query).sort_values(["predicted_at", "id"], kind="stable", ignore_index=True)
        frame["event"] = frame["event"].astype(bool)
        return frame

    def shadow_pairs(self, since: datetime | None = None, until: datetime | None = None) -> pd.DataFrame:
        """Each shadow prediction made in [since, until) beside the shown one of the same run and row: predicted_at,
        risk and model (shown), shadow_risk and shadow model, and the event linked to the shown one (missing when
        no outcome is linked yet)."""
        shadow, shown = predictions.alias("shadow"), predictions.alias("shown")
        pair = and_(shown.c.run_id == shadow.c.run_id, shown.c.row_number == shadow.c.row_number,
                    counts_as_prediction(shown.c.source))
        query = (select(shown.c.predicted_at, shown.c.risk, shown.c.model_version, shown.c.model_digest,
                        shadow.c.risk.label("shadow_risk"), shadow.c.model_version.label("shadow_version"),
                        shadow.c.model_digest.label("shadow_digest"), outcomes.c.event)
                 .select_from(shadow.join(shown, pair).outerjoin(outcomes, outcomes.c.prediction_id == shown.c.id))
                 .where(shadow.c.source == Source.SHADOW.value, shadow.c.risk.is_not(None), shown.c.risk.is_not(None)))
        if since is not None:
            query = query.where(shown.c.predicted_at >= as_utc(since))
        if until is not None:
            query = query.where(shown.c.predicted_at < as_utc(until))
        frame = self.read_frame(query).sort_values("predicted_at", kind="stable", ignore_index=True)
        frame["event"] = frame["event"].astype("boolean")
        return frame

    def models_with_outcomes(self) -> pd.DataFrame:
        """Per logged model (version, digest): its scored predictions with an outcome linked, and the events."""
        query = (select(predictions.c.model_version, predictions.c.model_digest,
                        func.count().label("with_outcome"),
                        func.sum(case((outcomes.c.event, 1), else_=0)).label("events"))
                 .select_from(predictions.join(outcomes, outcomes.c.prediction_id == predictions.c.id))
                 .where(counts_as_prediction(predictions.c.source), predictions.c.risk.is_not(None))
                 .group_by(predictions.c.model_version, predictions.c.model_digest))
        return self.read_frame(query)

    def inputs(self, ids: list[str], feature_names: list[str]) -> pd.DataFrame:
        """The logged inputs of these predictions, one column per feature (missing: NaN), in the order of `ids`."""
        rows: list[Any] = []
        for start in range(0, len(ids), IDS_PER_QUERY):
            chunk = ids[start:start + IDS_PER_QUERY]
            query = select(predictions.c.id, type_coerce(predictions.c.inputs, String).label("inputs")).where(
                predictions.c.id.in_(chunk))
            with self.connection() as connection:
                rows += connection.execute(query).all()
        by_id = {pid: json.loads(text) for pid, text in rows}
        return pd.DataFrame([by_id[i] for i in ids], columns=feature_names, dtype=float)

    def known_ids(self, ids: list[str]) -> set[str]:
        """Which of these prediction ids the log holds."""
        found: set[str] = set()
        for start in range(0, len(ids), IDS_PER_QUERY):
            with self.connection() as connection:
                found |= set(connection.execute(select(predictions.c.id).where(
                    predictions.c.id.in_(ids[start:start + IDS_PER_QUERY]))).scalars())
        return found

    def sizes(self) -> tuple[int, int]:
        """(predictions, outcomes) logged: what a cached report is keyed by."""
        with self.connection() as connection:
            return (int(connection.execute(select(func.count()).select_from(predictions)).scalar_one()),
                    int(connection.execute(select(func.count()).select_from(outcomes)).scalar_one()))

    def count(self) -> int:
        with self.connection() as connection:
            return int(connection.execute(select(func.count()).select_from(predictions)).scalar_one())

    def read_frame(self, query: Any, as_stored: bool = False) -> pd.DataFrame:
        """The rows of a query; its times (columns ending _at or _time) as UTC.

        `as_stored`: the values as the driver gives them, without SQLAlchemy's processing of each one (a million
        rows read in two thirds of the time); for queries whose columns are numbers, text or times read as text
        (SQLite gives a boolean as 0 or 1)."""
        if as_stored:
            names, rows = self.read_rows(query)
            frame = pd.DataFrame.from_records(rows, columns=names)
        else:
            with self.connection() as connection:
                frame = pd.read_sql(query, connection)
        for column in frame.columns:
            if column.endswith(("_at", "_time")):
                frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
        return frame

    def read_rows(self, query: Any) -> tuple[list[str], list[tuple[Any, ...]]]:
        """The column names and rows of a query as the driver gives them (plain tuples, values as stored: SQLite's
        times as text, its booleans as 0 or 1), without SQLAlchemy's processing of each value."""
        compiled = query.compile(dialect=self.engine.dialect, compile_kwargs={"render_postcompile": True})
        params = {name: self._as_bound(value) for name, value in compiled.construct_params().items()}
        values = tuple(params[name] for name in compiled.positiontup) if compiled.positional else params
        with self.connection() as connection:
            cursor = self._driver_cursor(connection)
            cursor.execute(str(compiled), values)
            rows = cursor.fetchall()
            names = [d[0] for d in cursor.description]
            cursor.close()
        return names, rows

    def _driver_cursor(self, connection: Connection) -> Any:
        """The driver's own cursor on this connection: rows as plain tuples, bulk inserts in its own way."""
        driver = connection.connection.dbapi_connection
        if driver is None:
            raise LogError(f"The prediction log {self.location.shown} closed its connection; nothing was read or "
                           "logged.")
        return driver.cursor()

    def _as_bound(self, value: Any) -> Any:
        """A time as SQLAlchemy's SQLite dialect stores it (`_sqlite_times`); PostgreSQL's driver takes it as it is."""
        if isinstance(value, datetime) and self.engine.dialect.name == "sqlite":
            return _sqlite_times([value])[0]
        return value

    def connection(self) -> _Guarded:
        return _Guarded(self.engine.connect, self.location, self._errors())

    def transaction(self) -> _Guarded:
        """A write. SQLite takes one writer at a time, and a writer that finds it busy sleeps in steps of up to
        100 ms; within a process, writers therefore queue on a lock instead (a service's threads, a page's
        sessions), and only other processes meet SQLite's busy wait."""
        return _Guarded(self.engine.begin, self.location, self._errors(),
                        _SQLITE_WRITER if self.engine.dialect.name == "sqlite" else None)

    def _errors(self) -> _Errors:
        driver = self.engine.dialect.loaded_dbapi
        return _Errors((SQLAlchemyError, driver.Error),
                       (OperationalError, InterfaceError, driver.OperationalError, driver.InterfaceError))


def _sqlite_times(moments: list[datetime | None]) -> list[str | None]:
    """The text SQLAlchemy's SQLite dialect writes and reads for a time (UTC, no offset; None stays NULL); a
    batch's rows share a few times, each formatted once."""
    text = {moment: None if moment is None else as_utc(moment).strftime("%Y-%m-%d %H:%M:%S.%f")
            for moment in set(moments)}
    return [text[moment] for moment in moments]


def _utc_record(record: dict[str, Any]) -> dict[str, Any]:
    return {k: as_utc(v) if isinstance(v, datetime) else v for k, v in record.items()}


@dataclass(frozen=True)
class _Errors:
    """A database's errors: any of them (SQLAlchemy's, and the driver's own, raised by the bulk inserts on its
    cursor), and those that say it could not be reached or went away (OperationalError, InterfaceError)."""

    any: tuple[type[BaseException], ...]
    unreachable: tuple[type[BaseException], ...]

    def failure(self, location: Location, exc: BaseException) -> LogError:
        """`LogUnreachable` when writing again later may succeed; `LogError` when the row itself was refused."""
        kind = LogUnreachable if isinstance(exc, self.unreachable) else LogError
        return kind(_problem(location, exc))


class _Guarded:
    """A connection (or transaction) whose database errors say plainly that nothing was logged or read."""

    def __init__(self, opener: Any, location: Location, errors: _Errors, lock: threading.Lock | None = None) -> None:
        self.opener, self.location, self.errors, self.lock = opener, location, errors, lock

    def __enter__(self) -> Connection:
        if self.lock is not None:
            self.lock.acquire()
        try:
            self.context = self.opener()
            return self.context.__enter__()
        except self.errors.any as exc:
            self._release()
            raise self.errors.failure(self.location, exc) from None

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> Literal[False]:
        try:
            self.context.__exit__(kind, value, traceback)
        except self.errors.any as exc:
            raise self.errors.failure(self.location, exc) from None
        finally:
            self._release()
        if isinstance(value, self.errors.any):
            raise self.errors.failure(self.location, value) from None
        return False


    def _release(self) -> None:
        if self.lock is not None:
            self.lock.release()


def _problem(location: Location, exc: BaseException) -> str:
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    return (f"The prediction log {location.shown} failed ({reason}); this change was not logged. "
            "Check the database, or run with --no-log.")

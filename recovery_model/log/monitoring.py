"""The log's rows a monitoring report and an export are computed from.

The report reads the log one period at a time (`period_values`, `period_models`, `high_tier_patient_days`,
`period_feedback`, `period_inputs`), so that its memory follows the largest period, not the log; each query asks
the database for exactly what the report uses, as numbers where it can: the subgroups' input values are taken out
of the JSON by the database itself (SQLite's json_extract, PostgreSQL's ->>), and only for the predictions with an
outcome; the full inputs are read only for the sample a drift test needs. The export reads every row
(`scored_with_outcomes`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Float, Integer, Select, String, case, cast, func, literal_column, select, true, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.expression import FromClause

from recovery_model.log.store import PredictionLog, counts_as_prediction
from recovery_model.log.tables import feedback, outcomes, predictions
from recovery_model.times import as_utc

PREDICTION_COLUMNS = ("id", "patient_id", "ward", "model_version", "model_digest", "risk", "risk_low", "risk_high",
                      "tier", "atypical", "card_uuid")


def input_column(feature: str) -> str:
    """The frame's column holding a logged input value (`input_age`)."""
    return f"input_{feature}"


def scored_with_outcomes(log: PredictionLog, features: Sequence[str], since: datetime | None = None,
                         until: datetime | None = None) -> pd.DataFrame:
    """The scored predictions made in [since, until) (what-ifs and unscored rows left out), oldest first: when,
    `PREDICTION_COLUMNS`, `event` (True, False, or missing when no outcome is linked) and these features' logged
    inputs (`input_column`)."""
    query = (select(_time(log), *[predictions.c[name] for name in PREDICTION_COLUMNS], outcomes.c.event,
                    *[_input_value(log, f).label(input_column(f)) for f in features])
             .select_from(predictions.outerjoin(outcomes, outcomes.c.prediction_id == predictions.c.id))
             .where(counts_as_prediction(predictions.c.source), predictions.c.risk.is_not(None)))
    if since is not None:
        query = query.where(predictions.c.predicted_at >= as_utc(since))
    if until is not None:
        query = query.where(predictions.c.predicted_at < as_utc(until))
    frame = log.read_frame(query, as_stored=True).sort_values("predicted_at", kind="stable", ignore_index=True)
    frame["event"] = frame["event"].astype("boolean")
    frame["atypical"] = frame["atypical"].astype("boolean")
    return frame


# What `period_values` gives per prediction, in this order, before the features' inputs.
VALUE_COLUMNS = ("risk", "event", "high", "range_width", "atypical", "card")
NO_WARD = "(no ward)"
SQLITE_ROWID: ColumnElement[Any] = literal_column("predictions.rowid")  # the key SQLite finds a row by at once


def logged_span(log: PredictionLog) -> tuple[datetime, datetime] | None:
    """The first and the last prediction time in the log (of any prediction: the time index answers it at once);
    None when the log is empty."""
    with log.connection() as connection:
        first, last = connection.execute(select(func.min(predictions.c.predicted_at),
                                                func.max(predictions.c.predicted_at))).one()
    return None if first is None else (as_utc(first), as_utc(last))


def period_values(log: PredictionLog, start: datetime, end: datetime, features: Sequence[str],
                  with_inputs: bool) -> np.ndarray:
    """One row per scored prediction made in [start, end), as numbers (`VALUE_COLUMNS`): the risk; the event (1, 0,
    or NaN when no outcome is linked); 1 in the high tier; the range's width; atypical (1, 0 or NaN); 1 with a card;
    then, with `with_inputs`, each feature's logged input where an outcome is linked (NaN elsewhere)."""
    postgresql = log.engine.dialect.name == "postgresql"
    joined, event = _with_outcome(postgresql)
    linked = event.is_not(None)
    columns = [predictions.c.risk, cast(event, Integer), case((predictions.c.tier == "high", 1), else_=0),
               predictions.c.risk_high - predictions.c.risk_low, cast(predictions.c.atypical, Integer),
               case((predictions.c.card_uuid.is_not(None), 1), else_=0)]
    if with_inputs and postgresql:  # the text parsed once per row, not once per value
        parsed = (select(cast(predictions.c.inputs, JSONB).label("parsed")).correlate(predictions).offset(0)
                  .lateral("inputs_parsed"))
        joined = joined.join(parsed, true())
        columns += [case((linked, cast(parsed.c.parsed.op("->>")(feature), Float))) for feature in features]
    elif with_inputs:
        columns += [case((linked, _input_value(log, feature))) for feature in features]
    query = _scored_in(select(*columns).select_from(joined), start, end)
    _, rows = log.read_rows(query)
    return np.array(rows, dtype=float).reshape(len(rows), len(columns))


def _with_outcome(postgresql: bool) -> tuple[FromClause, ColumnElement[Any]]:
    """The predictions each beside the outcome linked to it (none: NULL; each outcome once, with its prediction),
    and the event column. PostgreSQL's planner hashes every outcome of the log for a period's join (2.5 s a week at
    ten million predictions); a lateral subquery, kept apart by OFFSET 0, looks each prediction's up in the index
    (1.0 s). SQLite looks them up so already."""
    if not postgresql:
        return predictions.outerjoin(outcomes, outcomes.c.prediction_id == predictions.c.id), outcomes.c.event
    linked = (select(outcomes.c.event).where(outcomes.c.prediction_id == predictions.c.id).correlate(predictions)
              .offset(0).lateral("linked_outcome"))
    return predictions.outerjoin(linked, true()), linked.c.event


def period_models(log: PredictionLog, start: datetime, end: datetime) -> list[tuple[str, str]]:
    """The (version, digest) of every model that scored a prediction in [start, end)."""
    _, rows = log.read_rows(_scored_in(select(predictions.c.model_version, predictions.c.model_digest).distinct(),
                                       start, end))
    return [(str(version), str(digest)) for version, digest in rows]


def high_tier_patient_days(log: PredictionLog, start: datetime, end: datetime) -> dict[str, int]:
    """Per ward (`NO_WARD` for none), the distinct patient-days in the high tier in [start, end): a patient scored
    twice on a day counts once; a prediction without a patient id is a patient of its own."""
    days = _scored_in(select(func.coalesce(predictions.c.ward, NO_WARD).label("ward"),
                             func.coalesce(predictions.c.patient_id, predictions.c.id).label("patient"),
                             _day(log).label("day")).where(predictions.c.tier == "high").distinct(),
                      start, end).subquery()
    _, rows = log.read_rows(select(days.c.ward, func.count()).group_by(days.c.ward))
    return {str(ward): int(count) for ward, count in sorted(rows)}


def period_feedback(log: PredictionLog, start: datetime, end: datetime) -> pd.DataFrame:
    """The feedback on the cards of the scored predictions made in [start, end): what the clinician did, and why."""
    return log.read_frame(_scored_in(select(feedback.c.outcome, feedback.c.reasons).select_from(
        feedback.join(predictions, predictions.c.card_uuid == feedback.c.card_uuid)), start, end))


def period_inputs(log: PredictionLog, start: datetime, end: datetime, feature_names: Sequence[str],
                  positions: Sequence[int] | None = None) -> pd.DataFrame:
    """The logged inputs of the scored predictions made in [start, end), one column per feature (missing: NaN), in
    the order of `_logged_order`; `positions`: only the predictions at these places in that order (0 first), in the
    order given."""
    position = (func.row_number().over(order_by=_logged_order()) - 1).label("position")
    inputs = type_coerce(predictions.c.inputs, String).label("inputs")
    if log.engine.dialect.name == "sqlite":  # the row's key numbered, its text read for the rows asked only
        numbered = _scored_in(select(SQLITE_ROWID.label("key"), position), start, end).subquery()
        query = select(numbered.c.position, inputs).join_from(numbered, predictions, numbered.c.key == SQLITE_ROWID)
    else:  # PostgreSQL: the text carried along (a join back by id took 3x as long)
        numbered = _scored_in(select(inputs, position), start, end).subquery()
        query = select(numbered.c.position, numbered.c.inputs)
    if positions is not None:
        query = query.where(numbered.c.position.in_([int(p) for p in positions]))
    _, rows = log.read_rows(query)
    by_position = {int(position): json.loads(text) for position, text in rows}
    order = range(len(rows)) if positions is None else positions
    return pd.DataFrame([by_position[int(p)] for p in order], columns=list(feature_names), dtype=float)


def outcomes_through(log: PredictionLog) -> pd.Timestamp | None:
    """The latest outcome time recorded at all (how far outcomes have arrived); None before any."""
    with log.connection() as connection:
        latest = connection.execute(select(func.max(outcomes.c.outcome_time))).scalar()
    return None if latest is None else pd.Timestamp(as_utc(latest))


def recorded_outcomes(log: PredictionLog) -> pd.DataFrame:
    """Every recorded outcome: patient, when, and whether the event happened."""
    return log.read_frame(select(outcomes.c.patient_id, outcomes.c.outcome_time, outcomes.c.event))


def _scored_in(query: Select[Any], start: datetime, end: datetime) -> Select[Any]:
    """Scored predictions (what-ifs, shadows and unscored rows left out) made in [start, end)."""
    return query.where(counts_as_prediction(predictions.c.source), predictions.c.risk.is_not(None),
                       predictions.c.predicted_at >= as_utc(start), predictions.c.predicted_at < as_utc(end))


def _logged_order() -> tuple[ColumnElement[Any], ...]:
    """The order a period's predictions are taken in, the same on every database: by time, then by when each run
    was logged, the run, and the row of its input (the order a database returns rows in is its own: SQLite's is
    the order of insertion, a ranked list's by risk)."""
    return (predictions.c.predicted_at, predictions.c.logged_at, predictions.c.run_id, predictions.c.row_number,
            predictions.c.id)


def _day(log: PredictionLog) -> ColumnElement[Any]:
    """The UTC day of the prediction time."""
    if log.engine.dialect.name == "postgresql":
        return func.date(func.timezone("UTC", predictions.c.predicted_at))
    return func.date(predictions.c.predicted_at)


def _time(log: PredictionLog) -> ColumnElement[Any]:
    """The prediction time as the database stores it: SQLite's text is parsed by pandas in one pass, not row by
    row by the driver."""
    column = predictions.c.predicted_at
    return (type_coerce(column, String) if log.engine.dialect.name == "sqlite" else column).label("predicted_at")


def _input_value(log: PredictionLog, feature: str) -> ColumnElement[Any]:
    if log.engine.dialect.name == "postgresql":
        return cast(cast(predictions.c.inputs, JSONB).op("->>")(feature), Float)
    return func.json_extract(predictions.c.inputs, f"$.{feature}")

"""The log's rows a monitoring report and an export are computed from, read with one query each.

A million predictions must read in seconds, so each query asks the database for exactly what the report uses: the
subgroups' input values are taken out of the JSON by the database itself (SQLite's json_extract, PostgreSQL's
->>), and the full inputs are read only for the sample a drift test needs (`PredictionLog.inputs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Float, String, cast, func, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ColumnElement

from recovery_model.log.records import PREDICTION_SOURCES
from recovery_model.log.store import PredictionLog
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
             .where(predictions.c.source.in_(PREDICTION_SOURCES), predictions.c.risk.is_not(None)))
    if since is not None:
        query = query.where(predictions.c.predicted_at >= as_utc(since))
    if until is not None:
        query = query.where(predictions.c.predicted_at < as_utc(until))
    frame = log.read_frame(query, as_stored=True).sort_values("predicted_at", kind="stable", ignore_index=True)
    frame["event"] = frame["event"].astype("boolean")
    frame["atypical"] = frame["atypical"].astype("boolean")
    return frame


def card_feedback(log: PredictionLog) -> pd.DataFrame:
    """Every feedback message: card, what the clinician did, and why."""
    return log.read_frame(select(feedback.c.card_uuid, feedback.c.outcome, feedback.c.reasons))


def outcomes_through(log: PredictionLog) -> pd.Timestamp | None:
    """The latest outcome time recorded at all (how far outcomes have arrived); None before any."""
    with log.connection() as connection:
        latest = connection.execute(select(func.max(outcomes.c.outcome_time))).scalar()
    return None if latest is None else pd.Timestamp(as_utc(latest))


def recorded_outcomes(log: PredictionLog) -> pd.DataFrame:
    """Every recorded outcome: patient, when, and whether the event happened."""
    return log.read_frame(select(outcomes.c.patient_id, outcomes.c.outcome_time, outcomes.c.event))


def _time(log: PredictionLog) -> ColumnElement[Any]:
    """The prediction time as the database stores it: SQLite's text is parsed by pandas in one pass, not row by
    row by the driver."""
    column = predictions.c.predicted_at
    return (type_coerce(column, String) if log.engine.dialect.name == "sqlite" else column).label("predicted_at")


def _input_value(log: PredictionLog, feature: str) -> ColumnElement[Any]:
    if log.engine.dialect.name == "postgresql":
        return cast(cast(predictions.c.inputs, JSONB).op("->>")(feature), Float)
    return func.json_extract(predictions.c.inputs, f"$.{feature}")

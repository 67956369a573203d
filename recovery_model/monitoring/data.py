"""The rows a monitoring report is computed from: the logged predictions of a time span joined to the outcome each
is linked to, and the card feedback. Reading them is audited by the caller (who, when, how many rows).

A million predictions must read in seconds, so the query asks the database for exactly what the report uses: the
subgroups' input values are taken out of the JSON by the database itself, and the full inputs are read only for
the sample each period's drift test needs (`MonitoringData.inputs`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import Float, String, cast, func, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB

from recovery_model.log.records import PREDICTION_SOURCES
from recovery_model.log.store import PredictionLog
from recovery_model.log.tables import feedback, outcomes, predictions
from recovery_model.schema import Schema
from recovery_model.times import as_utc

PREDICTION_COLUMNS = ("id", "patient_id", "ward", "model_version", "model_digest", "risk", "risk_low", "risk_high",
                      "tier", "atypical", "card_uuid")


def input_column(feature: str) -> str:
    """The frame's column holding a logged input value (`input_age`)."""
    return f"input_{feature}"


@dataclass(frozen=True)
class MonitoringData:
    """`predictions`: one row per scored prediction in the span, with `event` (True, False, or missing when no
    outcome is linked to it) and the subgroup features' inputs (`input_column`); `feedback`: the card feedback;
    `outcomes_through`: the latest outcome time recorded at all (how far outcomes have arrived); `shadow`: a shadow
    model's predictions paired with the shown ones."""

    predictions: pd.DataFrame
    feedback: pd.DataFrame
    outcomes_through: pd.Timestamp | None
    log: PredictionLog
    schema: Schema
    shadow: pd.DataFrame | None = None  # a shadow model's predictions beside the shown ones (`shadow_pairs`)

    def inputs(self, ids: list[str]) -> pd.DataFrame:
        """The full logged inputs of these predictions, one column per feature, in the order of `ids`."""
        return self.log.inputs(ids, self.schema.feature_names)


def read_monitoring_data(log: PredictionLog, schema: Schema, since: datetime | None = None,
                         until: datetime | None = None) -> MonitoringData:
    """The scored predictions made in [since, until) (what-ifs and unscored rows left out), each with its outcome."""
    subgroup_inputs = [_input_value(log, s.feature).label(input_column(s.feature)) for s in schema.subgroups]
    query = (select(_time(log), *[predictions.c[name] for name in PREDICTION_COLUMNS], outcomes.c.event,
                    *subgroup_inputs)
             .select_from(predictions.outerjoin(outcomes, outcomes.c.prediction_id == predictions.c.id))
             .where(predictions.c.source.in_(PREDICTION_SOURCES), predictions.c.risk.is_not(None)))
    if since is not None:
        query = query.where(predictions.c.predicted_at >= as_utc(since))
    if until is not None:
        query = query.where(predictions.c.predicted_at < as_utc(until))
    frame = log.read_frame(query).sort_values("predicted_at", kind="stable", ignore_index=True)
    frame["event"] = frame["event"].astype("boolean")
    cards = log.read_frame(select(feedback.c.card_uuid, feedback.c.outcome, feedback.c.reasons))
    with log.connection() as connection:
        latest = connection.execute(select(func.max(outcomes.c.outcome_time))).scalar()
    return MonitoringData(frame, cards, None if latest is None else pd.Timestamp(as_utc(latest)), log, schema,
                          log.shadow_pairs(since, until))


def _time(log: PredictionLog):
    """The prediction time as the database stores it: SQLite's text is parsed by pandas in one pass, not row by
    row by the driver."""
    column = predictions.c.predicted_at
    return (type_coerce(column, String) if log.engine.dialect.name == "sqlite" else column).label("predicted_at")


def _input_value(log: PredictionLog, feature: str):
    """One input value out of the JSON text, by the database (SQLite's json_extract, PostgreSQL's ->>)."""
    if log.engine.dialect.name == "postgresql":
        return cast(cast(predictions.c.inputs, JSONB).op("->>")(feature), Float)
    return func.json_extract(predictions.c.inputs, f"$.{feature}")

"""The rows a monitoring report is computed from: the logged predictions of a time span joined to the outcome each
is linked to, and the card feedback. Reading them is audited by the caller (who, when, how many rows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import Text, select, type_coerce

from recovery_model.log.records import PREDICTION_SOURCES
from recovery_model.log.store import PredictionLog
from recovery_model.log.tables import feedback, outcomes, predictions
from recovery_model.times import as_utc

PREDICTION_COLUMNS = ("id", "predicted_at", "source", "ward", "patient_id", "model_version", "model_digest", "risk",
                      "risk_low", "risk_high", "tier", "atypical", "flagged", "card_uuid")


@dataclass(frozen=True)
class MonitoringData:
    """`predictions`: one row per scored prediction in the span, with `event` (True, False, or missing when no
    outcome is linked to it) and `inputs` (the validated values, as JSON text); `feedback`: the card feedback on
    them; `outcomes_through`: the latest outcome time recorded at all (how far outcomes have arrived)."""

    predictions: pd.DataFrame
    feedback: pd.DataFrame
    outcomes_through: pd.Timestamp | None


def read_monitoring_data(log: PredictionLog, since: datetime | None = None,
                         until: datetime | None = None) -> MonitoringData:
    """The scored predictions made in [since, until) (what-ifs and unscored rows left out), each with its outcome.
    The inputs stay JSON text: only the rows a drift or subgroup figure needs are parsed."""
    columns = [predictions.c[name] for name in PREDICTION_COLUMNS]
    query = (select(*columns, type_coerce(predictions.c.inputs, Text).label("inputs"), outcomes.c.event)
             .select_from(predictions.outerjoin(outcomes, outcomes.c.prediction_id == predictions.c.id))
             .where(predictions.c.source.in_(PREDICTION_SOURCES), predictions.c.risk.is_not(None)))
    if since is not None:
        query = query.where(predictions.c.predicted_at >= as_utc(since))
    if until is not None:
        query = query.where(predictions.c.predicted_at < as_utc(until))
    frame = log.read_frame(query.order_by(predictions.c.predicted_at))
    frame["event"] = frame["event"].astype("boolean")
    cards = log.read_frame(select(feedback.c.card_uuid, feedback.c.outcome, feedback.c.reasons))
    with log.connection() as connection:
        latest = connection.execute(select(outcomes.c.outcome_time).order_by(outcomes.c.outcome_time.desc())
                                    .limit(1)).scalar()
    return MonitoringData(frame, cards, None if latest is None else pd.Timestamp(as_utc(latest)))

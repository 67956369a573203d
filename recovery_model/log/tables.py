"""The log's tables, as SQLAlchemy Core metadata: the migrations create exactly these.

A prediction's inputs and drivers are JSON text, so that a hospital's own schema needs no migration of its own
and a batch serialises its values in one vectorised pass. Times are stored in UTC.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)


class JsonText(TypeDecorator):
    """JSON in a TEXT column: text already serialised goes in as it is, anything else through `json.dumps`."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        return value if value is None or isinstance(value, str) else json.dumps(value)

    def process_result_value(self, value: str | None, dialect: Any) -> Any:
        return None if value is None else json.loads(value)


metadata = MetaData()

UUID_LENGTH = 36
DIGEST_LENGTH = 64

predictions = Table(
    "predictions", metadata,
    Column("id", String(UUID_LENGTH), primary_key=True),
    Column("predicted_at", DateTime(timezone=True), nullable=False),
    Column("logged_at", DateTime(timezone=True), nullable=False),
    Column("source", String(32), nullable=False),
    Column("run_id", String(UUID_LENGTH), nullable=False),
    Column("input_sha256", String(DIGEST_LENGTH)),
    Column("ward", String(200)),
    Column("user_name", String(200)),
    Column("user_role", String(32)),
    Column("patient_id", String(200)),
    Column("row_number", Integer),
    Column("model_version", String(64), nullable=False),
    Column("model_digest", String(DIGEST_LENGTH), nullable=False),
    Column("inputs", JsonText, nullable=False),
    Column("imputed", JsonText, nullable=False),
    Column("risk", Float),
    Column("risk_low", Float),
    Column("risk_high", Float),
    Column("tier", String(32), nullable=False),
    Column("atypical", Boolean),
    Column("drivers", JsonText),
    Column("flagged", Boolean),
    Column("in_top_k", Boolean),
    Column("problems", Text),
    Column("card_uuid", String(UUID_LENGTH), unique=True),
    Column("hook_instance", String(200)),
    Column("encounter_id", String(200)),
    Column("card_shown", Boolean),
    Column("oldest_value_at", DateTime(timezone=True)),  # when the oldest value used was measured (None: unknown)
    Index("ix_predictions_patient_time", "patient_id", "predicted_at"),
    Index("ix_predictions_time", "predicted_at"),
    # The shadow rows found without reading every row (a log without any says so at once). Not a partial index: its
    # condition is a dialect's argument, and naming PostgreSQL's would load that dialect in every process that logs.
    # With the run and row too it cost a third more per logged row in SQLite; the source alone costs a tenth.
    Index("ix_predictions_source", "source"),
)

outcomes = Table(
    "outcomes", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("patient_id", String(200), nullable=False),
    Column("outcome_time", DateTime(timezone=True), nullable=False),
    Column("event", Boolean, nullable=False),
    Column("prediction_id", String(UUID_LENGTH), ForeignKey("predictions.id", ondelete="SET NULL")),
    Column("imported_at", DateTime(timezone=True), nullable=False),
    Column("input_sha256", String(DIGEST_LENGTH)),
    UniqueConstraint("patient_id", "outcome_time", name="uq_outcomes_patient_time"),
    # The event in the index: a monitoring period's join to its outcomes never reads the outcomes' rows.
    Index("ix_outcomes_prediction_event", "prediction_id", "event"),
)

feedback = Table(
    "feedback", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("card_uuid", String(UUID_LENGTH), nullable=False),
    Column("prediction_id", String(UUID_LENGTH), ForeignKey("predictions.id", ondelete="CASCADE")),
    Column("outcome", String(32), nullable=False),
    Column("reasons", JsonText, nullable=False),
    Column("outcome_time", DateTime(timezone=True)),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("message_sha256", String(DIGEST_LENGTH), nullable=False, unique=True),
)

seen_tokens = Table(
    "seen_tokens", metadata,
    Column("issuer", String(500), primary_key=True),
    Column("jti", String(200), primary_key=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

monitor_alerts = Table(
    "monitor_alerts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("period_kind", String(8), nullable=False),
    Column("period", String(10), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("message", Text, nullable=False),
    Column("raised_at", DateTime(timezone=True), nullable=False),
)

service_settings = Table(
    "service_settings", metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(200), nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Column("changed_by", String(200)),
)

models = Table(
    "models", metadata,
    Column("digest", String(DIGEST_LENGTH), primary_key=True),
    Column("version", String(64), nullable=False),
    Column("location", String(1000), nullable=False),  # the checkpoint's folder, as every face reaches it
    Column("status", String(16), nullable=False),  # active, registered or retired
    Column("registered_at", DateTime(timezone=True), nullable=False),
)

model_changes = Table(
    "model_changes", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Column("action", String(16), nullable=False),  # promote or rollback
    Column("digest", String(DIGEST_LENGTH), ForeignKey("models.digest"), nullable=False),  # in use after it
    Column("previous_digest", String(DIGEST_LENGTH), ForeignKey("models.digest")),  # in use before it
    Column("changed_by", String(200), nullable=False),
    Column("reason", Text, nullable=False),
)

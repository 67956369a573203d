"""The prediction log: predictions, outcomes, the service's feedback and the tokens it has seen.

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UUID, DIGEST = 36, 64


def upgrade() -> None:
    op.create_table(
        "predictions",
        sa.Column("id", sa.String(UUID), primary_key=True),
        sa.Column("predicted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("logged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("run_id", sa.String(UUID), nullable=False),
        sa.Column("input_sha256", sa.String(DIGEST)),
        sa.Column("ward", sa.String(200)),
        sa.Column("user_name", sa.String(200)),
        sa.Column("user_role", sa.String(32)),
        sa.Column("patient_id", sa.String(200)),
        sa.Column("row_number", sa.Integer),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("model_digest", sa.String(DIGEST), nullable=False),
        sa.Column("inputs", sa.Text, nullable=False),
        sa.Column("imputed", sa.Text, nullable=False),
        sa.Column("risk", sa.Float),
        sa.Column("risk_low", sa.Float),
        sa.Column("risk_high", sa.Float),
        sa.Column("tier", sa.String(32), nullable=False),
        sa.Column("atypical", sa.Boolean),
        sa.Column("drivers", sa.Text),
        sa.Column("flagged", sa.Boolean),
        sa.Column("in_top_k", sa.Boolean),
        sa.Column("problems", sa.Text),
        sa.Column("card_uuid", sa.String(UUID), unique=True),
        sa.Column("hook_instance", sa.String(200)),
    )
    op.create_index("ix_predictions_patient_time", "predictions", ["patient_id", "predicted_at"])
    op.create_index("ix_predictions_time", "predictions", ["predicted_at"])
    op.create_table(
        "outcomes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("patient_id", sa.String(200), nullable=False),
        sa.Column("outcome_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event", sa.Boolean, nullable=False),
        sa.Column("prediction_id", sa.String(UUID), sa.ForeignKey("predictions.id", ondelete="SET NULL")),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("input_sha256", sa.String(DIGEST)),
        sa.UniqueConstraint("patient_id", "outcome_time", name="uq_outcomes_patient_time"),
    )
    op.create_index("ix_outcomes_prediction", "outcomes", ["prediction_id"])
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("card_uuid", sa.String(UUID), nullable=False),
        sa.Column("prediction_id", sa.String(UUID), sa.ForeignKey("predictions.id", ondelete="CASCADE")),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.Column("outcome_time", sa.DateTime(timezone=True)),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message_sha256", sa.String(DIGEST), nullable=False, unique=True),
    )
    op.create_table(
        "seen_tokens",
        sa.Column("issuer", sa.String(500), primary_key=True),
        sa.Column("jti", sa.String(200), primary_key=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in ("seen_tokens", "feedback", "outcomes", "predictions"):
        op.drop_table(table)

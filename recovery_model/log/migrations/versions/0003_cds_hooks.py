"""The CDS Hooks service: the encounter a card was shown in and whether it was shown, and the service's settings
(cards switched off by an admin) shared by all its workers.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("predictions") as table:
        table.add_column(sa.Column("encounter_id", sa.String(200)))
        table.add_column(sa.Column("card_shown", sa.Boolean))
    op.create_table(
        "service_settings",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.String(200)),
    )


def downgrade() -> None:
    op.drop_table("service_settings")
    with op.batch_alter_table("predictions") as table:
        table.drop_column("card_shown")
        table.drop_column("encounter_id")

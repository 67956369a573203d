"""When the oldest value a prediction used was measured: what each logged risk rests on in time.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("predictions") as table:
        table.add_column(sa.Column("oldest_value_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("predictions") as table:
        table.drop_column("oldest_value_at")

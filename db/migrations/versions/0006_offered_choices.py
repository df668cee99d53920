"""offered choices: the actions each chat was offered, so forged button data is refused

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 00:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "offered_choices",
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("data", sa.String(length=128), nullable=False),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel", "chat_id", "data", name=op.f("pk_offered_choices")),
    )
    with op.batch_alter_table("offered_choices", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_offered_choices_offered_at"), ["offered_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("offered_choices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_offered_choices_offered_at"))
    op.drop_table("offered_choices")

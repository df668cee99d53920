"""update ledger keyed by chat

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 22:40:00.000000

The ledger of handled updates was keyed by (channel, update_key); an update key that came again
from another chat was answered with the first chat's stored replies. It is now keyed by
(channel, chat_id, update_key). Rows written before this migration get chat_id '' and so match
no later delivery: an update handled just before the upgrade and redelivered just after it is
handled again (the ledger is pruned after days, so this only concerns updates in flight).
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("processed_updates") as batch_op:
        batch_op.add_column(
            sa.Column("chat_id", sa.String(length=64), nullable=False, server_default="")
        )
    with op.batch_alter_table("processed_updates") as batch_op:
        batch_op.alter_column("chat_id", server_default=None)
        batch_op.drop_constraint("pk_processed_updates", type_="primary")
        batch_op.create_primary_key("pk_processed_updates", ["channel", "chat_id", "update_key"])


def downgrade() -> None:
    # Keep one row per (channel, update_key) so the old key fits again.
    processed = sa.table(
        "processed_updates",
        sa.column("channel", sa.String),
        sa.column("chat_id", sa.String),
        sa.column("update_key", sa.String),
    )
    duplicates = (
        sa.select(processed.c.channel, processed.c.update_key)
        .group_by(processed.c.channel, processed.c.update_key)
        .having(sa.func.count() > 1)
    )
    for channel, key in op.get_bind().execute(duplicates).all():
        keep = (
            op.get_bind()
            .execute(
                sa.select(sa.func.min(processed.c.chat_id)).where(
                    processed.c.channel == channel, processed.c.update_key == key
                )
            )
            .scalar_one()
        )
        op.execute(
            processed.delete().where(
                processed.c.channel == channel,
                processed.c.update_key == key,
                processed.c.chat_id != keep,
            )
        )
    with op.batch_alter_table("processed_updates") as batch_op:
        batch_op.drop_constraint("pk_processed_updates", type_="primary")
        batch_op.create_primary_key("pk_processed_updates", ["channel", "update_key"])
    with op.batch_alter_table("processed_updates") as batch_op:
        batch_op.drop_column("chat_id")

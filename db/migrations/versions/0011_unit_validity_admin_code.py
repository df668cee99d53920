"""two tiers: unit type, official admin code, validity and successor

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 04:50:00.000000

Since 1 July 2025 a province's communes sit directly under it and new communes reuse old
administrative codes, so a unit's identity stays the project's own `code` and the official code
is the separate `admin_code`. `type_label` is the unit's own word (xã, phường, đặc khu, thôn,
tổ dân phố). `valid_from` / `valid_to` bound the unit's life; a unit retired by a
reorganisation names its `successor_code`. Existing units get NULLs: active, dates unknown.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("units") as batch_op:
        batch_op.add_column(sa.Column("type_label", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("admin_code", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("valid_from", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("valid_to", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("successor_code", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_units_admin_code", ["admin_code"])


def downgrade() -> None:
    with op.batch_alter_table("units") as batch_op:
        batch_op.drop_index("ix_units_admin_code")
        batch_op.drop_column("successor_code")
        batch_op.drop_column("valid_to")
        batch_op.drop_column("valid_from")
        batch_op.drop_column("admin_code")
        batch_op.drop_column("type_label")

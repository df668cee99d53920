"""Zalo Official Account tokens

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 04:30:00.000000

The OA's access token and its single-use, rotating refresh token, one row per OA.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oa_tokens",
        sa.Column("oa_id", sa.String(length=32), nullable=False),
        sa.Column("access_token", sa.Text(), nullable=True),
        sa.Column("access_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refresh_token", sa.Text(), nullable=False),
        sa.Column("seed_digest", sa.String(length=64), nullable=True),
        sa.Column("version", sa.Integer(), server_default="0", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("oa_id", name="pk_oa_tokens"),
    )


def downgrade() -> None:
    op.drop_table("oa_tokens")

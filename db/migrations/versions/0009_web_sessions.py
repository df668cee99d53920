"""web sign-in links and sessions

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 04:40:00.000000

The officials' dashboard: one-time sign-in links made by /web (valid 10 minutes) and the
browser sessions they open (7 days). Only SHA-256 hashes of the tokens are stored.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _table(name: str, *extra: sa.Column) -> None:
    op.create_table(
        name,
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        *extra,
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f(f"fk_{name}_person_id_people")
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f(f"pk_{name}")),
    )
    with op.batch_alter_table(name, schema=None) as batch_op:
        batch_op.create_index(batch_op.f(f"ix_{name}_person_id"), ["person_id"], unique=False)
        batch_op.create_index(batch_op.f(f"ix_{name}_expires_at"), ["expires_at"], unique=False)


def upgrade() -> None:
    _table("web_logins", sa.Column("used_at", sa.DateTime(timezone=True), nullable=True))
    _table("web_sessions")


def downgrade() -> None:
    for name in ("web_sessions", "web_logins"):
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{name}_expires_at"))
            batch_op.drop_index(batch_op.f(f"ix_{name}_person_id"))
        op.drop_table(name)

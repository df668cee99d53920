"""Tables, as SQLAlchemy Core metadata. Alembic migrations in db/migrations mirror this file."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from core import figures as _table


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, on SQLite and PostgreSQL alike."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# The units file's figures: population counts, then each count's baseline (core/figures.py).
_FIGURES = (
    "households",
    "eligible_citizens",
    "working_age",
    *(count.baseline for count in _table.COUNTS if count.baseline),
)

units = sa.Table(
    "units",
    metadata,
    sa.Column("code", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("parent_code", sa.String(64), nullable=True, index=True),
    # "/mo-duc/duc-chanh/duc-chanh-an-ba/": subtree queries are a prefix match.
    sa.Column("path", sa.String(400), nullable=False, index=True),
    sa.Column("depth", sa.Integer, nullable=False),
    *(sa.Column(name, sa.Integer, nullable=True) for name in _FIGURES),
    # Published contact of the village team (chosen by its leader); None = not published.
    sa.Column("public_contact", sa.String(300), nullable=True),
)

people = sa.Table(
    "people",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("role", sa.String(32), nullable=False, server_default="resident"),
    sa.Column("unit_code", sa.String(64), sa.ForeignKey("units.code"), nullable=True, index=True),
    sa.Column("position", sa.String(32), nullable=True),
    sa.Column("display_name", sa.String(100), nullable=True),
    sa.Column("preferred_channel", sa.String(16), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("channel", sa.String(16), primary_key=True),
    sa.Column("external_id", sa.String(64), primary_key=True),
    sa.Column("person_id", sa.Integer, sa.ForeignKey("people.id"), nullable=False, index=True),
    sa.Column("chat_id", sa.String(64), nullable=False),
    sa.Column("linked_at", UTCDateTime(), nullable=False),
)

invites = sa.Table(
    "invites",
    metadata,
    sa.Column("code", sa.String(32), primary_key=True),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("unit_code", sa.String(64), sa.ForeignKey("units.code"), nullable=False),
    sa.Column("created_by", sa.Integer, sa.ForeignKey("people.id"), nullable=True),
    sa.Column("max_uses", sa.Integer, nullable=False),
    sa.Column("uses", sa.Integer, nullable=False, server_default="0"),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    # Set when an officer or the shell revokes the code: it can no longer be redeemed.
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
)

households = sa.Table(
    "households",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("village_code", sa.String(64), sa.ForeignKey("units.code"), nullable=False),
    sa.Column("head_name", sa.String(100), nullable=False),
    sa.Column("head_key", sa.String(100), nullable=False),
    sa.Column("address", sa.String(200), nullable=False, server_default=""),
    sa.Column("address_key", sa.String(200), nullable=False, server_default=""),
    sa.Column("size", sa.Integer, nullable=True),
    sa.Column("created_by", sa.Integer, sa.ForeignKey("people.id"), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    # Derived from all live visits (db/repos/visits.py keeps it in step).
    sa.Column("visits", sa.Integer, nullable=False, server_default="0"),
    sa.Column("dvc_payment", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("proficient", sa.Boolean, nullable=False, server_default=sa.false()),
    *(
        sa.Column(count.state, sa.Integer, nullable=False, server_default="0")
        for count in _table.COUNTS
    ),
    sa.Index("ix_households_village_head", "village_code", "head_key"),
)

SKILL_FLAGS = _table.skill_codes()

visits = sa.Table(
    "visits",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("household_id", sa.Integer, sa.ForeignKey("households.id"), nullable=False),
    sa.Column("member_id", sa.Integer, sa.ForeignKey("people.id"), nullable=False),
    sa.Column("village_code", sa.String(64), sa.ForeignKey("units.code"), nullable=False),
    sa.Column("visit_date", sa.Date, nullable=False),
    *(
        sa.Column(flag, sa.Boolean, nullable=False, server_default=sa.false())
        for flag in SKILL_FLAGS
    ),
    *(
        sa.Column(count.code, sa.Integer, nullable=False, server_default="0")
        for count in _table.COUNTS
    ),
    sa.Column("proficient", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("note", sa.String(500), nullable=True),
    # Idempotency: one visit per (channel, incoming update / flow step) however often it is retried.
    sa.Column("request_key", sa.String(128), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=True),
    sa.Column("deleted_at", UTCDateTime(), nullable=True),
    sa.Index("ix_visits_member_date", "member_id", "visit_date"),
    sa.Index("ix_visits_household", "household_id"),
)

# Maintained aggregates, one row per unit (village and every ancestor), updated in the
# report's own transaction: reading statistics never scans visits.
FIGURES = _FIGURES
_AGGREGATES = (
    "reports",
    "households_visited",
    "households_dvc_payment",
    "proficient_households",
    *(count.statistic for count in _table.COUNTS),
)
AGGREGATES = _AGGREGATES

unit_stats = sa.Table(
    "unit_stats",
    metadata,
    sa.Column("unit_code", sa.String(64), sa.ForeignKey("units.code"), primary_key=True),
    # Subtree totals of the units file's figures, recomputed on every import.
    *(
        sa.Column(f"total_{name}", sa.Integer, nullable=False, server_default="0")
        for name in _FIGURES
    ),
    *(sa.Column(name, sa.Integer, nullable=False, server_default="0") for name in _AGGREGATES),
)

# The same aggregates per day of visit, for "today" and "yesterday" figures.
unit_daily_stats = sa.Table(
    "unit_daily_stats",
    metadata,
    sa.Column("unit_code", sa.String(64), sa.ForeignKey("units.code"), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    *(sa.Column(name, sa.Integer, nullable=False, server_default="0") for name in _AGGREGATES),
)

conversations = sa.Table(
    "conversations",
    metadata,
    sa.Column("channel", sa.String(16), primary_key=True),
    sa.Column("chat_id", sa.String(64), primary_key=True),
    sa.Column("flow", sa.String(32), nullable=True),
    sa.Column("state", sa.String(32), nullable=True),
    sa.Column("data", sa.JSON, nullable=False),
    # Bumped on every change: buttons carry it, so a stale or double-tapped button is recognised.
    sa.Column("version", sa.Integer, nullable=False, server_default="0"),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

# Options a chat was offered that stay valid after the conversation moves on (menu shortcuts,
# Undo, "Tôi nhận" under a notice): keyed like the conversation. A pressed action is accepted
# only if it is here, so a client cannot make up its own button data.
offered_choices = sa.Table(
    "offered_choices",
    metadata,
    sa.Column("channel", sa.String(16), primary_key=True),
    sa.Column("chat_id", sa.String(64), primary_key=True),
    sa.Column("data", sa.String(128), primary_key=True),
    sa.Column("offered_at", UTCDateTime(), nullable=False, index=True),
)

processed_updates = sa.Table(
    "processed_updates",
    metadata,
    sa.Column("channel", sa.String(16), primary_key=True),
    # The chat is part of the key: an update key that turns up from another chat is a new
    # update there, never a way to be shown this chat's stored replies.
    sa.Column("chat_id", sa.String(64), primary_key=True),
    sa.Column("update_key", sa.String(128), primary_key=True),
    sa.Column("replies", sa.JSON, nullable=False),
    sa.Column("processed_at", UTCDateTime(), nullable=False, index=True),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("person_id", sa.Integer, sa.ForeignKey("people.id"), nullable=True),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("entity", sa.String(32), nullable=False),
    sa.Column("entity_id", sa.Integer, nullable=True),
    sa.Column("before", sa.JSON, nullable=True),
    sa.Column("after", sa.JSON, nullable=True),
    sa.Column("at", UTCDateTime(), nullable=False),
)

# Questions residents asked, for content editors. No person is stored, and digits that look
# like ID-card or phone numbers are masked before the text is written.
questions = sa.Table(
    "questions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("asked_at", UTCDateTime(), nullable=False, index=True),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("text", sa.String(1000), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("guide_id", sa.String(64), nullable=True),
    sa.Column("score", sa.Float, nullable=False),
)

# Requests for a team member to come and help at home (team-contact).
help_requests = sa.Table(
    "help_requests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "village_code", sa.String(64), sa.ForeignKey("units.code"), nullable=False, index=True
    ),
    sa.Column("topic", sa.String(64), nullable=False),
    sa.Column("contact", sa.String(100), nullable=False),
    sa.Column("resident_channel", sa.String(16), nullable=False),
    sa.Column("resident_chat_id", sa.String(64), nullable=False),
    sa.Column("resident_name", sa.String(100), nullable=True),
    sa.Column("status", sa.String(16), nullable=False, server_default="open"),
    sa.Column("taken_by", sa.Integer, sa.ForeignKey("people.id"), nullable=True),
    sa.Column("request_key", sa.String(128), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("taken_at", UTCDateTime(), nullable=True),
    # Set when the contact, name and chat were erased (retention period over, or on request).
    sa.Column("anonymised_at", UTCDateTime(), nullable=True),
)

# Everything the bot sends on its own (notices, help requests, reminders): one row per
# (notice, recipient) key, so a notice is queued once however often it is produced; senders
# claim rows with a lease, so several processes never send the same row at the same time.
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(200), nullable=False, unique=True),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("chat_id", sa.String(64), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("urgent", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("claimed_until", UTCDateTime(), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("sent_at", UTCDateTime(), nullable=True),
    sa.Column("failed_at", UTCDateTime(), nullable=True),
    sa.Column("last_error", sa.String(300), nullable=True),
    # A notice that is stale from this instant on is never sent (e.g. yesterday's brief).
    sa.Column("expires_at", UTCDateTime(), nullable=True),
    sa.Index("ix_outbox_pending", "channel", "sent_at", "failed_at"),
    sa.Index("ix_outbox_created_at", "created_at"),
)

# What a unit delivered for a deadline of the plan (the roster, the plan document, the
# summary): one row per (deadline, unit); delivering again replaces it. Reminders of that
# deadline stop for everyone in that unit.
deliverables = sa.Table(
    "deliverables",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("deadline_key", sa.String(64), nullable=False),
    sa.Column("unit_code", sa.String(64), sa.ForeignKey("units.code"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # roster | document | summary
    sa.Column("done_by", sa.Integer, sa.ForeignKey("people.id"), nullable=True),
    sa.Column("done_at", UTCDateTime(), nullable=False),
    # {"text": ...} or {"file_id", "file_kind", "file_name", "channel"} or {"roster": [...]}
    sa.Column("payload", sa.JSON, nullable=False),
    sa.UniqueConstraint("deadline_key", "unit_code"),
)

# Chats that follow a village or commune's announcements. Residents have no person row, so a
# follow is the chat itself; one chat may follow a unit once.
follows = sa.Table(
    "follows",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("chat_id", sa.String(64), nullable=False),
    sa.Column("unit_code", sa.String(64), sa.ForeignKey("units.code"), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("channel", "chat_id", "unit_code"),
)

# An announcement from a leader or officer to the members and/or followers of an area. Written
# at the preview; `sent_at` is set once, when the sender confirms and it is queued.
announcements = sa.Table(
    "announcements",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("sender_id", sa.Integer, sa.ForeignKey("people.id"), nullable=False, index=True),
    sa.Column("unit_code", sa.String(64), sa.ForeignKey("units.code"), nullable=False),
    sa.Column("audience", sa.String(16), nullable=False),  # members | residents | both
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("attachment_kind", sa.String(16), nullable=True),  # photo | document
    sa.Column("attachment_file_id", sa.String(300), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("sent_at", UTCDateTime(), nullable=True),
)

# The officials' dashboard (bot/dashboard.py). A one-time sign-in link from /web, and the
# browser sessions it opens. Only SHA-256 hashes of the tokens are stored: a copy of the
# database opens no session.
web_logins = sa.Table(
    "web_logins",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("person_id", sa.Integer, sa.ForeignKey("people.id"), nullable=False, index=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False, index=True),
    sa.Column("used_at", UTCDateTime(), nullable=True),
)

web_sessions = sa.Table(
    "web_sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("person_id", sa.Integer, sa.ForeignKey("people.id"), nullable=False, index=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False, index=True),
)

# A Zalo Official Account's OAuth tokens (bot/channels/zalo_oa.py). The refresh token is single
# use and rotates on every refresh, so it lives here (not in .env): a restart or a second worker
# reads the current one. `version` is bumped on every change (compare-and-swap); `seed_digest`
# is the SHA-256 of the refresh token last taken from the settings, so a new one put there
# (after the commune re-grants access) replaces the stored pair, while the old one, spent, does
# not.
oa_tokens = sa.Table(
    "oa_tokens",
    metadata,
    sa.Column("oa_id", sa.String(32), primary_key=True),
    sa.Column("access_token", sa.Text, nullable=True),
    sa.Column("access_expires_at", UTCDateTime(), nullable=True),
    sa.Column("refresh_token", sa.Text, nullable=False),
    sa.Column("seed_digest", sa.String(64), nullable=True),
    sa.Column("version", sa.Integer, nullable=False, server_default="0"),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

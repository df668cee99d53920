"""How long the bot keeps what it stores, applied daily by the scheduler and by
`python -m bot privacy prune` (personal data is kept only as long as its purpose needs).

Each period is a setting (bot/config.py, RETENTION_*); README "Dữ liệu và quyền riêng tư"
explains each one and why. Defaults:
- help-request contacts (phone, name, chat): erased 30 days after someone took the request;
  a request nobody took is closed and erased after 60 days;
- conversations (flow state, drafts) idle for 30 days: deleted;
- the update ledger and finished outbox rows: 45 days (the Zalo usage meter counts the
  current month from them, so never fewer than 32); invites 45 days after they expired;
- residents' questions (already masked, not linked to anyone): 365 days, for content editors;
- options offered to a chat (db/repos/offers.py): as long as they can be pressed, OFFER_DAYS.
Reports, households, the audit log and deliverables are the campaign's records: kept, and
erased one by one on request (handlers/services/privacy.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from core.timeouts import OFFER_DAYS
from db.repos import offers, privacy, retention

LEDGER_DAYS = 45
QUESTION_DAYS = 365


@dataclass(frozen=True, slots=True)
class Policy:
    """The retention periods, in days."""

    help_contact_days: int = 30
    help_open_days: int = 60
    conversation_days: int = 30
    ledger_days: int = LEDGER_DAYS
    question_days: int = QUESTION_DAYS


async def prune(
    conn: AsyncConnection, now: datetime, policy: Policy | None = None
) -> dict[str, int]:
    """Apply the policy at `now`; returns how many rows each step deleted or anonymised."""
    policy = policy or Policy()
    closed, stale = await privacy.help_requests_due(
        conn,
        closed_before=now - timedelta(days=policy.help_contact_days),
        open_before=now - timedelta(days=policy.help_open_days),
    )
    anonymised = await privacy.anonymise_help_requests(conn, closed, now)
    expired = await privacy.anonymise_help_requests(conn, stale, now)
    pruned = await retention.prune(
        conn,
        ledger_before=now - timedelta(days=policy.ledger_days),
        questions_before=now - timedelta(days=policy.question_days),
        conversations_before=now - timedelta(days=policy.conversation_days),
    )

    pruned["offers"] = await offers.prune(conn, before=now - timedelta(days=OFFER_DAYS))
    return {**pruned, "help_anonymised": anonymised, "help_expired": expired}

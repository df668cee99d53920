"""How long the bot keeps its working records (personal data is kept to what the job needs).

- Update ledger (incoming updates and the replies given): 45 days. Redeliveries come within
  minutes; the Zalo usage meter counts the current month.
- Outbox rows once sent, failed or expired: 45 days (the meter counts the current month).
- Residents' questions (already masked): 365 days, for content editors.
- Options offered to a chat (db/repos/offers.py): as long as they can be pressed, OFFER_DAYS.
Reports, households, audit rows and deliverables are the campaign's records and are kept.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from db.repos import offers, retention
from handlers.dispatcher import OFFER_DAYS

LEDGER_DAYS = 45
QUESTION_DAYS = 365


async def prune(conn: AsyncConnection, now: datetime) -> dict[str, int]:
    pruned = await retention.prune(
        conn,
        ledger_before=now - timedelta(days=LEDGER_DAYS),
        questions_before=now - timedelta(days=QUESTION_DAYS),
    )
    pruned["offers"] = await offers.prune(conn, before=now - timedelta(days=OFFER_DAYS))
    return pruned

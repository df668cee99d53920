"""Deleting what is no longer needed: old update-ledger rows, finished outbox rows, old
questions, idle conversations and long-expired invites."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db.schema import conversations, invites, outbox, processed_updates, questions


async def prune(
    conn: AsyncConnection,
    *,
    ledger_before: datetime,
    questions_before: datetime,
    conversations_before: datetime,
) -> dict[str, int]:
    """Delete ledger rows and finished (sent, failed or expired) outbox rows created before
    `ledger_before`, invites that expired before it, questions asked before
    `questions_before`, conversations last changed before `conversations_before`.
    Returns rows deleted."""
    ledger = await conn.execute(
        processed_updates.delete().where(processed_updates.c.processed_at < ledger_before)
    )
    finished = sa.or_(
        outbox.c.sent_at.is_not(None),
        outbox.c.failed_at.is_not(None),
        sa.and_(outbox.c.expires_at.is_not(None), outbox.c.expires_at < ledger_before),
    )
    sent = await conn.execute(outbox.delete().where(outbox.c.created_at < ledger_before, finished))
    asked = await conn.execute(questions.delete().where(questions.c.asked_at < questions_before))
    idle = await conn.execute(
        conversations.delete().where(conversations.c.updated_at < conversations_before)
    )
    codes = await conn.execute(invites.delete().where(invites.c.expires_at < ledger_before))
    return {
        "ledger": ledger.rowcount,
        "outbox": sent.rowcount,
        "questions": asked.rowcount,
        "conversations": idle.rowcount,
        "invites": codes.rowcount,
    }

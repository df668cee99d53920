"""Ending flows left idle for 30 minutes, with a message, without waiting for the person."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from core.events import Reply
from core.timeouts import FLOW_TIMEOUT
from db.repos import conversations, idle, outbox
from db.repos.conversations import ConcurrentChange
from handlers.services.registry import Services


async def expire_idle(conn: AsyncConnection, services: Services, now: datetime) -> int:
    """Reset each flow idle for longer than FLOW_TIMEOUT and queue the 'expired' message.

    The reset bumps the conversation's version, so the old buttons are stale; a conversation
    that moved on meanwhile is left alone. Returns how many flows were ended.
    """
    text = services.texts.render("flow.expired")
    ended = 0
    for conversation in await idle.idle_flows(conn, now - FLOW_TIMEOUT):
        reset = replace(
            conversation, flow=None, state=None, data={}, version=conversation.version + 1
        )
        try:
            async with conn.begin_nested():
                await conversations.save(
                    conn, reset, expected_version=conversation.version, now=now
                )
        except ConcurrentChange:
            continue
        key = f"expired:{conversation.channel}:{conversation.chat_id}:{conversation.version}"
        await outbox.enqueue(
            conn,
            key=key,
            channel=conversation.channel,
            chat_id=conversation.chat_id,
            payload=Reply(text).to_json(),
            now=now,
        )
        ended += 1
    return ended

"""The lasting options (actions) each chat was offered: a pressed action must be one of them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db.hot import Hot
from db.repos._sql import insert_for
from db.schema import offered_choices

MAX_DATA = 128  # longer data is never offered (Telegram allows 64 bytes), so never accepted

_FIND = sa.select(offered_choices.c.offered_at).where(
    offered_choices.c.channel == sa.bindparam("channel"),
    offered_choices.c.chat_id == sa.bindparam("chat_id"),
    offered_choices.c.data == sa.bindparam("data"),
)


def _build_record(dialect: str) -> Any:
    stmt = insert_for(dialect, offered_choices).values(
        {name: sa.bindparam(name) for name in ("channel", "chat_id", "data", "offered_at")}
    )
    return stmt.on_conflict_do_update(
        index_elements=[
            offered_choices.c.channel,
            offered_choices.c.chat_id,
            offered_choices.c.data,
        ],
        set_={"offered_at": stmt.excluded.offered_at},
    )


_RECORD = Hot(_build_record)


async def record(
    conn: AsyncConnection,
    channel: str,
    chat_id: str,
    data: Iterable[str],
    now: datetime,
    *,
    at_commit: bool = False,
) -> None:
    """Remember that this chat was offered these options (again) at `now` (`at_commit`: with
    the transaction's last writes, just before COMMIT, db/hot.py)."""
    rows = [
        {"channel": channel, "chat_id": chat_id, "data": item, "offered_at": now}
        for item in dict.fromkeys(data)
        if len(item) <= MAX_DATA
    ]
    if at_commit or len(rows) == 1:
        for row in rows:
            await _RECORD.write(conn, row, at_commit=at_commit)
    elif rows:
        await _RECORD.run_many(conn, rows)


async def was_offered(
    conn: AsyncConnection, channel: str, chat_id: str, data: str, *, since: datetime
) -> bool:
    """True if this chat was offered `data` at or after `since`."""
    if len(data) > MAX_DATA:
        return False
    found = (
        await conn.execute(_FIND, {"channel": channel, "chat_id": chat_id, "data": data})
    ).scalar()
    return found is not None and found >= since


async def prune(conn: AsyncConnection, *, before: datetime) -> int:
    """Forget options offered before `before`; returns how many."""
    result = await conn.execute(
        offered_choices.delete().where(offered_choices.c.offered_at < before)
    )
    return result.rowcount


async def forget_chat(conn: AsyncConnection, channel: str, chat_id: str) -> int:
    """Forget everything offered to one chat (a person's data erased on request)."""
    result = await conn.execute(
        offered_choices.delete().where(
            offered_choices.c.channel == channel, offered_choices.c.chat_id == chat_id
        )
    )
    return result.rowcount

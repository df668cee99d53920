"""The least a stored report can cost: the bound for `bench report --floor`.

A bot on the same Telegram channel code as the echo bot (bench/echo.py), whose handler does
what any report path that stores each report exactly once must do at the very least, straight
on the driver with no SQLAlchemy, templates or rules: one transaction with one read (the
sender's account) and one idempotent insert keyed by the update (a second delivery inserts
nothing), then a one-line answer. No household, no aggregates, no conversation, no update
ledger. Its rate against the echo bot's is the highest report/echo ratio any implementation
of the quick form could reach on this channel code and database.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Awaitable, Callable

import asyncpg

from bench.echo import serve
from core.events import Incoming, Reply

Store = Callable[[Incoming], Awaitable[int]]  # the new row's id; 0 when already stored
Close = Callable[[], Awaitable[None]]

_TABLE = (
    "CREATE TABLE IF NOT EXISTS bench_floor (id {key}, person_id INTEGER NOT NULL, "
    "body TEXT NOT NULL, request_key TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL)"
)
_PERSON = "SELECT person_id FROM accounts WHERE channel = {0} AND external_id = {1}"
_INSERT = (
    "INSERT INTO bench_floor (person_id, body, request_key, created_at) "
    "VALUES ({0}, {1}, {2}, {3}) ON CONFLICT (request_key) DO NOTHING RETURNING id"
)


async def open_store(url: str) -> tuple[Store, Close]:
    """The floor's store on DATABASE_URL (a database the bot's migrations made), and its close."""
    return await (_sqlite(url) if url.startswith("sqlite") else _postgresql(url))


async def _postgresql(url: str) -> tuple[Store, Close]:
    # A connection per update in progress, as the bot's pool lends them (bot/channels/telegram.py
    # handles up to MAX_CONCURRENT updates at once).
    pool = await asyncpg.create_pool(
        url.replace("postgresql+asyncpg://", "postgresql://"), min_size=8, max_size=8
    )
    await pool.execute(_TABLE.format(key="SERIAL PRIMARY KEY"))
    person = _PERSON.format("$1", "$2")
    insert = _INSERT.format("$1", "$2", "$3", "$4")

    async def store(event: Incoming) -> int:
        async with pool.acquire() as conn, conn.transaction():
            person_id = await conn.fetchval(person, event.channel, event.user_id)
            found = await conn.fetchval(
                insert, person_id, event.text or "", event.update_key, event.at.isoformat()
            )
        return int(found or 0)

    return store, pool.close


async def _sqlite(url: str) -> tuple[Store, Close]:
    # In the loop's thread, WAL and synchronous=NORMAL, BEGIN IMMEDIATE: as db/engine.py runs
    # statements inside a transaction.
    conn = sqlite3.connect(url.split("///", 1)[1], isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(_TABLE.format(key="INTEGER PRIMARY KEY AUTOINCREMENT"))
    person = _PERSON.format("?", "?")
    insert = _INSERT.format("?", "?", "?", "?")

    async def store(event: Incoming) -> int:
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute(person, (event.channel, event.user_id)).fetchone()
            found = conn.execute(
                insert, (row[0], event.text or "", event.update_key, event.at.isoformat())
            ).fetchone()
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return int(found[0]) if found else 0

    async def close() -> None:
        conn.close()

    return store, close


async def main() -> None:
    store, close = await open_store(os.environ["DATABASE_URL"])

    async def handle(event: Incoming) -> list[Reply]:
        return [Reply(f"Đã lưu báo cáo số {await store(event)} ạ.")]

    try:
        await serve(handle)
    finally:
        await close()


if __name__ == "__main__":
    asyncio.run(main())

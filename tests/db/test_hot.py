"""Hot statements (db/hot.py) run on the driver but behave as through SQLAlchemy: same values
and types back, inside the same transaction (rolled back with it), and outside a transaction
they go through SQLAlchemy."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg
import pytest
import sqlalchemy as sa

from bot.app import App
from db.engine import IDLE_PING_SECONDS, Database
from db.hot import Hot
from db.models import Conversation
from db.repos import conversations, offers, stats, units, updates
from db.schema import conversations as conversations_table
from db.schema import processed_updates
from tests.conftest import PG_ADMIN_DSN, own_database

_INSERT = Hot(
    processed_updates.insert().values(
        {
            name: sa.bindparam(name)
            for name in ("channel", "chat_id", "update_key", "replies", "processed_at")
        }
    )
)
_SELECT = Hot(
    sa.select(processed_updates.c.replies, processed_updates.c.processed_at)
    .where(processed_updates.c.update_key == sa.bindparam("update_key"))
    .order_by(processed_updates.c.chat_id)
    .limit(5)
)
AT = datetime(2026, 12, 4, 5, 6, 7, tzinfo=UTC)


def _row(key: str, chat: str = "1") -> dict[str, object]:
    replies = [{"text": "Chào bạn ạ <b>đậm</b>", "choices": [], "edit": False}]
    return {
        "channel": "telegram",
        "chat_id": chat,
        "update_key": key,
        "replies": replies,
        "processed_at": AT,
    }


async def test_hot_reads_give_what_sqlalchemy_gives(app: App) -> None:
    async with app.db.transaction() as conn:
        assert await _INSERT.run(conn, _row("k1")) == 1
        hot = await _SELECT.rows(conn, {"update_key": "k1"})
        plain = (
            await conn.execute(_SELECT.statement(conn.dialect.name), {"update_key": "k1"})
        ).all()
    assert [tuple(r) for r in hot] == [tuple(r) for r in plain]
    assert hot[0].replies == _row("k1")["replies"]
    assert hot[0].processed_at == AT and hot[0].processed_at.tzinfo is not None
    async with app.db.read() as conn:  # outside a transaction: through SQLAlchemy, same rows
        again = await _SELECT.rows(conn, {"update_key": "k1"})
    assert [tuple(r) for r in again] == [tuple(r) for r in hot]


async def test_hot_writes_are_rolled_back_with_their_transaction(app: App) -> None:
    with pytest.raises(RuntimeError):
        async with app.db.transaction() as conn:
            await _INSERT.run_many(conn, [_row("k2", "1"), _row("k2", "2")])
            assert len(await _SELECT.rows(conn, {"update_key": "k2"})) == 2
            raise RuntimeError("the handler failed")
    async with app.db.read() as conn:
        assert await _SELECT.rows(conn, {"update_key": "k2"}) == []


async def test_person_and_conversation_come_in_one_statement(app: App) -> None:
    async with app.db.transaction() as conn:
        person, conversation = await conversations.load_with_person(conn, "telegram", "9", "9")
        assert person is None and conversation.version == 0 and conversation.data == {}
        await conversations.save(
            conn,
            conversation.__class__("telegram", "9", "report", "name", {"a": 1}, 1, None),
            expected_version=0,
            now=AT,
        )
        _person, saved = await conversations.load_with_person(conn, "telegram", "9", "9")
    assert (saved.flow, saved.state, saved.data, saved.version) == ("report", "name", {"a": 1}, 1)
    assert saved.updated_at == AT
    async with app.db.transaction() as conn:
        await conn.execute(sa.delete(conversations_table))


async def test_an_idle_connection_that_died_is_replaced_before_use(app: App) -> None:
    """A database restart or a firewall drops idle connections: the next checkout after
    IDLE_PING_SECONDS pings, finds it dead and opens a new one; the caller sees nothing."""
    if app.db.is_sqlite:
        pytest.skip("the idle ping is for PostgreSQL's pooled connections")
    async with app.db.read() as conn:
        pid = (await conn.exec_driver_sql("SELECT pg_backend_pid()")).scalar_one()
        record = (await conn.get_raw_connection())._connection_record
    killer = await asyncpg.connect(PG_ADMIN_DSN)  # kills the pooled connection, now idle
    try:
        await killer.execute("SELECT pg_terminate_backend($1)", pid)
    finally:
        await killer.close()
    assert record is not None
    record.info["last_used"] -= IDLE_PING_SECONDS + 1
    for _ in range(3):  # whichever pooled connection comes out first, each query succeeds
        async with app.db.read() as conn:
            assert (await conn.exec_driver_sql("SELECT 1")).scalar_one() == 1


async def _kill_kept_connection(app: App) -> None:
    async with app.db.transaction() as conn:  # committed: its connection is kept for the next
        pid = (await conn.exec_driver_sql("SELECT pg_backend_pid()")).scalar_one()
    killer = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await killer.execute("SELECT pg_terminate_backend($1)", pid)
    finally:
        await killer.close()


async def test_a_kept_connection_that_died_while_idle_is_replaced_before_use(app: App) -> None:
    """Transactions keep their connection for the next one; one kept idle past
    IDLE_PING_SECONDS is pinged first, and a dead one is replaced without an error."""
    if app.db.is_sqlite:
        pytest.skip("the idle ping is for PostgreSQL's connections")
    await _kill_kept_connection(app)
    app.db._kept = [(conn, since - IDLE_PING_SECONDS - 1) for conn, since in app.db._kept]
    for _ in range(3):
        async with app.db.transaction() as conn:
            assert (await conn.exec_driver_sql("SELECT 1")).scalar_one() == 1


async def test_a_kept_connection_that_died_fails_one_transaction_only(app: App) -> None:
    """Dead within the idle time (not pinged): that transaction fails and rolls back, the
    connection is dropped, and the next transaction runs on a live one."""
    if app.db.is_sqlite:
        pytest.skip("the connection is PostgreSQL's")
    await _kill_kept_connection(app)
    with pytest.raises(sa.exc.SQLAlchemyError):
        async with app.db.transaction() as conn:
            await conn.exec_driver_sql("SELECT 1")
    async with app.db.transaction() as conn:
        assert (await conn.exec_driver_sql("SELECT 1")).scalar_one() == 1


async def test_workers_starting_together_migrate_once(tmp_path: Path) -> None:
    """Every worker applies migrations at start; on one fresh PostgreSQL database, several
    starting at the same instant must all come up (one migrates, the others wait)."""
    async with own_database("postgresql", tmp_path) as url:
        databases = [Database(url) for _ in range(3)]
        try:
            await asyncio.gather(*(db.upgrade() for db in databases))
            async with databases[0].read() as conn:
                tables = await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names())
        finally:
            for db in databases:
                await db.close()
    assert "visits" in tables and "alembic_version" in tables


async def test_last_writes_are_made_at_commit_and_a_failed_check_undoes_them_all(
    app: App,
) -> None:
    """The dispatcher's last writes (conversation, offers, update ledger, aggregates) go
    together just before COMMIT (one statement on PostgreSQL); when one of them finds the
    conversation moved on, nothing of the transaction is kept."""

    def conversation(version: int) -> Conversation:
        return Conversation("telegram", "77", "report", "name", {"a": version}, version, None)

    async with app.db.transaction() as conn:
        await conversations.save(conn, conversation(1), expected_version=0, now=AT, at_commit=True)
        await offers.record(conn, "telegram", "77", ["a:undo:1", "a:undo:2"], AT, at_commit=True)
        await updates.record(conn, "telegram", "77", "u1", [], AT, at_commit=True)
        assert await _SELECT.rows(conn, {"update_key": "u1"}) == []  # not yet: at COMMIT
    with pytest.raises(conversations.ConcurrentChange):
        async with app.db.transaction() as conn:
            await updates.record(conn, "telegram", "77", "u2", [], AT, at_commit=True)
            await conversations.save(  # loaded at version 0, but it is at 1 now
                conn, conversation(1), expected_version=0, now=AT, at_commit=True
            )
    with pytest.raises(updates.AlreadyRecorded):
        async with app.db.transaction() as conn:
            await conversations.save(
                conn, conversation(2), expected_version=1, now=AT, at_commit=True
            )
            await updates.record(conn, "telegram", "77", "u1", [], AT, at_commit=True)  # again
    async with app.db.read() as conn:
        _person, saved = await conversations.load_with_person(conn, "telegram", "77", "77")
        assert (saved.version, saved.data) == (1, {"a": 1})
        assert len(await _SELECT.rows(conn, {"update_key": "u1"})) == 1
        assert await _SELECT.rows(conn, {"update_key": "u2"}) == []
        for data in ("a:undo:1", "a:undo:2"):
            assert await offers.was_offered(conn, "telegram", "77", data, since=AT)


async def test_aggregates_of_lineages_of_every_length_go_in_one_transaction(app: App) -> None:
    """Two lineages of different lengths and two days, written with the last writes: each
    unit gets its sums once (the combined statement keeps their parts apart)."""
    async with app.db.read() as conn:
        village = await units.get(conn, "duc-chanh-thon-1")
        commune = await units.get(conn, "duc-chanh")
        assert village is not None and commune is not None
        before = await stats.for_units(conn, village.lineage)
    assert len(village.lineage) != len(commune.lineage)
    async with app.db.transaction() as conn:
        await stats.apply(conn, village.lineage, date(2026, 12, 3), {"reports": 1})
        await stats.apply(conn, village.lineage, date(2026, 12, 4), {"reports": 2})
        await stats.apply(conn, commune.lineage, date(2026, 12, 4), {"reports": 4})
        await updates.record(conn, "telegram", "88", "agg", [], AT, at_commit=True)
    async with app.db.read() as conn:
        after = await stats.for_units(conn, village.lineage)
    added = {code: after[code]["reports"] - before[code]["reports"] for code in village.lineage}
    assert added[village.code] == 3
    assert all(added[code] == 7 for code in commune.lineage)

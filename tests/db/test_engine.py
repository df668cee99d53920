"""Database errors reach the logs without residents' data: bound parameters are hidden by the
engine, and row values PostgreSQL quotes in its error details are redacted by the log set-up."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot import logs
from bot.app import App
from db.schema import households

NAME, ADDRESS = "Nguyễn Thị Bí Mật", "số 99 ngõ Riêng Tư"


@pytest.fixture
def redacting() -> Iterator[None]:
    """Log redaction installed as `python -m bot` installs it, removed afterwards."""
    factory = logging.getLogRecordFactory()
    logs.install_redaction()
    yield
    logging.setLogRecordFactory(factory)


def _insert_without_key() -> sa.Insert:
    # head_key is NOT NULL: the insert fails, and PostgreSQL's detail quotes the whole row.
    return households.insert().values(
        village_code="duc-chanh-thon-1",
        head_name=NAME,
        head_key=None,
        address=ADDRESS,
        address_key="so 99 ngo rieng tu",
        created_at=datetime.now(UTC),
    )


async def test_a_database_error_shows_no_bound_parameters(app: App) -> None:
    with pytest.raises(sa.exc.IntegrityError) as caught:
        async with app.db.transaction() as conn:
            await conn.execute(_insert_without_key())
    message = str(caught.value)
    assert "INSERT INTO households" in message  # the statement stays, to debug with
    assert "parameters hidden" in message
    assert NAME not in message and ADDRESS not in message


async def test_a_database_error_log_line_holds_no_personal_data(
    app: App, redacting: None, caplog: pytest.LogCaptureFixture
) -> None:
    try:
        async with app.db.transaction() as conn:
            await conn.execute(_insert_without_key())
    except sa.exc.IntegrityError:
        logging.getLogger("handlers.dispatcher").exception("failed to handle local update u1")
    logged = caplog.text
    assert "IntegrityError" in logged and "INSERT INTO households" in logged
    for secret in (NAME, ADDRESS, "so 99 ngo rieng tu"):
        assert secret not in logged
    if not app.db.is_sqlite:
        # asyncpg's own error, chained in the traceback, quotes the row: only its columns stay.
        assert "Failing row contains (<redacted>)" in logged


async def test_sqlite_writer_waits_for_another_process_lock_without_blocking_the_bot(
    app: App,
) -> None:
    """Another process (a `notify send` from cron) holding SQLite's write lock: the bot's
    transaction waits for it, off the event loop, and then commits; nothing is refused."""
    if not app.db.is_sqlite:
        pytest.skip("the write lock between processes is SQLite's")
    other = sqlite3.connect(str(app.db.url.database), isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")

        async def write() -> None:
            async with app.db.transaction() as conn:
                await conn.execute(
                    sa.text("UPDATE units SET name = name || '' WHERE code = 'duc-chanh'")
                )

        writing = asyncio.create_task(write())
        ticks = 0
        for _ in range(20):  # the event loop keeps running while the write waits
            await asyncio.sleep(0.01)
            ticks += 1
        assert ticks == 20 and not writing.done()
        other.execute("COMMIT")
        await asyncio.wait_for(writing, 10)
        # and the next transaction begins at once, with the lock free
        await asyncio.wait_for(write(), 1)
    finally:
        other.close()


async def test_a_long_read_does_not_hold_a_report_up(app: App) -> None:
    """An export or a dashboard page reading takes no write lock (on SQLite too): a
    transaction begins and commits while the read is still open."""
    async with app.db.read() as reading:
        await reading.execute(sa.text("SELECT name FROM units WHERE code = 'duc-chanh'"))

        async def rename() -> None:
            async with app.db.transaction() as conn:
                await conn.execute(
                    sa.text("UPDATE units SET name = 'Xã Đức Chánh (mới)' WHERE code = 'duc-chanh'")
                )

        await asyncio.wait_for(rename(), 2)  # it waited for the read's lock before: 30 s
    async with app.db.read() as fresh:
        now = (
            await fresh.execute(sa.text("SELECT name FROM units WHERE code = 'duc-chanh'"))
        ).scalar_one()
    assert now == "Xã Đức Chánh (mới)"


async def test_sqlite_log_is_checkpointed_while_commits_run_inline(app: App) -> None:
    """Commits no longer checkpoint on the event loop, so the bot checkpoints on its own: the
    write-ahead log is copied back and reused, it does not grow with every report."""
    if not app.db.is_sqlite:
        pytest.skip("the write-ahead log is SQLite's")
    wal = f"{app.db.url.database}-wal"
    commits = 1000
    for number in range(commits):
        async with app.db.transaction() as conn:
            await conn.execute(
                sa.text("UPDATE units SET name = :name WHERE code = 'duc-chanh'"),
                {"name": f"Xã Đức Chánh {number}"},
            )
    size = Path(wal).stat().st_size
    # Without checkpoints every commit appends at least one 4 KiB page: over 4 MB here.
    assert size < commits * 4096 / 3
    async with app.db.read() as conn:
        name = (
            await conn.execute(sa.text("SELECT name FROM units WHERE code = 'duc-chanh'"))
        ).scalar_one()
    assert name == f"Xã Đức Chánh {commits - 1}"

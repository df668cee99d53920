"""The database handle: one engine per process, opened at start-up, closed at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

import aiosqlite
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
# PostgreSQL connections per worker process (DB_POOL_SIZE, DB_MAX_OVERFLOW in bot/config.py).
DEFAULT_POOL_SIZE = 10
DEFAULT_MAX_OVERFLOW = 20


class Database:
    """Wraps the async engine; every write goes through `transaction()`."""

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        pool_size: int = DEFAULT_POOL_SIZE,
        max_overflow: int = DEFAULT_MAX_OVERFLOW,
    ) -> None:
        """`pool_size` connections are kept open (PostgreSQL), `max_overflow` more are opened
        under a burst and closed after; see README "Deployment" for sizing per worker."""
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        # Errors and echo show statements without their values: bound parameters are residents'
        # names, addresses and contacts, which must not reach a log line.
        kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
        if self.is_sqlite:
            database = self.url.database or ""
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["async_creator"] = _sqlite_connector(database or ":memory:", timeout=30)
        else:
            kwargs.update(pool_size=pool_size, max_overflow=max_overflow)
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if not self.is_sqlite:
            _ping_when_idle(self.engine, IDLE_PING_SECONDS)
        # One writer at a time in this process on SQLite (BEGIN IMMEDIATE handles other processes).
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        # Connections kept between transactions (see _lend), newest last.
        self._kept: list[tuple[AsyncConnection, float]] = []
        self._keep = 1 if self.is_sqlite else pool_size  # SQLite: one writer at a time
        self._closed = False

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A read-write transaction, committed on success and rolled back on any error.

        Writes collected with `deferred()` are made after the body, just before COMMIT.
        """
        lock = self._write_lock
        if lock is not None:
            await lock.acquire()
        try:
            conn = await self._lend()
            committed = False
            try:
                async with conn.begin():
                    collectors: dict[str, Deferred] = {}
                    conn.info[_BEFORE_COMMIT] = collectors
                    try:
                        yield conn
                        for name in sorted(collectors, key=lambda name: name == LAST_COLLECTOR):
                            await collectors[name].flush(conn)
                    finally:
                        # info outlives this transaction (it belongs to the DBAPI connection).
                        conn.info.pop(_BEFORE_COMMIT, None)
                committed = True
            finally:
                await self._take_back(conn, reusable=committed)
        finally:
            if lock is not None:
                lock.release()

    async def _lend(self) -> AsyncConnection:
        """A connection for a transaction: one kept from an earlier transaction, else the pool's.

        Checking a connection out of SQLAlchemy's pool and back in costs about a third of an
        empty transaction (two greenlet switches, pool events, the reset on return), paid
        by every report; connections that committed cleanly are kept here for the next one
        (as many as the pool keeps). One kept idle longer than IDLE_PING_SECONDS is pinged
        first, as the pool would (PostgreSQL).
        """
        while self._kept:
            conn, since = self._kept.pop()
            if self.is_sqlite or time.monotonic() - since < IDLE_PING_SECONDS:
                return conn
            try:
                await conn.run_sync(_ping)
            except Exception:
                log.info("a kept database connection did not answer; replacing it")
                with contextlib.suppress(Exception):
                    await conn.invalidate()
                with contextlib.suppress(Exception):
                    await conn.close()
                continue
            return conn
        return await self.engine.connect()

    async def _take_back(self, conn: AsyncConnection, *, reusable: bool) -> None:
        """Keep a connection that committed; anything else goes back to the pool, which
        rolls back and replaces broken connections as it always does."""
        if reusable and not self._closed and len(self._kept) < self._keep and not conn.invalidated:
            self._kept.append((conn, time.monotonic()))
        else:
            await conn.close()

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reading only (what it writes is rolled back when it closes).

        On SQLite it begins with a plain (deferred) BEGIN: in WAL mode a reader never takes
        the write lock, so a long read (an export, a dashboard page) does not hold reports up.
        """
        async with self.engine.connect() as conn:
            if self.is_sqlite:
                await conn.execution_options(**{_READ_ONLY: True})
            yield conn

    async def ping(self) -> None:
        """One round trip to the database (readiness checks); raises if it does not answer."""
        async with self.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def upgrade(self) -> None:
        """Apply every Alembic migration not yet applied.

        Several workers start at once: on PostgreSQL the upgrade holds a transaction-level
        advisory lock, so one applies the migrations and the others wait, then find nothing
        left to do (SQLite: BEGIN IMMEDIATE already serialises them).
        """
        async with self.engine.begin() as conn:
            if not self.is_sqlite:
                await conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
            await conn.run_sync(_run_upgrade)

    async def close(self) -> None:
        self._closed = True
        kept, self._kept = self._kept, []
        for conn, _since in kept:
            await conn.close()
        await self.engine.dispose()


_BEFORE_COMMIT = "before_commit"
# The collector flushed after the others, which may add to it (db/hot.py's Writes).
LAST_COLLECTOR = "writes"
_READ_ONLY = "tocongnghe_read_only"  # execution option of read() connections
# The advisory lock key that serialises migrations across processes (any fixed number).
_MIGRATION_LOCK = 7_140_2026

# A pooled connection unused for longer than this is pinged before it is lent out.
IDLE_PING_SECONDS = 10.0
_LAST_USED = "last_used"


def _ping(connection: sa.Connection) -> None:
    connection.connection.dbapi_connection.ping()  # type: ignore[union-attr]


def _ping_when_idle(engine: AsyncEngine, idle: float) -> None:
    """Check a connection that sat idle before lending it; a busy pool pays nothing.

    `pool_pre_ping` costs a round trip on every checkout, a tenth of a report's. A connection
    in steady use is known to be alive; one that waited (a database restart, a firewall that
    drops idle connections) is pinged, and a dead one is replaced: raising DisconnectionError
    from "checkout" makes the pool discard it and try another (SQLAlchemy's documented recipe).
    A connection that dies while busy fails its statement; SQLAlchemy then invalidates it
    and the dispatcher's caller gets an error reply, nothing half-written (one transaction).
    """

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        last = record.info.get(_LAST_USED)
        if last is not None and time.monotonic() - last < idle:
            return
        try:
            dbapi_connection.ping()
        except Exception as error:
            raise sa.exc.DisconnectionError() from error

    @event.listens_for(engine.sync_engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_LAST_USED] = time.monotonic()


class Deferred(Protocol):
    """Writes a transaction collects and makes just before it commits."""

    async def flush(self, conn: AsyncConnection) -> None: ...


D = TypeVar("D", bound=Deferred)


def deferred(conn: AsyncConnection, name: str, make: Callable[[], D]) -> D | None:
    """This transaction's `name` collector (made on first use); None outside `transaction()`.

    For rows that every transaction writes (the aggregates of the root unit): written last,
    they stay locked for one statement and the COMMIT instead of the whole transaction.
    Whatever is collected inside a savepoint that is rolled back is still written, so do not
    collect inside one.
    """
    collectors: dict[str, Deferred] | None = conn.info.get(_BEFORE_COMMIT)
    if collectors is None:
        return None
    found = collectors.get(name)
    if found is None:
        found = collectors[name] = make()
    return cast(D, found)


def _alembic_config(connection: sa.Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _run_upgrade(connection: sa.Connection) -> None:
    command.upgrade(_alembic_config(connection), "head")


class _SqliteConnection(aiosqlite.Connection):
    """aiosqlite, with the statements that cannot wait run in the event loop's own thread.

    aiosqlite hands every call (cursor, execute, fetch, close…) to its worker thread and back:
    tens of thread switches per report, about half of its time on SQLite. Inside a
    transaction that began with BEGIN IMMEDIATE this process already holds the write lock,
    and in WAL mode readers never block, so those statements only touch the page cache and
    run inline, and so does ROLLBACK (it only drops this connection's pages). BEGIN and COMMIT
    are tried inline without waiting (busy_timeout 0 for that one statement): only when
    another process holds a lock does the statement go to the worker thread to wait for it,
    up to busy_timeout (a COMMIT refused as busy leaves the transaction open, to be retried).
    In WAL mode with synchronous=NORMAL a COMMIT appends to the log without syncing; the sync
    is the checkpoint's, so automatic checkpoints are off on these connections and every
    CHECKPOINT_EVERY commits one runs on the worker thread instead (PASSIVE: it waits for no
    one). PRAGMAs (at connect) stay on the worker thread too.
    """

    busy_timeout_ms = 30_000  # restored after an inline BEGIN or COMMIT (set at connect)
    CHECKPOINT_EVERY = 200  # commits between two checkpoints, per connection
    _commits = 0

    async def _execute(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if self._connection is None or not self._running:
            return await super()._execute(fn, *args, **kwargs)
        kind = _kind(fn, args)
        if kind == "inline":
            return fn(*args, **kwargs)
        if kind == "thread":
            return await super()._execute(fn, *args, **kwargs)
        connection = self._connection
        connection.execute("PRAGMA busy_timeout=0")
        try:
            result = fn(*args, **kwargs)
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) and "busy" not in str(error):
                raise
            result = None
            waited = True
        else:
            waited = False
        finally:
            connection.execute(f"PRAGMA busy_timeout={self.busy_timeout_ms}")
        if waited:
            result = await super()._execute(fn, *args, **kwargs)
        if kind == "commit":
            self._commits += 1
            if self._commits % self.CHECKPOINT_EVERY == 0:
                await super()._execute(_checkpoint, connection)
        return result


def _checkpoint(connection: sqlite3.Connection) -> None:
    """Copy the write-ahead log into the database file (what autocheckpoint would do)."""
    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


_INLINE = frozenset(
    {"cursor", "execute", "executemany", "fetchone", "fetchmany", "fetchall", "close", "rollback"}
)


def _kind(fn: Any, args: tuple[Any, ...]) -> str:
    """ "begin" for BEGIN, "commit" for COMMIT (tried inline, waited for on the thread);
    "thread" for PRAGMA statements and for anything but statements, cursor calls, rollback
    and commit (create_function, close…); else "inline"."""
    name = getattr(fn, "__name__", "")
    if name == "commit":
        return "commit"
    if name not in _INLINE:
        return "thread"
    if name == "execute" and args:
        head = str(args[0]).lstrip()[:6].upper()
        if head.startswith("BEGIN"):
            return "begin"
        if head.startswith("PRAGMA"):
            return "thread"
    return "inline"


def _sqlite_connector(database: str, *, timeout: float) -> Callable[[], Awaitable[Any]]:
    """What the engine calls for a new SQLite connection (see _SqliteConnection)."""

    async def connect() -> aiosqlite.Connection:
        # Used from the worker thread and the loop's thread, never from both at once: every
        # call is awaited before the next, and the pool lends a connection to one task.
        connector = functools.partial(
            sqlite3.connect, database, timeout=timeout, check_same_thread=False
        )
        connection = _SqliteConnection(connector, iter_chunk_size=64)
        connection._thread.daemon = True  # as SQLAlchemy does for aiosqlite's own connect()
        return await connection

    return connect


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Checkpoints run off the event loop every CHECKPOINT_EVERY commits (_SqliteConnection).
        cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the write lock at BEGIN (no upgrade deadlocks); readers never need it.
        reading = conn.get_execution_options().get(_READ_ONLY, False)
        # On the DBAPI cursor: SQLAlchemy's execution machinery is not needed for a BEGIN.
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            cursor.execute("BEGIN" if reading else "BEGIN IMMEDIATE")
        finally:
            cursor.close()

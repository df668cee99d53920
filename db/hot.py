"""Hot-path statements: written in SQLAlchemy Core, compiled once, run straight on the driver.

Every report runs about ten statements. Through SQLAlchemy's execution machinery each costs
about 150 µs of CPU on asyncpg (building the execution context, result metadata, the
cursor adapter), against about 30 µs for the same prepared statement on the asyncpg
connection itself (measured 2026-12-04, see README "Benchmarks"). A :class:`Hot` statement is
compiled once per dialect; a call binds its parameters with SQLAlchemy's own bind processors
(types, JSON, UTC datetimes behave exactly as through SQLAlchemy), runs the SQL on the
driver connection underneath the same transaction and converts the result columns with
SQLAlchemy's result processors into light named tuples.

- PostgreSQL (asyncpg): ``Connection.fetch``/``execute`` with asyncpg's own prepared
  statement cache. The transaction SQLAlchemy opened is started first if it has not issued
  BEGIN yet (the asyncpg adapter begins lazily, on the first statement).
- SQLite (aiosqlite): the sqlite3 connection is used in the event loop's thread, as
  db/engine.py does for statements inside a transaction that already holds the write lock.
- Any other driver: through ``AsyncConnection.execute`` (same results, no saving).

Only statements without expanding (``IN``) parameters qualify. Errors are the driver's own
(asyncpg or sqlite3 exceptions), not SQLAlchemy's wrappers: hot statements avoid conflicts
with ON CONFLICT clauses instead of catching IntegrityError.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import visitors
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.elements import BindParameter, _anonymous_label

from db.engine import LAST_COLLECTOR, deferred

Params = Mapping[str, Any]

_DRIVER = "hot_driver"  # conn.info key: (kind, driver connection, SQLAlchemy adapter)


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # parameter names, in positional order
    binds: tuple[Callable[[Any], Any] | None, ...]
    defaults: dict[str, Any]  # values fixed in the statement (LIMIT 5 …)
    row: Callable[..., Any] | None  # named tuple of the result columns; None: no rows
    results: tuple[Callable[[Any], Any] | None, ...]

    def args(self, params: Params) -> list[Any]:
        values = []
        for name, bind in zip(self.names, self.binds, strict=True):
            value = params[name] if name in params else self.defaults[name]
            values.append(value if bind is None or value is None else bind(value))
        return values

    def convert(self, raw: Sequence[Any]) -> Any:
        assert self.row is not None
        return self.row(
            *(
                value if result is None or value is None else result(value)
                for value, result in zip(raw, self.results, strict=True)
            )
        )


class Hot:
    """A Core statement (built with ``sa.bindparam`` parameters) run on the driver."""

    def __init__(self, statement: sa.Executable | Callable[[str], sa.Executable]) -> None:
        """`statement`, or a function building it for a dialect name ("postgresql", "sqlite")
        for statements that differ (INSERT … ON CONFLICT)."""
        self._build = statement if callable(statement) else (lambda _name: statement)
        self._statements: dict[str, sa.Executable] = {}
        self._compiled: dict[str, _Compiled] = {}
        self._tables: dict[str, frozenset[str]] = {}

    def statement(self, dialect: str) -> sa.Executable:
        found = self._statements.get(dialect)
        if found is None:
            found = self._statements[dialect] = self._build(dialect)
        return found

    def tables_written(self, dialect: str) -> frozenset[str]:
        """The tables the statement inserts into, updates or deletes from (CTEs included)."""
        found = self._tables.get(dialect)
        if found is None:
            statement: Any = self.statement(dialect)
            found = self._tables[dialect] = frozenset(
                str(element.table.name)  # type: ignore[union-attr]
                for element in visitors.iterate(statement, {})
                if isinstance(element, UpdateBase)
            )
        return found

    def _for(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            found = self._compiled[dialect.name] = _compile(self.statement(dialect.name), dialect)
        return found

    async def rows(self, conn: AsyncConnection, params: Params) -> list[Any]:
        """Every result row, as named tuples."""
        compiled = self._for(conn.dialect)
        kind, driver, adapter = await _driver(conn)
        args = compiled.args(params)
        if kind == "asyncpg":
            await _begun(adapter)
            return [compiled.convert(r) for r in await driver.fetch(compiled.sql, *args)]
        if kind == "sqlite":
            cursor = driver.execute(compiled.sql, args)
            try:
                return [compiled.convert(r) for r in cursor.fetchall()]
            finally:
                cursor.close()
        result = await conn.execute(self.statement(conn.dialect.name), dict(params))
        return list(result)

    async def first(self, conn: AsyncConnection, params: Params) -> Any | None:
        """The first result row, or None."""
        found = await self.rows(conn, params)
        return found[0] if found else None

    async def scalar(self, conn: AsyncConnection, params: Params) -> Any | None:
        """The first column of the first row, or None."""
        found = await self.first(conn, params)
        return None if found is None else found[0]

    async def run(self, conn: AsyncConnection, params: Params) -> int:
        """Execute without reading rows; returns the number of rows changed."""
        compiled = self._for(conn.dialect)
        kind, driver, adapter = await _driver(conn)
        if kind == "asyncpg":
            await _begun(adapter)
            status: str = await driver.execute(compiled.sql, *compiled.args(params))
            last = status.rsplit(" ", 1)[-1]
            return int(last) if last.isdigit() else -1
        if kind == "sqlite":
            cursor = driver.execute(compiled.sql, compiled.args(params))
            try:
                return int(cursor.rowcount)
            finally:
                cursor.close()
        result = await conn.execute(self.statement(conn.dialect.name), dict(params))
        return int(result.rowcount)

    async def write(
        self,
        conn: AsyncConnection,
        params: Params,
        check: Check | None = None,
        *,
        at_commit: bool = False,
    ) -> None:
        """Execute and give the row count to ``check`` (which may raise). ``at_commit``:
        inside ``Database.transaction()``, made with the transaction's last writes just
        before COMMIT instead (see Writes), and checked there; elsewhere at once."""
        writes = deferred(conn, LAST_COLLECTOR, Writes) if at_commit else None
        if writes is not None:
            writes.add(self, params, check)
            return
        count = await self.run(conn, params)
        if check is not None:
            check(count)

    async def run_many(self, conn: AsyncConnection, many: Sequence[Params]) -> None:
        """Execute once per parameter set (executemany)."""
        compiled = self._for(conn.dialect)
        kind, driver, adapter = await _driver(conn)
        if kind == "asyncpg":
            await _begun(adapter)
            await driver.executemany(compiled.sql, [compiled.args(p) for p in many])
        elif kind == "sqlite":
            driver.executemany(compiled.sql, [compiled.args(p) for p in many])
        else:
            await conn.execute(self.statement(conn.dialect.name), [dict(p) for p in many])


def _compile(statement: sa.Executable, dialect: Dialect) -> _Compiled:
    compiled: Any = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
    if compiled.literal_execute_params or compiled.post_compile_params:
        raise ValueError("hot statements cannot have expanding (IN) parameters")
    names = tuple(compiled.positiontup or ())
    processors = compiled._bind_processors
    binds = tuple(processors.get(name) for name in names)
    defaults = {
        name: bind.effective_value
        for name, bind in compiled.binds.items()
        if bind.value is not None or bind.callable is not None
    }
    columns = compiled._result_columns
    row: Callable[..., Any] | None = None
    results: tuple[Callable[[Any], Any] | None, ...] = ()
    if columns:
        keys = [column[0] for column in columns]
        row = collections.namedtuple("HotRow", keys, rename=True)  # type: ignore[misc,no-redef]
        results = tuple(column[3]._cached_result_processor(dialect, None) for column in columns)
    return _Compiled(compiled.string, names, binds, defaults, row, results)


async def _driver(conn: AsyncConnection) -> tuple[str, Any, Any]:
    """(kind, driver connection, SQLAlchemy's adapter), kept on the pooled connection.

    Outside a transaction begun through SQLAlchemy ("other": go through SQLAlchemy), so that
    SQLAlchemy always knows about the transaction a hot statement runs in.
    """
    if not conn.in_transaction():
        return ("other", None, None)
    found = conn.info.get(_DRIVER)
    if found is None:
        fairy = await conn.get_raw_connection()
        adapter: Any = fairy.dbapi_connection
        driver: Any = fairy.driver_connection
        name = conn.dialect.driver
        if name == "asyncpg":
            found = ("asyncpg", driver, adapter)
        elif name == "aiosqlite" and isinstance(getattr(driver, "_conn", None), sqlite3.Connection):
            found = ("sqlite", driver._conn, adapter)
        else:
            found = ("other", None, None)
        conn.info[_DRIVER] = found
    return found  # type: ignore[no-any-return]


async def _begun(adapter: Any) -> None:
    """Issue the BEGIN SQLAlchemy's asyncpg adapter would issue before its first statement."""
    if adapter._transaction is None:
        async with adapter._execute_mutex:
            if adapter._transaction is None:
                await adapter._start_transaction()


# --- writes made together just before COMMIT ------------------------------------------------
Check = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class _Write:
    hot: Hot
    params: Params
    check: Check | None


class Writes:
    """The writes a transaction makes last, after its body and its other collectors.

    On PostgreSQL they go in one statement, each as a data-modifying CTE (``WITH w0 AS
    (INSERT … RETURNING 1), w1 AS (…) SELECT (SELECT count(*) FROM w0), …``): one round trip
    instead of one each. They run in the order they were added (the outer SELECT reads them
    in that order), so locks are taken as the sequential form takes them. Each write's
    ``check`` gets its row count and may raise: the transaction is then rolled back, as if
    the statement alone had failed. Elsewhere (SQLite) they run one after another, each
    checked at once. Writes to the same table never share a statement (a row changed twice
    in one statement keeps only one of the changes, or fails): a write to a table already
    written starts the next round trip.
    """

    def __init__(self) -> None:
        self._items: list[_Write] = []

    def add(self, hot: Hot, params: Params, check: Check | None = None) -> None:
        self._items.append(_Write(hot, params, check))

    async def flush(self, conn: AsyncConnection) -> None:
        items, self._items = self._items, []
        together = conn.dialect.name == "postgresql"
        while items:
            chunk = _chunk(items, conn.dialect.name) if together else items[:1]
            items = items[len(chunk) :]
            counts = await _run_together(conn, chunk)
            for item, count in zip(chunk, counts, strict=True):
                if item.check is not None:
                    item.check(count)


def _chunk(items: list[_Write], dialect: str) -> list[_Write]:
    """The first writes of `items` that write to different tables."""
    chunk: list[_Write] = []
    written: set[str] = set()
    for item in items:
        tables = item.hot.tables_written(dialect)
        if written & tables:
            break
        chunk.append(item)
        written |= tables
    return chunk


async def _run_together(conn: AsyncConnection, chunk: list[_Write]) -> list[int]:
    if len(chunk) == 1:
        return [await chunk[0].hot.run(conn, chunk[0].params)]
    key = tuple(item.hot for item in chunk)
    combined = _COMBINED.get(key)
    if combined is None:
        combined = _COMBINED[key] = Hot(lambda dialect: _combine(key, dialect))
    params = {
        f"w{index}_{name}": value
        for index, item in enumerate(chunk)
        for name, value in item.params.items()
    }
    row = await combined.first(conn, params)
    assert row is not None  # a SELECT of counts always has its one row
    return [int(count) for count in row]


_COMBINED: dict[tuple[Hot, ...], Hot] = {}


def _combine(hots: tuple[Hot, ...], dialect: str) -> sa.Select[Any]:
    ctes = [
        _prefixed(hot.statement(dialect), f"w{index}_")
        .returning(sa.literal_column("1"))  # type: ignore[attr-defined]
        .cte(f"w{index}")
        for index, hot in enumerate(hots)
    ]
    return sa.select(
        *(sa.select(sa.func.count()).select_from(cte).scalar_subquery() for cte in ctes)
    )


def _prefixed(statement: sa.Executable, prefix: str) -> Any:
    """The statement with its named parameters renamed ``prefix + name`` (values fixed in
    the statement keep their anonymous names)."""

    def rename(element: Any, **_kw: Any) -> Any:
        if isinstance(element, BindParameter) and not isinstance(element.key, _anonymous_label):
            renamed = element._clone()
            renamed.key = prefix + element.key
            return renamed
        return None

    return visitors.replacement_traverse(statement, {}, rename)  # type: ignore[call-overload]

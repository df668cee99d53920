"""Small helpers shared by the repositories."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

T = TypeVar("T")


def upsert(conn: AsyncConnection, table: sa.Table) -> Any:
    """A dialect-specific INSERT that supports ON CONFLICT clauses."""
    return insert_for(conn.dialect.name, table)


def insert_for(dialect: str, table: sa.Table) -> Any:
    """The INSERT of `dialect` ("postgresql" or "sqlite") that supports ON CONFLICT clauses."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def per_dialect(build: Callable[[str], T]) -> Callable[[AsyncConnection], T]:
    """Build a statement once per dialect, on first use, and hand out the same object after.

    Hot-path statements are built with `sa.bindparam` and executed with a parameter dict:
    SQLAlchemy then skips building the expression and its cache key on every call.
    """
    built: dict[str, T] = {}

    def statement(conn: AsyncConnection) -> T:
        name = conn.dialect.name
        found = built.get(name)
        if found is None:
            found = built[name] = build(name)
        return found

    return statement

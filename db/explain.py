"""Query plans, for benchmarks that check a statement uses an index instead of a scan."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection


async def sqlite_plan(conn: AsyncConnection, statement: str, params: Any) -> list[str]:
    """EXPLAIN QUERY PLAN of a statement as the driver ran it (SQLite only): one line a step."""
    result = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)
    return [str(row[-1]) for row in result]

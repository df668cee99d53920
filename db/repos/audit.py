"""The audit log: who changed or deleted what, with the before and after values."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from db.schema import audit_log


async def record(
    conn: AsyncConnection,
    *,
    person_id: int | None,
    action: str,
    entity: str,
    entity_id: int | None,
    before: Any,
    after: Any,
    now: datetime,
) -> None:
    await conn.execute(
        audit_log.insert().values(
            person_id=person_id,
            action=action,
            entity=entity,
            entity_id=entity_id,
            before=before,
            after=after,
            at=now,
        )
    )


async def for_entity(conn: AsyncConnection, entity: str, entity_id: int) -> list[dict[str, Any]]:
    rows = await conn.execute(
        sa.select(audit_log)
        .where(audit_log.c.entity == entity, audit_log.c.entity_id == entity_id)
        .order_by(audit_log.c.id)
    )
    return [dict(row._mapping) for row in rows]

"""Households and their state, derived from all their live visits."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from core import figures
from db.hot import Hot
from db.models import Household
from db.schema import households, visits

STATE_FIELDS = (
    "visits",
    "dvc_payment",
    "proficient",
    *(count.state for count in figures.COUNTS),
)
EMPTY_STATE = dict.fromkeys(STATE_FIELDS, 0)


def _household(row: Any) -> Household:
    return Household(
        id=row.id,
        village_code=row.village_code,
        head_name=row.head_name,
        address=row.address,
        size=row.size,
        visits=row.visits,
        address_key=row.address_key,
    )


def _count(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


# Built once: these run on every report.
_GET = sa.select(households).where(households.c.id == sa.bindparam("household_id"))
_SIMILAR = Hot(
    sa.select(households)
    .where(
        households.c.village_code == sa.bindparam("village_code"),
        households.c.head_key == sa.bindparam("head_key"),
    )
    .order_by(households.c.id)
    .limit(5)
)
_CREATE_COLUMNS = (
    "village_code",
    "head_name",
    "head_key",
    "address",
    "address_key",
    "size",
    "created_by",
    "created_at",
    *STATE_FIELDS,
)
_CREATE = Hot(
    households.insert()
    .values({name: sa.bindparam(name) for name in _CREATE_COLUMNS})
    .returning(households.c.id)
)
_SET_SIZE = (
    households.update()
    .where(households.c.id == sa.bindparam("b_household_id"))
    .values(size=sa.bindparam("size"))
)
_LOCK_STATE = (
    sa.select(*(households.c[name] for name in STATE_FIELDS))
    .where(households.c.id == sa.bindparam("household_id"))
    .with_for_update()
)
_LIVE_STATE = sa.select(
    sa.func.count().label("visits"),
    _count(sa.or_(visits.c.dvc, visits.c.payment)).label("dvc_payment"),
    _count(visits.c.proficient).label("proficient"),
    *(
        sa.func.coalesce(sa.func.sum(visits.c[count.code]), 0).label(count.state)
        for count in figures.COUNTS
    ),
).where(visits.c.household_id == sa.bindparam("household_id"), visits.c.deleted_at.is_(None))
_SET_STATE = (
    households.update()
    .where(households.c.id == sa.bindparam("b_household_id"))
    .values({name: sa.bindparam(name) for name in STATE_FIELDS})
)


def _state_values(state: Mapping[str, int]) -> dict[str, Any]:
    values: dict[str, Any] = {name: state[name] for name in STATE_FIELDS}
    values["dvc_payment"] = bool(state["dvc_payment"])
    values["proficient"] = bool(state["proficient"])
    return values


async def get(conn: AsyncConnection, household_id: int) -> Household | None:
    row = (await conn.execute(_GET, {"household_id": household_id})).first()
    return _household(row) if row else None


async def similar(conn: AsyncConnection, village_code: str, head_key: str) -> list[Household]:
    """Households of the village whose head's name folds to the same key."""
    rows = await _SIMILAR.rows(conn, {"village_code": village_code, "head_key": head_key})
    return [_household(row) for row in rows]


async def create(
    conn: AsyncConnection,
    *,
    village_code: str,
    head_name: str,
    head_key: str,
    address: str,
    address_key: str,
    size: int | None,
    created_by: int,
    now: datetime,
    state: Mapping[str, int] | None = None,
) -> Household:
    """A new household; `state` is its derived state when it is created with a visit."""
    values: dict[str, Any] = {
        "village_code": village_code,
        "head_name": head_name,
        "head_key": head_key,
        "address": address,
        "address_key": address_key,
        "size": size,
        "created_by": created_by,
        "created_at": now,
        **_state_values(state or EMPTY_STATE),
    }
    new_id = await _CREATE.scalar(conn, values)
    assert new_id is not None
    return Household(
        new_id,
        village_code,
        head_name,
        address,
        size,
        visits=(state or EMPTY_STATE)["visits"],
        address_key=address_key,
    )


async def set_size(conn: AsyncConnection, household_id: int, size: int) -> None:
    await conn.execute(_SET_SIZE, {"b_household_id": household_id, "size": size})


async def refresh_state(
    conn: AsyncConnection, household_id: int
) -> tuple[dict[str, int], dict[str, int]]:
    """Recompute the household's state from its live visits; returns (before, after).

    The household row is locked first (PostgreSQL), so two visits to one household at once
    are applied one after the other.
    """
    params = {"household_id": household_id}
    row = (await conn.execute(_LOCK_STATE, params)).one()
    before = {name: int(row._mapping[name]) for name in STATE_FIELDS}
    agg = (await conn.execute(_LIVE_STATE, params)).one()
    after = {
        "visits": int(agg.visits),
        "dvc_payment": 1 if agg.dvc_payment else 0,
        "proficient": 1 if agg.proficient else 0,
        **{count.state: int(agg._mapping[count.state]) for count in figures.COUNTS},
    }
    if after != before:
        await set_state(conn, household_id, after)
    return before, after


async def set_state(conn: AsyncConnection, household_id: int, state: Mapping[str, int]) -> None:
    """Write a household's derived state (see refresh_state)."""
    await conn.execute(_SET_STATE, {"b_household_id": household_id, **_state_values(state)})

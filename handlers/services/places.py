"""The unit tree as handlers need it: look a unit up, list below it, resolve an area."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from core import roles
from core.errors import NotAllowed, StaleChoice, UnknownUnit
from db.models import Person, Unit
from db.repos import units


async def get(conn: AsyncConnection, code: str | None) -> Unit | None:
    return await units.get(conn, code or "")


async def children(conn: AsyncConnection, code: str) -> list[Unit]:
    return await units.children(conn, code)


async def subtree(conn: AsyncConnection, unit: Unit) -> list[Unit]:
    """The unit and every unit below it."""
    return await units.subtree(conn, unit)


async def commune_villages(
    conn: AsyncConnection, root: str, commune_code: str
) -> tuple[Unit, list[Unit]]:
    """A commune directly under `root` and its villages (StaleChoice otherwise)."""
    commune = await units.get(conn, commune_code)
    if commune is None or commune.parent_code != root:
        raise StaleChoice()
    villages = await units.children(conn, commune_code)
    if not villages:
        raise StaleChoice()
    return commune, villages


async def scoped_commune(conn: AsyncConnection, root: str, scope: str | None) -> str | None:
    """The commune an account is bound to (``Incoming.scope``), when it is one directly under
    ``root`` with villages; else None (ask which commune)."""
    if not scope:
        return None
    commune = await units.get(conn, scope)
    if commune is None or commune.parent_code != root:
        return None
    return commune.code if await units.children(conn, commune.code) else None


async def in_area(
    conn: AsyncConnection, person: Person | None, wanted: str | None, action: str, *, denied: str
) -> Unit:
    """The person's own unit, or the unit `wanted` inside it (anywhere, when their scope for
    `action` is ANYWHERE); NotAllowed(action=denied) otherwise."""
    if person is None or not person.unit_code:
        raise NotAllowed(action=denied)
    own = await units.get(conn, person.unit_code)
    if own is None:
        raise UnknownUnit(code=person.unit_code)
    if not wanted:
        return own
    unit = await units.get(conn, wanted)
    if unit is None:
        raise UnknownUnit(code=wanted)
    if not (own.contains(unit) or roles.can(person.role, action, roles.ANYWHERE)):
        raise NotAllowed(action=denied)
    return unit

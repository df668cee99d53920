"""Chat accounts: who writes from one, and the accounts the shell creates directly (the first
admin, local-chat personas)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from core import roles
from core.errors import InvalidField, UnknownUnit
from db.models import Person
from db.repos import people, units


async def who(conn: AsyncConnection, channel: str, external_id: str) -> Person | None:
    """The person this channel account belongs to (None: nobody has linked it)."""
    return await people.by_account(conn, channel, external_id)


async def grant_admin(
    conn: AsyncConnection, *, channel: str, external_id: str, root_unit: str, now: datetime
) -> Person:
    """Make the account an admin (creating the person if needed) at the root unit."""
    if await units.get(conn, root_unit) is None:
        raise UnknownUnit(code=root_unit)
    person = await people.by_account(conn, channel, external_id)
    if person is None:
        # In a private chat the chat id equals the user id on Telegram and Zalo.
        person = await people.create(
            conn,
            role=roles.ADMIN,
            unit_code=root_unit,
            display_name=None,
            channel=channel,
            external_id=external_id,
            chat_id=external_id,
            now=now,
        )
    else:
        await people.update(conn, person.id, role=roles.ADMIN, unit_code=root_unit)
    found = await people.get(conn, person.id)
    assert found is not None
    return found


async def local_persona(
    conn: AsyncConnection, *, role: str, unit_code: str, now: datetime, role_label: str = ""
) -> str:
    """The terminal is trusted: a persona per (role, unit), created on first use.

    Returns the external id to use on the "local" channel.
    """
    if not roles.is_role(role):
        raise InvalidField(field="role", reason="unknown_role")
    unit = await units.get(conn, unit_code)
    if unit is None:
        raise UnknownUnit(code=unit_code)
    if roles.registered(role) and not roles.fits_unit(role, unit.kind):
        raise InvalidField(field="unit", reason="wrong_kind", role=role, kind=unit.kind)
    external_id = f"{role}@{unit_code}"
    if await people.by_account(conn, "local", external_id) is None:
        await people.create(
            conn,
            role=role,
            unit_code=unit_code,
            display_name=f"{role_label or role} – {unit.name}"[:100],
            channel="local",
            external_id=external_id,
            chat_id=external_id,
            now=now,
        )
    return external_id

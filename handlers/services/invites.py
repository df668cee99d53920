"""Invites: who may invite whom, and joining with a code."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from core import roles
from core.errors import (
    DomainError,
    InvalidField,
    InviteExpired,
    InviteNotFound,
    NotAllowed,
    StaleChoice,
    UnknownUnit,
)
from db.models import Invite, Person, Unit
from db.repos import audit, invites, people, units

# Codes people type on a phone: no 0/O, 1/I/L confusion.
_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
MAX_USES = 200
# What /moi and the dashboard offer: how many people a code serves, and how long it lasts.
OFFERED_USES = (1, 5, 10, 30)
OFFERED_EXPIRY = timedelta(days=7)


class InviteRevoked(DomainError):
    """An officer or the operator revoked this code."""

    key = "team_admin.invite_revoked"


class AdminNotDemoted(DomainError):
    """An admin's role is changed only from the shell, never by an invite in chat."""

    key = "role_change.admin_kept"


class RoleChangeNotConfirmed(DomainError):
    """The code would change a registered person's role or unit: they must confirm first."""

    key = "role_change.confirm_first"


def new_code() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(raw: str) -> str:
    return raw.strip().upper().replace("-", "").replace(" ", "")


async def check_scope(conn: AsyncConnection, inviter: Person | None, role: str, unit: Unit) -> None:
    """Raise NotAllowed unless `inviter` may invite `role` at `unit` (None = the shell)."""
    if not roles.registered(role):
        raise InvalidField(field="role", reason="unknown_role")
    if not roles.fits_unit(role, unit.kind):
        raise InvalidField(field="unit", reason="wrong_kind", role=role, kind=unit.kind)
    if inviter is None:
        return
    if not roles.may_invite(inviter.role, role):
        raise NotAllowed(action="invite")
    if roles.can(inviter.role, roles.INVITE, roles.ANYWHERE):
        return
    own = await units.get(conn, inviter.unit_code or "")
    if own is None or not own.contains(unit):
        raise NotAllowed(action="invite_area")


async def units_for(conn: AsyncConnection, inviter: Person, role: str) -> list[Unit]:
    """The units of the inviter's own area that `role` can be bound to (/moi, the dashboard)."""
    own = await units.get(conn, inviter.unit_code or "")
    if own is None:
        raise NotAllowed(action="invite_area")
    return [u for u in await units.subtree(conn, own) if roles.fits_unit(role, u.kind)]


async def create(
    conn: AsyncConnection,
    *,
    inviter: Person | None,
    role: str,
    unit_code: str,
    uses: int,
    expires_in: timedelta,
    now: datetime,
) -> Invite:
    unit = await units.get(conn, unit_code)
    if unit is None:
        raise UnknownUnit(code=unit_code)
    await check_scope(conn, inviter, role, unit)
    if not 1 <= uses <= MAX_USES:
        raise InvalidField(field="uses", reason="uses_range", limit=MAX_USES)
    if not timedelta(minutes=10) <= expires_in <= timedelta(days=90):
        raise InvalidField(field="expires", reason="expires_range")
    return await invites.create(
        conn,
        code=new_code(),
        role=role,
        unit_code=unit_code,
        created_by=inviter.id if inviter else None,
        max_uses=uses,
        expires_at=now + expires_in,
        now=now,
    )


@dataclass(frozen=True, slots=True)
class Joined:
    person: Person
    unit: Unit
    linked_existing: bool


async def check(
    conn: AsyncConnection, *, code: str, current: Person | None, now: datetime
) -> tuple[Invite, Unit]:
    """The invite and its unit, if `current` (None: a new person) may redeem it now."""
    invite = await invites.get(conn, normalise_code(code))
    if invite is None:
        raise InviteNotFound()
    if invite.revoked_at is not None:
        raise InviteRevoked()
    if invite.expires_at <= now or invite.uses >= invite.max_uses:
        raise InviteExpired()
    unit = await units.get(conn, invite.unit_code)
    if unit is None:
        raise UnknownUnit(code=invite.unit_code)
    if current is not None and roles.keeps_role(current.role, invite.role):
        raise AdminNotDemoted()
    return invite, unit


def changes(current: Person, invite: Invite) -> bool:
    """Whether redeeming `invite` would change the person's role or unit."""
    return (current.role, current.unit_code) != (invite.role, invite.unit_code)


async def redeem(
    conn: AsyncConnection,
    *,
    code: str,
    channel: str,
    external_id: str,
    chat_id: str,
    display_name: str | None,
    current: Person | None,
    now: datetime,
    confirmed: bool = False,
) -> Joined:
    """Bind this chat account to the invite's role and unit, using one place of the invite.

    A registered person's role or unit changes only when `confirmed` (they chose to switch).
    """
    invite, unit = await check(conn, code=code, current=current, now=now)
    if current is not None and changes(current, invite) and not confirmed:
        raise RoleChangeNotConfirmed()
    if not await invites.consume(conn, invite.code, now):
        raise InviteExpired()
    if current is not None:
        await people.update(conn, current.id, role=invite.role, unit_code=invite.unit_code)
        await audit.record(
            conn,
            person_id=current.id,
            action="redeem",
            entity="person",
            entity_id=current.id,
            before={"role": current.role, "unit": current.unit_code},
            after={"role": invite.role, "unit": invite.unit_code, "invite": invite.code},
            now=now,
        )
        person = await people.get(conn, current.id)
        assert person is not None
        return Joined(person, unit, linked_existing=True)
    person = await people.create(
        conn,
        role=invite.role,
        unit_code=invite.unit_code,
        display_name=(display_name or "")[:100] or None,
        channel=channel,
        external_id=external_id,
        chat_id=chat_id,
        now=now,
    )
    return Joined(person, unit, linked_existing=False)


async def set_position(conn: AsyncConnection, person: Person, position: str) -> None:
    """The team position a new member picks after joining (StaleChoice unless it is one of
    core.roles.POSITIONS, the options offered)."""
    if position not in roles.POSITIONS:
        raise StaleChoice()
    await people.update(conn, person.id, position=position)


def parse_duration(raw: str) -> timedelta:
    """'7d', '12h', '30m' → timedelta."""
    text = raw.strip().lower()
    factors = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}
    if len(text) < 2 or text[-1] not in factors or not text[:-1].isdigit():
        raise InvalidField(field="expires", reason="duration_format")
    return int(text[:-1]) * factors[text[-1]]

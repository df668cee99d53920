"""Changing who is who on purpose: listing people and invites, changing a role, removing a
member, unlinking a chat account, revoking an invite. Every change writes an audit row.

`actor` is the person acting from chat, or None for the shell (trusted: the operator). A chat
actor must hold roles.MANAGE_PEOPLE and acts only
- inside their area: the target's unit lies in their own unit (admins: anywhere);
- below their rank: they remove only people of a lower rank than their own, and revoke only
  invites for a role they could create themselves (not higher than theirs).
Audit rows name the people by id and record roles and units, never names or chat ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from core import roles
from core.errors import DomainError, InvalidField, InviteNotFound, UnknownUnit
from core.privacy import mask_numbers
from db.models import Invite, Person, Unit
from db.repos import audit, conversations, invites, people, units
from handlers.services.invites import normalise_code


class AlreadyRevoked(DomainError):
    """The invite was revoked before."""

    key = "team_admin.already_revoked"


class OutsideArea(DomainError):
    """The person, invite or household is outside the officer's area."""

    key = "team_admin.outside_area"


class NotBelow(DomainError):
    """Officers act only on people (and invites) below (or, for invites, at) their rank."""

    key = "team_admin.not_below"


class PersonNotFound(DomainError):
    """No registered person has this id or chat account."""

    key = "team_admin.person_not_found"


@dataclass(frozen=True, slots=True)
class Listed:
    """A person as officers see them: the display name with long numbers masked."""

    id: int
    role: str
    unit_code: str | None
    unit_name: str | None
    position: str | None
    name: str
    accounts: list[str]
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "role": self.role,
            "unit": self.unit_code,
            "unit_name": self.unit_name,
            "position": self.position,
            "name": self.name,
            "accounts": self.accounts,
            "created_at": self.created_at.isoformat(),
        }


# --- scope ------------------------------------------------------------------------------------
async def own_area(conn: AsyncConnection, actor: Person, action: str = roles.MANAGE_PEOPLE) -> Unit:
    """The unit an officer acts in (NotAllowed when they have none or may not do `action`)."""
    if not roles.can(actor.role, action):
        raise OutsideArea()
    own = await units.get(conn, actor.unit_code or "")
    if own is None:
        raise OutsideArea()
    return own


async def check_area(
    conn: AsyncConnection,
    actor: Person | None,
    unit_code: str | None,
    action: str = roles.MANAGE_PEOPLE,
) -> None:
    """NotAllowed unless `unit_code` lies in the actor's area for `action` (the shell: anywhere)."""
    if actor is None:
        return
    own = await own_area(conn, actor, action)
    if roles.can(actor.role, action, roles.ANYWHERE):
        return
    unit = await units.get(conn, unit_code or "")
    if unit is None or not own.contains(unit):
        raise OutsideArea()


def check_outranks(actor: Person | None, target: Person) -> None:
    """NotAllowed unless the actor's rank is above the target's (and it is not themselves)."""
    if actor is None:
        return
    if actor.id == target.id or not roles.outranks(actor.role, target.role):
        raise NotBelow()


# --- people -----------------------------------------------------------------------------------
async def find(conn: AsyncConnection, who: str) -> Person:
    """A person by id ("12") or by chat account ("telegram:42")."""
    text = who.strip()
    channel, sep, external = text.partition(":")
    if sep:
        person = await people.by_account(conn, channel.strip().lower(), external.strip())
    elif text.isascii() and text.isdigit():
        person = await people.get(conn, int(text))
    else:
        person = None
    if person is None or not roles.registered(person.role):
        raise PersonNotFound(who=text)
    return person


async def listing(
    conn: AsyncConnection, actor: Person | None, *, unit_code: str | None, role: str | None
) -> list[Listed]:
    """Registered people of a unit and below (default: the actor's area; the shell: all)."""
    if role is not None and not roles.is_role(role):
        raise InvalidField(field="role", reason="unknown_role")
    path: str | None = None
    if unit_code:
        unit = await units.get(conn, unit_code)
        if unit is None:
            raise UnknownUnit(code=unit_code)
        await check_area(conn, actor, unit.code)
        path = unit.path
    elif actor is not None:
        path = (await own_area(conn, actor)).path
    rows = await people.listing(conn, path=path, role=role)
    return [
        Listed(
            id=row["id"],
            role=row["role"],
            unit_code=row["unit_code"],
            unit_name=row["unit_name"],
            position=row["position"],
            name=mask_numbers(row["display_name"] or "").strip(),
            accounts=row["accounts"],
            created_at=row["created_at"],
        )
        for row in rows
    ]


async def set_role(
    conn: AsyncConnection, person: Person, *, role: str, unit_code: str, now: datetime
) -> Person:
    """The shell's role change (chat never changes a role without the person's own invite)."""
    if not roles.registered(role):
        raise InvalidField(field="role", reason="unknown_role")
    unit = await units.get(conn, unit_code)
    if unit is None:
        raise UnknownUnit(code=unit_code)
    if not roles.fits_unit(role, unit.kind):
        raise InvalidField(field="unit", reason="wrong_kind", role=role, kind=unit.kind)
    values: dict[str, Any] = {"role": role, "unit_code": unit_code}
    if not roles.can(role, roles.IN_TEAM):
        values["position"] = None
    await people.update(conn, person.id, **values)
    await audit.record(
        conn,
        person_id=None,
        action="set_role",
        entity="person",
        entity_id=person.id,
        before={"role": person.role, "unit": person.unit_code},
        after={"role": role, "unit": unit_code},
        now=now,
    )
    changed = await people.get(conn, person.id)
    assert changed is not None
    return changed


async def remove(conn: AsyncConnection, actor: Person | None, person: Person, now: datetime) -> int:
    """Take the person off the team: no role, no chat account (their reports stay, counted).

    Returns how many chat accounts were unlinked.
    """
    await check_area(conn, actor, person.unit_code)
    check_outranks(actor, person)
    for channel, chat_id in await people.accounts_of(conn, person.id):
        await conversations.end(conn, channel, chat_id, now)
    unlinked = await people.unlink_all(conn, person.id)
    await people.update(conn, person.id, role=roles.RESIDENT, position=None, preferred_channel=None)
    await audit.record(
        conn,
        person_id=actor.id if actor else None,
        action="remove",
        entity="person",
        entity_id=person.id,
        before={"role": person.role, "unit": person.unit_code, "accounts": unlinked},
        after={"role": roles.RESIDENT, "unit": person.unit_code, "accounts": 0},
        now=now,
    )
    return unlinked


async def unlink(conn: AsyncConnection, channel: str, external_id: str, now: datetime) -> int:
    """The shell unlinks one chat account; returns the person it belonged to."""
    found = await people.unlink_account(conn, channel, external_id)
    if found is None:
        raise PersonNotFound(who=f"{channel}:{external_id}")
    person_id, chat_id = found
    await conversations.end(conn, channel, chat_id, now)
    await audit.record(
        conn,
        person_id=None,
        action="unlink",
        entity="person",
        entity_id=person_id,
        before={"channel": channel},
        after=None,
        now=now,
    )
    return person_id


# --- invites ----------------------------------------------------------------------------------
async def invites_in(
    conn: AsyncConnection,
    actor: Person | None,
    *,
    unit_code: str | None,
    now: datetime,
    usable_only: bool,
) -> list[Invite]:
    """Invites for units in the area (the shell without a unit: all), newest first."""
    if unit_code:
        unit = await units.get(conn, unit_code)
        if unit is None:
            raise UnknownUnit(code=unit_code)
        await check_area(conn, actor, unit.code)
        path = unit.path
    elif actor is not None:
        path = (await own_area(conn, actor)).path
    else:
        path = "/"
    found = await invites.in_subtree(conn, path, usable_at=now if usable_only else None)
    if actor is not None:
        found = [i for i in found if roles.outranks_or_equals(actor.role, i.role)]
    return found


def status(invite: Invite, now: datetime) -> str:
    if invite.revoked_at is not None:
        return "revoked"
    if invite.uses >= invite.max_uses:
        return "used"
    if invite.expires_at <= now:
        return "expired"
    return "active"


async def revoke(conn: AsyncConnection, actor: Person | None, code: str, now: datetime) -> Invite:
    """Revoke an invite (or link code) so that nobody can redeem it any more."""
    invite = await invites.get(conn, normalise_code(code))
    if invite is None:
        raise InviteNotFound()
    await check_area(conn, actor, invite.unit_code)
    if actor is not None and not roles.outranks_or_equals(actor.role, invite.role):
        raise NotBelow()
    if not await invites.revoke(conn, invite.code, now):
        raise AlreadyRevoked(code=invite.code)
    await audit.record(
        conn,
        person_id=actor.id if actor else None,
        action="revoke",
        entity="invite",
        entity_id=None,
        before={"code": invite.code, "role": invite.role, "unit": invite.unit_code},
        after={"revoked": True},
        now=now,
    )
    return invite

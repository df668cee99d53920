"""One person, several chat accounts: short-lived link codes and the channel for notices.

A link code is an invite row (db/repos/invites.py) with no new table: the person's own role and
unit, ``created_by`` the person, one use, fifteen minutes. Its code is ``LK`` and eight
characters, ten in all, while ordinary invite codes are eight: the two never collide, and
redeeming a link code binds the new account to the person who made it instead of creating a
new person (handlers/services/invites.py would). Role and unit are never changed by linking.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from core import roles
from core.errors import DomainError, InviteExpired, InviteNotFound, NotRegistered
from db.models import Invite, Person
from db.repos import invites, people
from handlers.services.invites import CODE_LENGTH, InviteRevoked, new_code, normalise_code

PREFIX = "LK"
TTL = timedelta(minutes=15)


class AccountTaken(DomainError):
    """This chat account already belongs to another person."""

    key = "link.account_taken"


class ChannelNotLinked(DomainError):
    """Notices can only go to a channel the person has linked."""

    key = "link.not_linked"


def is_link_code(raw: str) -> bool:
    code = normalise_code(raw)
    return len(code) == len(PREFIX) + CODE_LENGTH and code.startswith(PREFIX)


async def issue(conn: AsyncConnection, person: Person, now: datetime) -> Invite:
    """A single-use code that links another chat account to ``person``."""
    if not roles.registered(person.role) or person.unit_code is None:
        raise NotRegistered()
    return await invites.create(
        conn,
        code=PREFIX + new_code(),
        role=person.role,
        unit_code=person.unit_code,
        created_by=person.id,
        max_uses=1,
        expires_at=now + TTL,
        now=now,
    )


async def redeem(
    conn: AsyncConnection,
    *,
    code: str,
    channel: str,
    external_id: str,
    chat_id: str,
    current: Person | None,
    now: datetime,
) -> Person:
    """Bind this chat account to the person who issued the code (the code is used up)."""
    invite = await invites.get(conn, normalise_code(code))
    if invite is None or not is_link_code(invite.code) or invite.created_by is None:
        raise InviteNotFound()
    if current is not None and current.id == invite.created_by:
        return current  # already linked: keep the code for the account it was meant for
    if current is not None:
        raise AccountTaken()
    if invite.revoked_at is not None:
        raise InviteRevoked()
    if invite.expires_at <= now or invite.uses >= invite.max_uses:
        raise InviteExpired()
    person = await people.get(conn, invite.created_by)
    if person is None:
        raise InviteNotFound()
    if not await invites.consume(conn, invite.code, now):
        raise InviteExpired()
    await people.link_account(
        conn,
        channel=channel,
        external_id=external_id,
        chat_id=chat_id,
        person_id=person.id,
        now=now,
    )
    return person


async def channels_of(conn: AsyncConnection, person_id: int) -> list[str]:
    """The channels the person has an account on, in a stable order."""
    return sorted({channel for channel, _chat in await people.accounts_of(conn, person_id)})


async def choose_channel(conn: AsyncConnection, person: Person, channel: str) -> None:
    """Send the person's notices to ``channel`` (one they have linked)."""
    if channel not in await channels_of(conn, person.id):
        raise ChannelNotLinked()
    await people.update(conn, person.id, preferred_channel=channel)

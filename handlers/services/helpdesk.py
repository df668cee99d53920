"""Help requests: a resident asks a village team to come; the first member to accept takes it.

Who hears of a request: the village's team on the bot; when it has none, the officers of its
commune (escalated). Fair use caps open requests per chat and per village per day. The leader
publishes how residents reach the team (the village's public contact).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from core import roles
from core.errors import InvalidField, NotAllowed, StaleChoice
from core.text import has_control_chars, tidy
from db.models import Person, Unit
from db.repos import help_requests, people, units
from db.repos.help_requests import HelpRequest

_PHONE = re.compile(r"^\+?[\d\s.\-]{9,15}$")
# Fair use: open requests created today (Vietnam time), from one chat and in one village.
# Beyond them the resident is asked kindly to wait; nothing is stored or queued.
MAX_OPEN_PER_CHAT_PER_DAY = 2
MAX_OPEN_PER_VILLAGE_PER_DAY = 20
MAX_PUBLIC_CONTACT = 300


@dataclass(frozen=True, slots=True)
class Audience:
    people: list[Person]
    escalated: bool  # the commune's officers, because the village has no team on the bot


@dataclass(frozen=True, slots=True)
class Cap:
    """A fair-use cap reached: "chat" (n requests from this chat) or "village"."""

    which: str
    n: int
    village: Unit | None = None


@dataclass(frozen=True, slots=True)
class Page:
    requests: list[HelpRequest]
    page: int
    pages: int
    total: int


# --- where ------------------------------------------------------------------------------------
async def village_in(conn: AsyncConnection, code: str, commune_code: object) -> Unit:
    """The village `code` if it lies in the chosen commune (StaleChoice otherwise)."""
    village = await units.get(conn, code)
    if village is None or village.kind != "village":
        raise StaleChoice()
    if village.parent_code != commune_code:
        raise StaleChoice()
    return village


def contact_from(text: str) -> str:
    """How the resident can be reached, tidied (InvalidField when empty, odd or too long)."""
    if has_control_chars(text) or not text.strip():
        raise InvalidField(field="contact", reason="empty")
    contact = tidy(text)
    if any(ch.isdigit() for ch in contact) and not _PHONE.match(contact):
        raise InvalidField(field="contact", reason="phone")
    if len(contact) > 100:
        raise InvalidField(field="contact", reason="too_long", limit=100)
    return contact


# --- who hears of it --------------------------------------------------------------------------
async def audience(conn: AsyncConnection, village: Unit | None) -> Audience:
    """The village's team on the bot; if it has none, its commune's officers (escalated)."""
    if village is None:
        return Audience([], False)
    team = await people.in_units(conn, [village.code], roles.holders(roles.ANSWER_HELP, roles.OWN))
    if team or not village.parent_code:
        return Audience(team, False)
    officers = await people.in_units(
        conn, [village.parent_code], roles.holders(roles.ANSWER_HELP, roles.CHILDREN)
    )
    return Audience(officers, bool(officers))


async def may_take(conn: AsyncConnection, person: Person, village_code: str) -> bool:
    """The village's team, or an officer of its commune (who hears of it when it has no team)."""
    if person.unit_code == village_code:
        return roles.can(person.role, roles.ANSWER_HELP, roles.OWN)
    village = await units.get(conn, village_code)
    return (
        roles.can(person.role, roles.ANSWER_HELP, roles.CHILDREN)
        and village is not None
        and person.unit_code == village.parent_code
    )


def may_list(person: Person | None) -> bool:
    """Whether this person has a village's open requests to list (/yeucau)."""
    return person is not None and roles.can(person.role, roles.ANSWER_HELP, roles.OWN)


# --- requests ---------------------------------------------------------------------------------
async def over_cap(
    conn: AsyncConnection, chat: tuple[str, str], village_code: str, since: datetime
) -> Cap | None:
    """The fair-use cap this new request would pass (open requests since `since`), if any."""
    mine = await help_requests.count_open_since(conn, since, chat=chat)
    if mine >= MAX_OPEN_PER_CHAT_PER_DAY:
        return Cap("chat", mine)
    theirs = await help_requests.count_open_since(conn, since, village_code=village_code)
    if theirs >= MAX_OPEN_PER_VILLAGE_PER_DAY:
        return Cap("village", theirs, await units.get(conn, village_code))
    return None


async def create(
    conn: AsyncConnection,
    *,
    request_key: str,
    now: datetime,
    village_code: str,
    topic: str,
    contact: str,
    chat: tuple[str, str],
    resident_name: str | None,
) -> int:
    channel, chat_id = chat
    return await help_requests.create(
        conn,
        request_key=request_key,
        now=now,
        village_code=village_code,
        topic=topic,
        contact=contact,
        resident_channel=channel,
        resident_chat_id=chat_id,
        resident_name=(resident_name or "")[:100] or None,
    )


async def take(
    conn: AsyncConnection, person: Person | None, request_id: int, now: datetime
) -> tuple[HelpRequest, bool]:
    """Take a request (StaleChoice if this person may not); False when someone was first."""
    request = await help_requests.get(conn, request_id)
    if request is None or person is None or not await may_take(conn, person, request.village_code):
        raise StaleChoice()
    return request, await help_requests.take(conn, request.id, person.id, now)


async def open_page(conn: AsyncConnection, village_code: str, page: int, size: int) -> Page:
    """One page of the village's open requests (the page clamped to those that exist)."""
    total = await help_requests.count_open_in(conn, village_code)
    if not total:
        return Page([], 1, 0, 0)
    pages = -(-total // size)
    page = min(max(page, 1), pages)
    found = await help_requests.open_in(conn, village_code, limit=size, offset=(page - 1) * size)
    return Page(found, page, pages, total)


# --- the team's public contact ----------------------------------------------------------------
def _published_by(person: Person | None) -> str:
    if person is None or not roles.can(person.role, roles.PUBLISH_CONTACT) or not person.unit_code:
        raise NotAllowed(action="publish")
    return person.unit_code


async def public_contact(conn: AsyncConnection, person: Person | None) -> str | None:
    village = await units.get(conn, _published_by(person))
    return village.public_contact if village else None


async def publish(conn: AsyncConnection, person: Person | None, text: str | None) -> str | None:
    """Set (or with None hide) the village's public contact; returns what is shown now."""
    code = _published_by(person)
    if text is None:
        await units.set_public_contact(conn, code, None)
        return None
    if has_control_chars(text) or len(text) > MAX_PUBLIC_CONTACT:
        raise InvalidField(field="contact", reason="too_long", limit=MAX_PUBLIC_CONTACT)
    await units.set_public_contact(conn, code, tidy(text))
    return tidy(text)

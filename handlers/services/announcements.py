"""Announcements: who an area's announcement reaches, the draft, the send, the delivery counts.

Recipients are chats, not people: team members of the area (on their chosen channel) and the
chats following any unit within the area, each chat once. The sender's own chats are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from core import roles
from core.errors import NotAllowed, StaleChoice
from db.models import Person, Unit
from db.repos import announcements as repo
from db.repos import follows, outbox, people, units
from db.repos.announcements import Announcement
from handlers.services import reach

AUDIENCES = ("members", "residents", "both")
MAX_TEXT = 1500  # one Zalo message, with the heading
# Who counts as a "member" of an area: its teams and its officers.
MEMBER_ROLES = roles.holders(roles.HEAR_AS_MEMBER)


@dataclass(frozen=True, slots=True)
class Recipient:
    channel: str
    chat_id: str
    follower: bool  # reached as a follower (their message says how to stop following)


@dataclass(frozen=True, slots=True)
class Draft:
    announcement: Announcement
    recipients: list[Recipient]


def outbox_key(announcement_id: int, channel: str, chat_id: str) -> str:
    return f"announce:{announcement_id}:{channel}:{chat_id}"


async def area_of(conn: AsyncConnection, sender: Person | None) -> Unit:
    """The area a leader or officer announces to: the unit they belong to."""
    if sender is None or not roles.can(sender.role, roles.ANNOUNCE) or not sender.unit_code:
        raise NotAllowed(action="announce")
    unit = await units.get(conn, sender.unit_code)
    if unit is None:
        raise NotAllowed(action="announce")
    return unit


async def target(conn: AsyncConnection, sender: Person | None, unit_code: str) -> Unit:
    """The unit `unit_code`, if it lies within the sender's area (else NotAllowed)."""
    area = await area_of(conn, sender)
    unit = await units.get(conn, unit_code)
    if unit is None or not unit.path.startswith(area.path):
        raise NotAllowed(action="announce_area")
    return unit


async def recipients(
    conn: AsyncConnection, area: Unit, audience: str, sender: Person
) -> list[Recipient]:
    """Each chat the announcement reaches, once; members first, then followers."""
    if audience not in AUDIENCES:
        raise StaleChoice()
    found: dict[tuple[str, str], Recipient] = {}
    own = set(await people.accounts_of(conn, sender.id))
    if audience in ("members", "both"):
        linked: dict[int, tuple[str | None, list[tuple[str, str]]]] = {}
        rows = await repo.member_chats(conn, area.path, MEMBER_ROLES)
        for person_id, preferred, channel, chat_id in rows:
            linked.setdefault(person_id, (preferred, []))[1].append((channel, chat_id))
        for preferred, chats in linked.values():
            chat = reach.choose(preferred, chats)  # their chosen channel, else the first
            if chat is not None:
                found.setdefault(chat, Recipient(*chat, follower=False))
    if audience in ("residents", "both"):
        for channel, chat_id in await follows.chats_in_subtree(conn, area.path):
            found.setdefault((channel, chat_id), Recipient(channel, chat_id, follower=True))
    return [r for key, r in found.items() if key not in own]


async def draft(
    conn: AsyncConnection,
    sender: Person | None,
    *,
    unit_code: str,
    audience: str,
    text: str,
    attachment: tuple[str, str] | None,
    now: datetime,
) -> Draft:
    """Write the announcement (not sent yet) and count who it would reach."""
    unit = await target(conn, sender, unit_code)
    assert sender is not None
    found = await recipients(conn, unit, audience, sender)
    announcement_id = await repo.create(
        conn,
        sender_id=sender.id,
        unit_code=unit.code,
        audience=audience,
        text=text,
        attachment=attachment,
        now=now,
    )
    announcement = await repo.get(conn, announcement_id)
    assert announcement is not None
    return Draft(announcement, found)


async def confirm(
    conn: AsyncConnection, sender: Person | None, announcement_id: int, now: datetime
) -> Draft | None:
    """Mark the sender's draft sent and give its recipients; None if it was sent already."""
    announcement = await repo.get(conn, announcement_id)
    if announcement is None or sender is None or announcement.sender_id != sender.id:
        raise StaleChoice()
    unit = await target(conn, sender, announcement.unit_code)
    if not await repo.mark_sent(conn, announcement_id, now):
        return None
    found = await recipients(conn, unit, announcement.audience, sender)
    return Draft(announcement, found)


async def delivery(
    conn: AsyncConnection, sender: Person, limit: int = 5
) -> list[tuple[Announcement, dict[str, int]]]:
    """The sender's latest announcements with their sent / failed / pending counts, and of
    those: held for a messaging window, routed to the person's other chat (not counted as
    failed), undeliverable outside the window (bot/outbox.py)."""
    found = []
    for item in await repo.recent_sent_by(conn, sender.id, limit):
        prefix = f"announce:{item.id}:"
        counts = await outbox.counts(conn, prefix)
        outcomes = await outbox.outcomes(conn, prefix)
        counts["failed"] -= outcomes["routed"]
        found.append((item, {**counts, **outcomes}))
    return found


# --- residents following a village or commune (/theodoi, /botheodoi) ---------------------------
async def following(conn: AsyncConnection, channel: str, chat_id: str) -> list[str]:
    """The names of the units this chat follows."""
    return await follows.of_chat(conn, channel, chat_id)


async def follow(
    conn: AsyncConnection, chat: tuple[str, str], unit_code: str, commune: object, now: datetime
) -> Unit:
    """Follow a village of the chosen commune, or the whole commune (StaleChoice otherwise)."""
    unit = await units.get(conn, unit_code)
    if unit is None or unit.kind not in ("village", "commune"):
        raise StaleChoice()
    if commune not in (unit.code, unit.parent_code):
        raise StaleChoice()
    await follows.follow(conn, chat[0], chat[1], unit.code, now)
    return unit


async def unfollow_all(conn: AsyncConnection, channel: str, chat_id: str) -> int:
    """Stop following everything from this chat; how many follows there were."""
    return await follows.unfollow_all(conn, channel, chat_id)

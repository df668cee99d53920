"""Erasing personal data: help-request contacts past their time, one household, one chat.

Rows that statistics count (visits, help requests, people who reported) are kept and made
anonymous; the aggregates (unit_stats, unit_daily_stats) are never touched. Copies of a name
inside stored JSON (replies in the update ledger, conversation drafts) are found by text,
in the forms JSON and HTML escaping give them.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from core import roles
from db.schema import (
    accounts,
    audit_log,
    conversations,
    deliverables,
    follows,
    help_requests,
    households,
    outbox,
    people,
    processed_updates,
    visits,
)

# Shorter texts would match unrelated rows.
MIN_NEEDLE = 3


# --- help requests --------------------------------------------------------------------------
async def help_requests_due(
    conn: AsyncConnection, *, closed_before: datetime, open_before: datetime
) -> tuple[list[int], list[int]]:
    """(closed requests whose contact is due for erasure, open requests too old to keep)."""
    closed_at = sa.func.coalesce(help_requests.c.taken_at, help_requests.c.created_at)
    closed = await conn.execute(
        sa.select(help_requests.c.id).where(
            help_requests.c.status != "open",
            help_requests.c.anonymised_at.is_(None),
            closed_at < closed_before,
        )
    )
    stale = await conn.execute(
        sa.select(help_requests.c.id).where(
            help_requests.c.status == "open",
            help_requests.c.anonymised_at.is_(None),
            help_requests.c.created_at < open_before,
        )
    )
    return [row.id for row in closed], [row.id for row in stale]


async def help_requests_of_chat(conn: AsyncConnection, channel: str, chat_id: str) -> list[int]:
    rows = await conn.execute(
        sa.select(help_requests.c.id).where(
            help_requests.c.resident_channel == channel,
            help_requests.c.resident_chat_id == chat_id,
        )
    )
    return [row.id for row in rows]


async def help_request_mentions(conn: AsyncConnection, ids: list[int]) -> list[str]:
    """The names and contacts of these requests (to find their copies elsewhere)."""
    if not ids:
        return []
    rows = await conn.execute(
        sa.select(help_requests.c.resident_name, help_requests.c.contact).where(
            help_requests.c.id.in_(ids)
        )
    )
    found: list[str] = []
    for row in rows:
        found += [row.resident_name or ""]
        # "nhắn qua Zalo" and the like are not personal: only a typed number is looked for.
        if any(ch.isdigit() for ch in row.contact or ""):
            found.append(row.contact)
    return found


async def anonymise_help_requests(conn: AsyncConnection, ids: list[int], now: datetime) -> int:
    """Erase contact, name and chat of these requests; open ones are closed ("expired").
    Village, topic, status and dates stay for the counts. Their notices leave the outbox."""
    if not ids:
        return 0
    result = await conn.execute(
        help_requests.update()
        .where(help_requests.c.id.in_(ids))
        .values(
            contact="",
            resident_name=None,
            resident_chat_id="",
            anonymised_at=now,
            status=sa.case(
                (help_requests.c.status == "open", "expired"), else_=help_requests.c.status
            ),
        )
    )
    for request_id in ids:
        await conn.execute(
            outbox.delete().where(
                sa.or_(
                    outbox.c.key.startswith(f"help:{request_id}:", autoescape=True),
                    outbox.c.key == f"help-taken:{request_id}",
                )
            )
        )
    return result.rowcount


# --- households -------------------------------------------------------------------------------
async def erase_household(conn: AsyncConnection, household_id: int) -> list[int]:
    """Name and address replaced by the household's number, notes of its visits erased.
    Returns the ids of its visits (kept: they are the counts)."""
    await conn.execute(
        households.update()
        .where(households.c.id == household_id)
        .values(head_name=f"#{household_id}", head_key="", address="", address_key="")
    )
    await conn.execute(
        visits.update().where(visits.c.household_id == household_id).values(note=None)
    )
    rows = await conn.execute(sa.select(visits.c.id).where(visits.c.household_id == household_id))
    return [row.id for row in rows]


async def scrub_visit_audit(conn: AsyncConnection, visit_ids: list[int]) -> int:
    """Erase the notes kept in the audit rows of these visits (before and after)."""
    if not visit_ids:
        return 0
    rows = await conn.execute(
        sa.select(audit_log.c.id, audit_log.c.before, audit_log.c.after).where(
            audit_log.c.entity == "visit", audit_log.c.entity_id.in_(visit_ids)
        )
    )
    changed = 0
    for row in rows.all():
        before, after = _without_note(row.before), _without_note(row.after)
        if (before, after) != (row.before, row.after):
            await conn.execute(
                audit_log.update()
                .where(audit_log.c.id == row.id)
                .values(before=before, after=after)
            )
            changed += 1
    return changed


def _without_note(value: Any) -> Any:
    if isinstance(value, dict) and value.get("note"):
        return {**value, "note": None}
    return value


# --- a chat -------------------------------------------------------------------------------------
async def person_of_chat(conn: AsyncConnection, channel: str, chat_id: str) -> int | None:
    row = (
        await conn.execute(
            sa.select(accounts.c.person_id).where(
                accounts.c.channel == channel,
                sa.or_(accounts.c.external_id == chat_id, accounts.c.chat_id == chat_id),
            )
        )
    ).first()
    return int(row.person_id) if row else None


async def erase_person(conn: AsyncConnection, person_id: int) -> tuple[str | None, int]:
    """No name, no chat account, no role (their reports stay, by number). Returns the
    name they had and how many accounts were unlinked."""
    name = (
        await conn.execute(sa.select(people.c.display_name).where(people.c.id == person_id))
    ).scalar_one_or_none()
    unlinked = await conn.execute(accounts.delete().where(accounts.c.person_id == person_id))
    await conn.execute(
        people.update()
        .where(people.c.id == person_id)
        .values(display_name=None, role=roles.RESIDENT, position=None, preferred_channel=None)
    )
    return name, unlinked.rowcount


async def scrub_rosters(conn: AsyncConnection, person_id: int) -> int:
    """In confirmed team rosters, the person's name becomes their number."""
    rows = await conn.execute(
        sa.select(deliverables.c.id, deliverables.c.payload).where(deliverables.c.kind == "roster")
    )
    changed = 0
    for row in rows.all():
        payload = dict(row.payload or {})
        members = payload.get("members")
        if not isinstance(members, list):
            continue
        scrubbed = [
            {**m, "name": f"#{person_id}"}
            if isinstance(m, dict) and m.get("id") == person_id
            else m
            for m in members
        ]
        if scrubbed != members:
            await conn.execute(
                deliverables.update()
                .where(deliverables.c.id == row.id)
                .values(payload={**payload, "members": scrubbed})
            )
            changed += 1
    return changed


async def forget_chat_rows(conn: AsyncConnection, channel: str, chat_id: str) -> dict[str, int]:
    """Delete what is kept per chat: follows, the conversation, messages queued to it."""
    followed = await conn.execute(
        follows.delete().where(follows.c.channel == channel, follows.c.chat_id == chat_id)
    )
    talked = await conn.execute(
        conversations.delete().where(
            conversations.c.channel == channel, conversations.c.chat_id == chat_id
        )
    )
    queued = await conn.execute(
        outbox.delete().where(outbox.c.channel == channel, outbox.c.chat_id == chat_id)
    )
    # The update ledger is keyed by chat: its rows (and the replies stored in them) name the chat.
    handled = await conn.execute(
        processed_updates.delete().where(
            processed_updates.c.channel == channel, processed_updates.c.chat_id == chat_id
        )
    )
    return {
        "follows": followed.rowcount,
        "conversations": talked.rowcount,
        "outbox": queued.rowcount,
        "ledger": handled.rowcount,
    }


# --- copies inside stored JSON ------------------------------------------------------------------
def needle_forms(texts: Iterable[str]) -> list[str]:
    """Each text as it may appear inside stored JSON: plain, HTML-escaped, JSON-escaped."""
    forms: set[str] = set()
    for text in texts:
        text = (text or "").strip()
        if len(text) < MIN_NEEDLE:
            continue
        for shown in (text, html.escape(text, quote=False), html.escape(text)):
            forms.add(shown)
            forms.add(json.dumps(shown)[1:-1])
            forms.add(json.dumps(shown, ensure_ascii=False)[1:-1])
    return sorted(forms)


def _mentions(column: Any, forms: list[str]) -> Any:
    text = sa.cast(column, sa.Text)
    return sa.or_(*(text.contains(form, autoescape=True) for form in forms))


async def blank_ledger_mentions(conn: AsyncConnection, texts: Iterable[str]) -> int:
    """Replies stored in the update ledger that show one of `texts` are emptied (the row
    stays, so a redelivered update is still recognised)."""
    forms = needle_forms(texts)
    if not forms:
        return 0
    result = await conn.execute(
        processed_updates.update()
        .where(_mentions(processed_updates.c.replies, forms))
        .values(replies=[])
    )
    return result.rowcount


async def reset_conversations_mentioning(conn: AsyncConnection, texts: Iterable[str]) -> int:
    """Conversations holding one of `texts` (a draft, an offered button) are ended."""
    forms = needle_forms(texts)
    if not forms:
        return 0
    result = await conn.execute(
        conversations.update()
        .where(_mentions(conversations.c.data, forms))
        .values(flow=None, state=None, data={}, version=conversations.c.version + 1)
    )
    return result.rowcount

"""Erasing one household's or one person's personal data on request (Decree 13/2023/NĐ-CP;
the Personal Data Protection Law in force from 1/1/2026), keeping the statistics' counts.

- A household: the head's name and address become its number ("#12"), its visits' notes are
  erased (also in the audit rows that kept them), and copies of the name or address in the
  update ledger's stored replies and in open conversations are removed. The visits stay, as
  anonymous counts; the aggregates are not touched.
- A chat (``CHANNEL:ID``): the registered person behind it (if any) loses name, role and
  every chat account (their reports stay, by number; their name in confirmed rosters becomes
  their number); the chat's help requests are anonymised (open ones closed); its follows,
  conversation and queued messages are deleted; copies of its names and typed phone numbers
  in the update ledger are removed. The question log is not linked to any chat (by design),
  so nothing there can be matched to a person; it is masked and pruned after a year.

Each erasure writes one audit row that holds only counts: never the erased data.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from core import roles
from core.errors import DomainError
from db.models import Household, Person
from db.repos import audit, households, offers, people, privacy
from handlers.services import people_admin


class HouseholdNotFound(DomainError):
    """No household has this number."""

    key = "privacy.household_not_found"


async def household_in_area(
    conn: AsyncConnection, actor: Person | None, household_id: int
) -> Household:
    """The household, if the actor may erase it (officers: in their area; the shell: any)."""
    household = await households.get(conn, household_id)
    if household is None:
        raise HouseholdNotFound(id=household_id)
    await people_admin.check_area(conn, actor, household.village_code, roles.FORGET)
    return household


def is_erased(household: Household) -> bool:
    return household.head_name == f"#{household.id}" and not household.address


async def forget_household(
    conn: AsyncConnection, actor: Person | None, household_id: int, now: datetime
) -> dict[str, int]:
    """Erase the household's name, address and notes everywhere; returns what changed."""
    household = await household_in_area(conn, actor, household_id)
    mentions = [] if is_erased(household) else [household.head_name, household.address]
    visit_ids = await privacy.erase_household(conn, household.id)
    done = {
        "visits_kept": len(visit_ids),
        "audit_rows_scrubbed": await privacy.scrub_visit_audit(conn, visit_ids),
        "ledger_rows_blanked": await privacy.blank_ledger_mentions(conn, mentions),
        "conversations_reset": await privacy.reset_conversations_mentioning(conn, mentions),
    }
    await audit.record(
        conn,
        person_id=actor.id if actor else None,
        action="forget",
        entity="household",
        entity_id=household.id,
        before=None,
        after=done,
        now=now,
    )
    return done


class BadChatAddress(DomainError):
    """A chat is named CHANNEL:ID (telegram:123456789, zalo:abc…)."""

    key = "privacy.chat_format"


def parse_chat(text: str) -> tuple[str, str]:
    """``CHANNEL:ID`` → (channel, id)."""
    channel, sep, chat_id = text.strip().partition(":")
    if not sep or not channel.strip() or not chat_id.strip():
        raise BadChatAddress(value=text)
    return channel.strip().lower(), chat_id.strip()


async def forget_chat(
    conn: AsyncConnection, channel: str, chat_id: str, now: datetime
) -> dict[str, int]:
    """Erase what is kept about one chat and the person behind it; returns what changed."""
    mentions: list[str] = []
    chats = [(channel, chat_id)]
    person_id = await privacy.person_of_chat(conn, channel, chat_id)
    done = {"person_erased": 0, "accounts_unlinked": 0, "rosters_scrubbed": 0}
    if person_id is not None:
        # The same person on their other channels is the same person.
        chats += [c for c in await people.accounts_of(conn, person_id) if c not in chats]
        name, unlinked = await privacy.erase_person(conn, person_id)
        mentions.append(name or "")
        done.update(
            person_erased=1,
            accounts_unlinked=unlinked,
            rosters_scrubbed=await privacy.scrub_rosters(conn, person_id),
        )
    requests: list[int] = []
    for each_channel, each_chat in chats:
        requests += await privacy.help_requests_of_chat(conn, each_channel, each_chat)
    mentions += await privacy.help_request_mentions(conn, requests)
    done["help_requests_anonymised"] = await privacy.anonymise_help_requests(conn, requests, now)
    for each_channel, each_chat in chats:
        for key, count in (await privacy.forget_chat_rows(conn, each_channel, each_chat)).items():
            done[key] = done.get(key, 0) + count
        done["offers"] = done.get("offers", 0) + await offers.forget_chat(
            conn, each_channel, each_chat
        )
    done["ledger_rows_blanked"] = await privacy.blank_ledger_mentions(conn, mentions)
    done["conversations_reset"] = await privacy.reset_conversations_mentioning(conn, mentions)
    await audit.record(
        conn,
        person_id=None,
        action="forget",
        entity="chat",
        entity_id=person_id,
        before=None,
        after=done,
        now=now,
    )
    return done

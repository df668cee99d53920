"""Signing in to the officials' dashboard through the chat: no password anywhere.

/web gives a one-time link (a random token, valid LINK_TTL); opening it and confirming starts a
browser session (another random token, in a cookie, valid SESSION_TTL). Only SHA-256 hashes of
both tokens are stored. A session is worth only what the person may do now: each request reads
the person again and checks `roles.can(role, WEB)`, so a removed member or a demoted officer is
signed out at once. `end_all` ends every session of a person (/web tatca, or the button).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from core import roles
from core.errors import NotAllowed
from db.models import Person
from db.repos import people
from db.repos import web_sessions as repo

LINK_TTL = timedelta(minutes=10)
SESSION_TTL = timedelta(days=7)
TOKEN_BYTES = 32


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(session_token: str) -> str:
    """The form token of a session: derived from the cookie's secret, which another site
    cannot read, so a form posted from elsewhere never carries it."""
    return hmac.new(session_token.encode(), b"dashboard form", hashlib.sha256).hexdigest()


def csrf_ok(session_token: str, given: str) -> bool:
    return bool(given) and hmac.compare_digest(csrf_token(session_token), given)


def may_use(person: Person | None) -> bool:
    return person is not None and roles.can(person.role, roles.WEB)


async def issue_link(conn: AsyncConnection, person: Person | None, now: datetime) -> str:
    """A new one-time sign-in token for the person (NotAllowed unless they may use the web)."""
    if person is None or not may_use(person):
        raise NotAllowed(action="web")
    await repo.prune(conn, now)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    await repo.add_login(conn, token_hash(token), person.id, now, now + LINK_TTL)
    return token


async def link_usable(conn: AsyncConnection, token: str, now: datetime) -> bool:
    return await repo.login_usable(conn, token_hash(token), now)


async def redeem(conn: AsyncConnection, token: str, now: datetime) -> str | None:
    """Use the link once: a new session token, or None (unknown, used, expired, or the person
    may no longer use the web)."""
    person_id = await repo.use_login(conn, token_hash(token), now)
    if person_id is None or not may_use(await people.get(conn, person_id)):
        return None
    session = secrets.token_urlsafe(TOKEN_BYTES)
    await repo.add_session(conn, token_hash(session), person_id, now, now + SESSION_TTL)
    return session


async def person_of(conn: AsyncConnection, session: str | None, now: datetime) -> Person | None:
    """Who holds this session now (None: no session, expired, or no longer allowed)."""
    if not session:
        return None
    person_id = await repo.session_person(conn, token_hash(session), now)
    if person_id is None:
        return None
    person = await people.get(conn, person_id)
    return person if may_use(person) else None


async def sign_out(conn: AsyncConnection, session: str) -> None:
    await repo.end_session(conn, token_hash(session))


async def end_all(conn: AsyncConnection, person: Person) -> int:
    """End all of the person's sessions and unused links; how many sessions were open."""
    return await repo.end_all(conn, person.id)

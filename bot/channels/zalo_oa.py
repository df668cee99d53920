"""A commune's Zalo Official Account (OA) as a channel: webhook events in, consultation
messages out, OAuth tokens kept in the database.

Facts and open points: /work/shared/reference/zalo-oa-api.md; the client is
bot/channels/zalo_oa_api.py. How each point is handled here:

- **Chats.** A user id is scoped per OA (§4.4), so a chat is ``"<oa_id>:<user_id>"``: one app
  (one webhook) can serve several OAs, and a notice to a person leaves through the OA they
  wrote to. The OA is ``recipient.id`` on message events and ``oa_id`` on follow events.
- **Events** (§3.3-3.5): ``user_send_text`` → text; a press on one of our buttons arrives as
  ``user_send_text`` whose text is the button's payload (``#c:<choice>``) → a choice;
  ``user_send_image`` / ``user_send_file`` → an attachment (its URL); other ``user_send_*``
  (sticker, gif, location…) → a message without text (the dispatcher answers with a short
  menu); ``follow`` → ``/start`` (the welcome); ``unfollow``, ``oa_send_*`` echoes, delivery and
  seen receipts → nothing. The update key is ``msg_id``; events without one are keyed by
  (event, user, timestamp).
- **Signature** (§3.2): ``X-ZEvent-Signature: mac=<hex sha256(app_id + body + timestamp +
  secret)>`` over the raw body, with the body's ``timestamp``. Sources disagree on the first
  term (app id, or the OA id) and on the secret (the OA secret key, or the app secret): every
  combination of our app id / the event's OA id (one we serve) with ZALO_OA_SECRET_KEY (and the
  app secret, unless ZALO_OA_STRICT_SIGNATURE) is accepted; nothing else. A body whose
  ``app_id`` is not ours, or whose timestamp is older than ZALO_OA_WEBHOOK_MAX_AGE (Zalo retries
  the same body for about two hours) or in the future, is refused: a replayed old body changes
  nothing. A replay within that time is a redelivery: the update ledger makes it a no-op and
  this process does not send its replies again.
- **Acknowledging**: Zalo wants 200 within 2 s; the request returns once the update is handled
  and committed, and the replies are sent right after, in the background (in order per chat).
- **Replies** (§2.3-2.4): plain text up to 2,000 characters (longer ones split), the options as
  a numbered list (buttons do not show on Zalo for PC), plus up to 5 ``oa.query.hide`` buttons
  when there are at most 5 options (titles cut to 20 characters: the strictest limit seen).
- **Tokens** (§1): :class:`TokenStore`. The access token is refreshed a margin before it
  expires (or at once when a call says it expired, then the call is retried once). The refresh
  token is single use, so it is read and replaced inside one database transaction holding the
  row (SELECT … FOR UPDATE on PostgreSQL; SQLite's write lock), and a worker that finds the
  row already refreshed by another uses theirs: two workers or a restart never spend the same
  one. ZALO_OA_REFRESH_TOKEN only seeds the row; the seed is remembered by its digest, so a
  restart does not bring back a spent token, while a new one (after the OA re-granted access)
  replaces the stored pair.
- **Window** (§2.7): the OA may write to a person only within 7 days of their last
  interaction (free within 48 h; ZALO_OA_SEND_WINDOW_HOURS, default 168). Before a send the
  last message handled from the chat is read from the update ledger; outside the window, or
  when Zalo answers -230 and kin, the send raises OutsideWindow and the outbox routes the
  notice to another chat of the person, holds it until they write again (a message to the OA
  releases held notices at once), or gives it up as undeliverable (bot/outbox.py).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import json
import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx

from bot.channels.base import (
    Blocked,
    Invalid,
    OutsideWindow,
    RetryLater,
    TokenRefused,
)
from bot.channels.download import download
from bot.channels.zalo_oa_api import (
    MAX_BUTTON_TITLE,
    MAX_BUTTONS,
    MAX_TEXT_LENGTH,
    OAApiError,
    OABlocked,
    OAError,
    OANetworkError,
    OAOutsideWindow,
    OARateLimited,
    OATokenExpired,
    OATokenRefused,
    ZaloOAApi,
)
from bot.render import Capabilities, as_texts, plain
from core.events import Attachment, Incoming, Reply
from db.engine import Database
from db.repos import oa_tokens, outbox, updates

if TYPE_CHECKING:
    from bot.app import App
    from bot.channels.registry import Live
    from bot.config import Settings

log = logging.getLogger(__name__)

CHANNEL = "zalo_oa"
SIGNATURE_HEADER = "X-ZEvent-Signature"
BUTTON_PREFIX = "#c:"
ZALO_OA = Capabilities(
    buttons=False,  # the options are always written out as numbers too; buttons are extra
    edit=False,
    max_text=MAX_TEXT_LENGTH,
    html=False,
    writes_first=False,  # only within the window after the person's last message
    metered=True,
)
_MAC = re.compile(r"mac=([0-9a-fA-F]{64})")
_RECENT = 10_000
DRAIN_SECONDS = 10.0
Handle = Callable[[Incoming], Awaitable[list[Reply]]]
Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


class OATokenRefusedError(TokenRefused):
    """The OA's refresh token or the app secret was refused: access must be granted again."""

    def __init__(self, oa_id: str, detail: str) -> None:
        super().__init__(
            f"Zalo OA {oa_id}: {detail}. Grant the app access again (developers.zalo.me → "
            "the app → Official Account), then set the new ZALO_OA_REFRESH_TOKEN and restart; "
            "check ZALO_OA_APP_SECRET too."
        )


# --- accounts and tokens -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Account:
    """One OA served by this process, bound to a unit subtree (its commune)."""

    oa_id: str
    unit_code: str | None = None
    refresh_seed: str | None = None


def accounts_from(settings: Settings) -> list[Account]:
    """ZALO_OA_ID (+ ZALO_OA_UNIT, ZALO_OA_REFRESH_TOKEN), then each ZALO_OA_ACCOUNTS entry
    ``OA_ID=UNIT_CODE`` (their refresh tokens: ``python -m bot zalo-oa token``)."""
    found: list[Account] = []
    if settings.zalo_oa_id:
        found.append(
            Account(settings.zalo_oa_id, settings.zalo_oa_unit, settings.zalo_oa_refresh_token)
        )
    for entry in (settings.zalo_oa_accounts or "").split(","):
        oa_id, _, unit = (part.strip() for part in entry.partition("="))
        if oa_id and all(a.oa_id != oa_id for a in found):
            found.append(Account(oa_id, unit or None))
    return found


def seed_digest(refresh_token: str) -> str:
    return hashlib.sha256(refresh_token.encode()).hexdigest()


class TokenStore:
    """One OA's access token, refreshed before it expires; the refresh token lives in the
    database (db/repos/oa_tokens.py) and is spent by one worker at a time."""

    def __init__(
        self,
        db: Database,
        api: ZaloOAApi,
        oa_id: str,
        *,
        clock: Clock = _now,
        margin: timedelta = timedelta(minutes=10),
    ) -> None:
        self.db, self.api, self.oa_id = db, api, oa_id
        self.clock = clock
        self.margin = margin
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._refresh_at: datetime | None = None
        self.refreshes = 0  # refreshes this store made (for tests and logs)

    async def seed(self, refresh_token: str | None) -> None:
        """Take a refresh token from the settings, unless that one was taken before."""
        if not refresh_token:
            return
        async with self.db.transaction() as conn:
            stored = await oa_tokens.seed(
                conn, self.oa_id, refresh_token, seed_digest(refresh_token), self.clock()
            )
        if stored:
            log.info("Zalo OA %s: took the refresh token from the settings", self.oa_id)
            self._token = None

    def _due(self, expires_at: datetime) -> datetime:
        return expires_at - self.margin

    async def token(self) -> str:
        """A valid access token (refreshing it first when it is due)."""
        if self._token and self._refresh_at and self.clock() < self._refresh_at:
            return self._token
        async with self.db.read() as conn:
            row = await oa_tokens.get(conn, self.oa_id)
        if row is None:
            raise OATokenRefusedError(self.oa_id, "no refresh token is stored for this OA")
        if (
            row.access_token
            and row.access_expires_at
            and self.clock() < self._due(row.access_expires_at)
        ):
            self._token, self._refresh_at = row.access_token, self._due(row.access_expires_at)
            return row.access_token
        return await self.refresh(spent=row.access_token)

    async def refresh(self, *, spent: str | None) -> str:
        """Spend the stored refresh token for a new pair, unless someone already replaced
        ``spent`` (the access token found expired or refused) with a fresh one."""
        async with self._lock:
            async with self.db.transaction() as conn:
                row = await oa_tokens.lock(conn, self.oa_id)
                if row is None:
                    raise OATokenRefusedError(self.oa_id, "no refresh token is stored for this OA")
                now = self.clock()
                fresh = row.access_expires_at is not None and now < self._due(row.access_expires_at)
                if row.access_token and row.access_token != spent and fresh:
                    assert row.access_expires_at is not None
                    self._token, self._refresh_at = (
                        row.access_token,
                        self._due(row.access_expires_at),
                    )
                    return row.access_token  # another worker refreshed it meanwhile
                try:
                    pair = await self.api.refresh(row.refresh_token)
                except OATokenRefused as refused:
                    raise OATokenRefusedError(self.oa_id, str(refused)) from None
                except OANetworkError as error:
                    raise RetryLater(f"Zalo OA token refresh failed: {error}") from None
                expires_at = now + timedelta(seconds=pair.expires_in)
                # Held row: nobody else can have changed it, so this cannot miss.
                stored = await oa_tokens.store(
                    conn,
                    self.oa_id,
                    expected_version=row.version,
                    access_token=pair.access_token,
                    access_expires_at=expires_at,
                    refresh_token=pair.refresh_token or row.refresh_token,
                    now=now,
                )
                if not stored:  # pragma: no cover - the row is locked
                    raise RetryLater("Zalo OA tokens changed during a refresh")
            self.refreshes += 1
            margin = min(self.margin, timedelta(seconds=pair.expires_in / 10))
            self._token, self._refresh_at = pair.access_token, expires_at - margin
            log.info(
                "Zalo OA %s: access token refreshed (valid %.0f s)", self.oa_id, pair.expires_in
            )
            return pair.access_token


# --- webhook events ------------------------------------------------------------------------


def _str(value: object) -> str | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    return value if isinstance(value, str) else str(value)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def event_oa(event: Mapping[str, Any]) -> str | None:
    """The OA an event is about: ``recipient.id`` (user → OA), ``sender.id`` (OA → user
    echoes), ``oa_id`` (follow, click-chat-now)."""
    name = str(event.get("event_name") or "")
    if name.startswith("oa_"):
        return _str(_mapping(event.get("sender")).get("id"))
    return _str(event.get("oa_id")) or _str(_mapping(event.get("recipient")).get("id"))


def chat_of(oa_id: str, user_id: str) -> str:
    return f"{oa_id}:{user_id}"


def user_of(chat_id: str) -> tuple[str, str]:
    oa_id, _, user_id = chat_id.partition(":")
    return oa_id, user_id


def to_incoming(
    event: Mapping[str, Any],
    *,
    now: datetime,
    scope: str | None = None,
    client: httpx.AsyncClient | None = None,
) -> Incoming | None:
    """A user's event as a channel-agnostic Incoming (None: nothing to answer); ``scope`` is
    the unit the OA is bound to; ``client`` (the channel's) downloads files people send."""
    name = str(event.get("event_name") or "")
    oa_id = event_oa(event)
    if oa_id is None:
        return None
    stamp = _str(event.get("timestamp")) or ""
    if name == "follow":
        user = _str(_mapping(event.get("follower")).get("id"))
        if user is None:
            return None
        chat = chat_of(oa_id, user)
        return Incoming(CHANNEL, chat, chat, f"follow:{stamp}", now, text="/start", scope=scope)
    if not name.startswith("user_send_"):
        return None  # unfollow, echoes, receipts, reactions, submit_info…
    user = _str(_mapping(event.get("sender")).get("id"))
    if user is None:
        return None
    chat = chat_of(oa_id, user)
    message = _mapping(event.get("message"))
    key = _str(message.get("msg_id")) or f"{name}:{stamp}"
    text = message.get("text")
    text = text if isinstance(text, str) else None
    if text is not None and text.startswith(BUTTON_PREFIX):
        choice = text[len(BUTTON_PREFIX) :]
        return Incoming(CHANNEL, chat, chat, key, now, choice=choice, scope=scope)
    attachment = None
    if name in ("user_send_image", "user_send_file"):
        items = message.get("attachments")
        first = _mapping(items[0]) if isinstance(items, list) and items else {}
        payload = _mapping(first.get("payload"))
        url = _str(payload.get("url"))
        if url is not None:
            kind = "photo" if name == "user_send_image" else "document"
            # The URL Zalo gives is downloaded as it is (no token needed, per the samples in
            # the reference; unverified against a live OA), capped (bot/channels/download.py).
            fetch = functools.partial(download, url, client=client)
            attachment = Attachment(kind, url, _str(payload.get("name")), fetch=fetch)
    return Incoming(CHANNEL, chat, chat, key, now, text=text, attachment=attachment, scope=scope)


def signature(first: str, body: bytes, timestamp: str, secret: str) -> str:
    """``sha256(first + body + timestamp + secret)`` in hex (a plain hash, not an HMAC)."""
    digest = hashlib.sha256()
    for part in (first.encode(), body, timestamp.encode(), secret.encode()):
        digest.update(part)
    return digest.hexdigest()


def _header(headers: Mapping[str, str], name: str) -> str | None:
    found = headers.get(name)
    if found is None:
        wanted = name.lower()
        found = next((v for k, v in headers.items() if k.lower() == wanted), None)
    return found


# --- sending -------------------------------------------------------------------------------


def messages_for(reply: Reply) -> list[dict[str, Any]]:
    """The consultation messages for one reply: texts, buttons on the last one."""
    texts = [text for text in as_texts(reply, ZALO_OA) if text.strip()]
    if not texts:
        return []
    messages: list[dict[str, Any]] = [{"text": text} for text in texts]
    choices = reply.flat_choices()
    if 0 < len(choices) <= MAX_BUTTONS:
        buttons = [
            {
                "title": _title(f"{n}. {plain(choice.label)}"),
                "type": "oa.query.hide",
                "payload": BUTTON_PREFIX + choice.data,
            }
            for n, choice in enumerate(choices, start=1)
        ]
        messages[-1]["attachment"] = {"type": "template", "payload": {"buttons": buttons}}
    return messages


def _title(label: str) -> str:
    label = " ".join(label.split())
    return label if len(label) <= MAX_BUTTON_TITLE else label[: MAX_BUTTON_TITLE - 1] + "…"


class ZaloOAChannel:
    """One or more OAs of one Zalo app, served at ``/webhook/zalo_oa``."""

    name = CHANNEL
    label = "Zalo OA"
    capabilities = ZALO_OA

    def __init__(
        self,
        api: ZaloOAApi,
        handle: Handle,
        db: Database,
        accounts: Sequence[Account],
        *,
        secrets: Iterable[str],
        window: timedelta = timedelta(days=7),
        max_age: float = 3 * 3600,
        clock: Clock = _now,
        wakeup: asyncio.Event | None = None,
    ) -> None:
        self.api, self.handle, self.db = api, handle, db
        self.accounts = {account.oa_id: account for account in accounts}
        self.tokens = {oa: TokenStore(db, api, oa, clock=clock) for oa in self.accounts}
        self._secrets = [s for s in secrets if s]
        self.window = window
        self.max_age = max_age
        self.clock = clock
        self.wakeup = wakeup
        self._answered: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._chat_locks: dict[str, tuple[asyncio.Lock, list[int]]] = {}
        self._sending: set[asyncio.Task[None]] = set()

    async def seed(self) -> None:
        for account in self.accounts.values():
            await self.tokens[account.oa_id].seed(account.refresh_seed)

    async def whoami(self) -> str:
        """Each OA's name (checks its tokens: a refused one raises OATokenRefusedError)."""
        names = []
        for oa_id, store in self.tokens.items():
            token = await store.token()
            try:
                try:
                    info = await self.api.get_oa(token)
                except OATokenExpired:
                    info = await self.api.get_oa(await store.refresh(spent=token))
            except OAError as error:
                log.warning("Zalo OA %s: could not read its profile: %s", oa_id, error)
                info = {}
            names.append(str(info.get("name") or oa_id))
        return "Zalo OA " + ", ".join(names)

    # --- webhook (bot/webhook.py) --------------------------------------------------------
    async def set_webhook(self, url: str, secret: str) -> None:
        """The OA's webhook is set in the Zalo console, not by the API: say where."""
        log.info(
            "Zalo OA: set the webhook URL %s in developers.zalo.me (the app → Webhook) and "
            "turn on the user_send_*, follow and unfollow events",
            url,
        )

    def secret_matches(self, secret: str, headers: Mapping[str, str]) -> bool:
        """Before the body: the signature header must be there and well formed."""
        value = _header(headers, SIGNATURE_HEADER)
        return value is not None and _MAC.fullmatch(value.strip()) is not None

    def signature_matches(self, body: bytes, headers: Mapping[str, str]) -> bool:
        """The body's MAC with one of the accepted (first term, secret) readings, our app id
        in the body, and a fresh timestamp."""
        value = _header(headers, SIGNATURE_HEADER)
        found = _MAC.fullmatch(value.strip()) if value else None
        if found is None or not self._secrets:
            return False
        try:
            event = json.loads(body)
        except ValueError:
            return False
        if not isinstance(event, Mapping) or _str(event.get("app_id")) != self.api.app_id:
            return False
        stamp = _str(event.get("timestamp"))
        if stamp is None or not stamp.isdigit():
            return False
        # Milliseconds (13 digits in every real sample); a value too small for that is read
        # as seconds, so an undocumented unit never refuses every event.
        sent = int(stamp) / 1000 if int(stamp) >= 10**11 else int(stamp)
        age = self.clock().timestamp() - sent
        if age > self.max_age or age < -300:
            log.warning("Zalo OA webhook refused: timestamp %.0f s old", age)
            return False
        firsts = [self.api.app_id]
        oa_id = event_oa(event)
        if oa_id in self.accounts:
            firsts.append(oa_id)
        mac = found.group(1).lower()
        matched = False
        for first in firsts:
            for secret in self._secrets:
                matched |= hmac.compare_digest(mac, signature(first, body, stamp, secret))
        return matched

    async def receive(self, body: bytes) -> str | None:
        """A signed event: handled and committed; its replies are sent in the background."""
        try:
            event = json.loads(body)
        except ValueError:
            return "body is not JSON"
        if not isinstance(event, Mapping):
            return "body is not an object"
        oa_id = event_oa(event)
        if oa_id not in self.accounts:
            log.info("Zalo OA: event for OA %s, which is not served here; ignored", oa_id)
            return None
        incoming = to_incoming(
            event, now=self.clock(), scope=self.accounts[oa_id].unit_code, client=self.api.client
        )
        if incoming is None:
            log.debug("Zalo OA: ignoring %s", event.get("event_name"))
            return None
        lock, users = self._chat_locks.setdefault(incoming.chat_id, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                replies = await self.handle(incoming)
                await self._release_held(incoming.chat_id)
                answered = (incoming.chat_id, incoming.update_key)
                if answered in self._answered:
                    log.info("Zalo OA redelivered %s; already answered", incoming.update_key)
                    return None
                self._remember(answered)
                users[0] += 1  # the sending task holds the chat's lock too
                task = asyncio.create_task(self._deliver(incoming.chat_id, replies))
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)
        finally:
            self._leave(incoming.chat_id)
        return None

    def _leave(self, chat_id: str) -> None:
        lock_users = self._chat_locks.get(chat_id)
        if lock_users is not None:
            lock_users[1][0] -= 1
            if not lock_users[1][0]:
                self._chat_locks.pop(chat_id, None)

    async def _release_held(self, chat_id: str) -> None:
        """The person wrote: notices held for the window go out now."""
        async with self.db.transaction() as conn:
            released = await outbox.release_held(conn, CHANNEL, chat_id)
        if released and self.wakeup is not None:
            self.wakeup.set()

    def _remember(self, key: tuple[str, str]) -> None:
        self._answered[key] = None
        while len(self._answered) > _RECENT:
            self._answered.popitem(last=False)

    async def _deliver(self, chat_id: str, replies: Sequence[Reply]) -> None:
        # The next event of this chat waits for these replies (the lock), so answers keep order.
        lock = self._chat_locks[chat_id][0]
        try:
            async with lock:
                for reply in replies:
                    await self._send(chat_id, reply)
        except (OAError, TokenRefused, RetryLater, Invalid) as error:
            log.warning("could not answer Zalo OA chat %s: %s", chat_id, error)
        finally:
            self._leave(chat_id)

    async def drain(self) -> None:
        """Wait (up to DRAIN_SECONDS) for replies still being sent, at shutdown."""
        if self._sending:
            await asyncio.wait(set(self._sending), timeout=DRAIN_SECONDS)

    async def _send(self, chat_id: str, reply: Reply) -> None:
        oa_id, user_id = user_of(chat_id)
        store = self.tokens.get(oa_id)
        if store is None:
            raise Invalid(f"Zalo OA {oa_id} is not served here")
        if reply.photo is not None or reply.document is not None or reply.file_ref is not None:
            log.info("Zalo OA: files are not sent yet; sending the text only")
        for message in messages_for(reply):
            token = await store.token()
            try:
                await self.api.send(oa_id, token, user_id, message)
            except OATokenExpired:
                token = await store.refresh(spent=token)
                await self.api.send(oa_id, token, user_id, message)

    # --- outbox --------------------------------------------------------------------------
    async def send_reply(self, chat_id: str, reply: Reply) -> None:
        """Send one queued notice, if the chat is within the messaging window."""
        async with self.db.read() as conn:
            last = await updates.last_inbound(conn, CHANNEL, chat_id)
        if last is not None and self.clock() - last > self.window:
            raise OutsideWindow(
                f"outside the Zalo OA window: last message {last:%Y-%m-%d %H:%M} UTC"
            )
        try:
            await self._send(chat_id, reply)
        except OAOutsideWindow as error:
            raise OutsideWindow(f"outside the Zalo OA window ({error.code})") from error
        except OABlocked as error:
            raise Blocked(f"Zalo OA: {error.code} {error.message}") from error
        except OARateLimited as error:
            raise RetryLater("Zalo OA request limit (-32)", retry_after=60.0) from error
        except OATokenExpired as error:
            raise RetryLater("Zalo OA refused a fresh access token", retry_after=600.0) from error
        except OATokenRefusedError as error:
            raise RetryLater(str(error), retry_after=600.0) from error
        except OANetworkError as error:
            raise RetryLater(f"Zalo OA unavailable: {error}") from error
        except OAApiError as error:
            raise Invalid(f"refused: {error.code} {error.message}") from error


async def open_channel(app: App) -> Live:
    """The configured OAs (ZALO_OA_*) with their outbox sender; the refresh token in the
    settings is stored if it is new. Nothing is asked of Zalo yet: ``whoami`` does."""
    from bot.channels.registry import Live
    from bot.outbox import OutboxSender
    from bot.usage import Account as UsageAccount
    from bot.usage import MeteredOutboxSender, UsageMeter

    settings = app.settings
    accounts = accounts_from(settings)
    client = httpx.AsyncClient()
    api = ZaloOAApi(
        app_id=settings.zalo_oa_app_id or "",
        app_secret=settings.zalo_oa_app_secret or "",
        client=client,
        api_url=settings.zalo_oa_api_url,
        oauth_url=settings.zalo_oa_oauth_url,
    )
    secrets = [settings.zalo_oa_secret_key or ""]
    if not settings.zalo_oa_strict_signature:
        secrets.append(settings.zalo_oa_app_secret or "")
    channel = ZaloOAChannel(
        api,
        app.dispatcher.handle,
        app.db,
        accounts,
        secrets=secrets,
        window=timedelta(hours=settings.zalo_oa_send_window_hours),
        max_age=settings.zalo_oa_webhook_max_age,
        wakeup=app.services.outbox_wakeup,
    )
    try:
        await channel.seed()
    except BaseException:
        await client.aclose()
        raise
    sender: OutboxSender
    if settings.zalo_oa_monthly_quota > 0:
        # Each OA is metered on its own chats ("<oa_id>:<user>"): at 80% admins are told, at
        # 95% that OA's non-urgent notices wait (bot/usage.py).
        meters = [
            UsageMeter(
                app.services,
                CHANNEL,
                monthly_quota=settings.zalo_oa_monthly_quota,
                user_quota=0,
                account=UsageAccount(
                    name=account.oa_id,
                    chat_prefix=chat_of(account.oa_id, ""),
                    unit_code=account.unit_code,
                ),
            )
            for account in accounts
        ]
        sender = MeteredOutboxSender(app.services, CHANNEL, channel.send_reply, meters)
    else:
        sender = OutboxSender(app.db, CHANNEL, channel.send_reply, app.services.outbox_wakeup)
    return Live(channel, sender, [client.aclose, channel.drain])


__all__ = [
    "BUTTON_PREFIX",
    "CHANNEL",
    "SIGNATURE_HEADER",
    "ZALO_OA",
    "Account",
    "OATokenRefusedError",
    "TokenStore",
    "ZaloOAChannel",
    "accounts_from",
    "chat_of",
    "messages_for",
    "open_channel",
    "signature",
    "to_incoming",
]

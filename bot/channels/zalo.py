"""Zalo through our thin client (bot/channels/zalo_api.py): polling, webhook updates, replies.

Zalo has no update offset: getUpdates hands out one message per call and may hand the same
message out again after a reconnect. Each text message becomes an Incoming whose update key is
Zalo's ``message_id``, so the dispatcher's ledger turns a replayed message into a no-op; the
channel also remembers the (chat, id) pairs it answered recently, so a replay within one process does not
send the stored replies a second time (after a restart they are sent once more, which is what
a crash between commit and send needs).

Replies have no buttons: choices are a numbered list (bot/render.py ``as_texts``), texts are
plain and split under 2000 characters. The token lives only inside ZaloBotApi, which redacts it.

The free plan caps messages a month: ``open_channel`` gives the channel an outbox sender that
reads the usage meter (bot/usage.py) before each batch.

**Several bots, one process.** ZALO_BOT_TOKEN is the first bot (its chat ids are Zalo's, bare,
as they always were); ZALO_BOT_UNIT binds it to a unit. Each ZALO_BOT_ACCOUNTS entry
``UNIT_CODE=TOKEN`` adds a bot bound to that unit (a commune's own bot). A further bot's chats
and users are ``"<bot_id>:<zalo id>"`` (the bot id is the token's part before ``:``), so a
person's account says which bot they use, and a notice to them (the outbox, ``reach``) leaves
through that bot. A message to a bot bound to a commune carries it as ``Incoming.scope``: the
resident features start in that commune. Each bot polls on its own, or takes its webhook on its
own path (``/webhook/zalo`` for the first, ``/webhook/zalo/<bot_id>`` for the others) with its
own secret; each bot has its own usage meter (the caps apply to each bot).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import httpx

from bot.channels.base import Invalid, RetryLater, TokenRefused, Webhooked
from bot.channels.zalo_api import (
    ZaloApiError,
    ZaloBadRequest,
    ZaloBotApi,
    ZaloError,
    ZaloNetworkError,
    ZaloRateLimited,
    ZaloServerError,
    ZaloUnauthorized,
    ZaloUpdate,
    parse_webhook_body,
    verify_webhook_secret,
)
from bot.render import ZALO, as_texts
from core.events import Attachment, Incoming, Reply
from db.repos import units

if TYPE_CHECKING:
    from bot.app import App
    from bot.channels.registry import Live
    from bot.config import Settings
    from bot.usage import Account as UsageAccount

log = logging.getLogger(__name__)

Handle = Callable[[Incoming], Awaitable[list[Reply]]]
CHANNEL = "zalo"
MAX_BACKOFF = 300.0
MAX_CONCURRENT = 8  # messages handled at the same time while polling
DRAIN_TIMEOUT = 10.0  # on stop, how long messages in hand may take to finish
_RECENT = 10_000


class ZaloTokenRefused(TokenRefused):
    """Zalo refused a bot's token (401/403): the process cannot serve this channel. The
    message names the setting (ZALO_BOT_TOKEN, or the unit's ZALO_BOT_ACCOUNTS entry)."""

    def __init__(self, setting: str = "ZALO_BOT_TOKEN") -> None:
        super().__init__(
            f"{setting} was refused by Zalo (401): check it, or reset it in Zalo Bot Creator."
        )


# --- the bots of a deployment --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bot:
    """One Zalo bot served by this process, bound to a unit subtree (its commune) or not."""

    token: str = field(repr=False)
    unit_code: str | None = None
    primary: bool = False  # ZALO_BOT_TOKEN: its chat ids are bare

    @property
    def bot_id(self) -> str:
        return self.token.partition(":")[0]

    @property
    def prefix(self) -> str:
        """What its chat and user ids start with: nothing for the first bot."""
        return "" if self.primary else f"{self.bot_id}:"

    @property
    def setting(self) -> str:
        """Where its token is set, for messages that must not quote it."""
        if self.primary:
            return "ZALO_BOT_TOKEN"
        return f"the token of {self.unit_code} in ZALO_BOT_ACCOUNTS"


def bots_from(settings: Settings) -> list[Bot]:
    """ZALO_BOT_TOKEN (+ ZALO_BOT_UNIT), then each ZALO_BOT_ACCOUNTS entry ``UNIT_CODE=TOKEN``.

    Raises ValueError (never quoting a token) for an entry that is not ``UNIT_CODE=TOKEN``, a
    token that does not look like ``ID:SECRET``, a bot listed twice, or entries without
    ZALO_BOT_TOKEN.
    """
    found: list[Bot] = []
    if settings.zalo_bot_token:
        found.append(Bot(settings.zalo_bot_token, settings.zalo_bot_unit or None, primary=True))
    entries = [e.strip() for e in (settings.zalo_bot_accounts or "").split(",") if e.strip()]
    if entries and not found:
        raise ValueError("ZALO_BOT_ACCOUNTS needs ZALO_BOT_TOKEN (the first bot) to be set too.")
    for number, entry in enumerate(entries, start=1):
        unit, _, token = (part.strip() for part in entry.partition("="))
        if not unit or not token:
            raise ValueError(f"ZALO_BOT_ACCOUNTS: entry {number} is not UNIT_CODE=TOKEN.")
        bot = Bot(token, unit)
        bot_id, colon, secret = token.partition(":")
        if not (bot_id.isdigit() and colon and secret):
            raise ValueError(
                f"ZALO_BOT_ACCOUNTS: the token of {unit} does not look like a Zalo bot token "
                "(ID:SECRET, as Zalo Bot Creator sends it)."
            )
        if any(other.bot_id == bot.bot_id for other in found):
            raise ValueError(
                f"ZALO_BOT_ACCOUNTS: the bot of {unit} is already served (ZALO_BOT_TOKEN or an "
                "earlier entry)."
            )
        found.append(bot)
    return found


def metered_account(bot: Bot, bots: Sequence[Bot]) -> UsageAccount:
    """The chats ``bot``'s usage meter counts: a further bot's carry its prefix; the first
    bot's are bare, so they are all but the further bots'."""
    from bot.usage import Account as UsageAccount

    return UsageAccount(
        name="" if bot.primary else bot.bot_id,
        chat_prefix=bot.prefix or None,
        excluding=tuple(b.prefix for b in bots if not b.primary) if bot.primary else (),
        unit_code=bot.unit_code,
    )


def to_incoming(
    update: ZaloUpdate,
    *,
    now: datetime | None = None,
    prefix: str = "",
    scope: str | None = None,
) -> Incoming | None:
    """A private-chat message as a channel-agnostic event (None for events without one); a
    further bot's chat and user ids get its ``prefix``, ``scope`` is the bot's unit."""
    if not update.message_id or not update.chat_id or not update.user_id:
        return None
    if update.chat_type not in (None, "PRIVATE"):
        return None  # groups (beta on Zalo) are not served
    attachment = None
    text = update.text
    photo = update.photo_url
    if photo is not None:
        attachment = Attachment("photo", photo)
        caption = update.message.get("caption")
        text = text or (caption if isinstance(caption, str) else None)
    return Incoming(
        channel=CHANNEL,
        chat_id=prefix + update.chat_id,
        user_id=prefix + update.user_id,
        update_key=update.message_id,
        at=now or datetime.now(UTC),
        text=text,
        display_name=update.display_name[:100] if update.display_name else None,
        attachment=attachment,
        scope=scope,
    )


async def open_channel(app: App) -> Live:
    """The configured Zalo bots (ZALO_BOT_TOKEN, ZALO_BOT_ACCOUNTS, ZALO_BASE_URL) as one
    channel, with an outbox sender that reads each bot's usage meter (ZALO_MONTHLY_QUOTA and
    ZALO_USER_QUOTA, per bot). Nothing is asked of Zalo yet: ``whoami`` checks the tokens."""
    from bot.channels.registry import Live
    from bot.usage import MeteredOutboxSender, UsageMeter

    settings = app.settings
    bots = bots_from(settings)
    async with app.db.read() as conn:
        for bot in bots:
            if bot.unit_code and await units.get(conn, bot.unit_code) is None:
                log.warning(
                    "Zalo bot %s: unit %s is unknown; its residents are asked which commune",
                    bot.bot_id,
                    bot.unit_code,
                )
    client = httpx.AsyncClient()

    def serving(bot: Bot) -> ZaloBot:
        api = ZaloBotApi(bot.token, base_url=settings.zalo_base_url, client=client)
        return ZaloBot(
            api,
            app.dispatcher.handle,
            prefix=bot.prefix,
            scope=bot.unit_code,
            setting=bot.setting,
        )

    primary, *more = bots
    channel = ZaloChannel(
        ZaloBotApi(primary.token, base_url=settings.zalo_base_url, client=client),
        app.dispatcher.handle,
        scope=primary.unit_code,
        more=[serving(bot) for bot in more],
    )
    meters = [
        UsageMeter(
            app.services,
            CHANNEL,
            monthly_quota=settings.zalo_monthly_quota,
            user_quota=settings.zalo_user_quota,
            account=metered_account(bot, bots),
        )
        for bot in bots
    ]
    sender = MeteredOutboxSender(app.services, CHANNEL, channel.send_reply, meters)
    return Live(channel, sender, [client.aclose])


class ZaloBot:
    """One bot: feeds its messages to a handler and delivers the replies as numbered plain
    text. Its chat ids carry ``prefix`` (none for the first bot); ``scope`` is its unit."""

    name = CHANNEL
    capabilities = ZALO

    def __init__(
        self,
        api: ZaloBotApi,
        handle: Handle,
        *,
        prefix: str = "",
        scope: str | None = None,
        setting: str = "ZALO_BOT_TOKEN",
    ) -> None:
        self.api = api
        self.handle = handle
        self.prefix = prefix
        self.scope = scope
        self.setting = setting
        self.label = f"Zalo bot {api.bot_id}" if prefix else "Zalo"
        self._answered: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._chat_locks: dict[str, tuple[asyncio.Lock, list[int]]] = {}
        # Chats handled at the same time; taken inside a chat's lock, so the messages
        # queued behind a busy chat hold no place.
        self._slots = asyncio.Semaphore(MAX_CONCURRENT)

    async def whoami(self) -> str:
        """Asks Zalo's getMe; a refused token raises ZaloTokenRefused."""
        try:
            me = await self.api.get_me()
        except ZaloUnauthorized:
            raise ZaloTokenRefused(self.setting) from None
        bound = f" ({self.scope})" if self.scope else ""
        return f"Zalo bot {me.account_name or me.id}{bound}"

    # --- webhook mode (bot/webhook.py) ---------------------------------------------------
    async def set_webhook(self, url: str, secret: str) -> None:
        await self.api.set_webhook(url, secret)

    def secret_matches(self, secret: str, headers: Mapping[str, str]) -> bool:
        return verify_webhook_secret(secret, headers)

    async def receive(self, body: bytes) -> str | None:
        """A pushed body (one event, or several): each handled in turn."""
        try:
            updates = parse_webhook_body(body)
        except ValueError:
            return "body is not JSON"
        for update in updates:
            await self.process(update)
        return None

    # --- inbound -------------------------------------------------------------------------
    async def process(self, update: ZaloUpdate) -> None:
        """Handle one update (committed by the dispatcher), then send the replies."""
        event = to_incoming(update, prefix=self.prefix, scope=self.scope)
        if event is None:
            log.debug("ignoring Zalo event %s", update.event_name or "(unnamed)")
            return
        # One chat's messages are handled and answered in order (webhook requests overlap).
        lock, users = self._chat_locks.setdefault(event.chat_id, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock, self._slots:
                replies = await self.handle(event)
                answered = (event.chat_id, event.update_key)
                if answered in self._answered:
                    log.info("Zalo replayed message %s; already answered", event.update_key)
                    return
                self._remember(answered)
                await self.deliver(event.chat_id, replies)
        finally:
            users[0] -= 1
            if not users[0]:
                self._chat_locks.pop(event.chat_id, None)

    def _remember(self, key: tuple[str, str]) -> None:
        self._answered[key] = None
        while len(self._answered) > _RECENT:
            self._answered.popitem(last=False)

    async def deliver(self, chat_id: str, replies: Sequence[Reply]) -> None:
        """Send replies in order; a failure is logged (the answer is already saved)."""
        try:
            for reply in replies:
                await self.send_texts(chat_id, reply)
        except ZaloError as error:
            log.warning("could not answer Zalo chat %s: %s", chat_id, error)

    async def send_texts(self, chat_id: str, reply: Reply) -> None:
        if reply.photo is not None:
            log.info("Zalo cannot upload photos; sending the text only")
        zalo_chat = chat_id.removeprefix(self.prefix)
        for text in as_texts(reply, self.capabilities):
            if text.strip():
                await self.api.send_message(zalo_chat, text)

    # --- outbox --------------------------------------------------------------------------
    async def send_reply(self, chat_id: str, reply: Reply) -> None:
        """Send one queued reply (the outbox's send); failures become DeliveryErrors."""
        try:
            await self.send_texts(chat_id, reply)
        except ZaloRateLimited as error:
            wait = error.retry_after if error.retry_after is not None else 600.0
            raise RetryLater("Zalo quota exceeded (429)", retry_after=wait) from error
        except ZaloUnauthorized as error:
            # The bot's token, not the recipient: keep the row and try again later.
            raise RetryLater("Zalo refused the bot token", retry_after=600.0) from error
        except ZaloBadRequest as error:
            raise Invalid(f"refused: {error}") from error
        except (ZaloServerError, ZaloNetworkError, ZaloApiError) as error:
            raise RetryLater(f"Zalo unavailable: {error}") from error

    # --- long polling --------------------------------------------------------------------
    async def poll(self, stop: asyncio.Event, *, poll_timeout: int = 30) -> None:
        """Long-poll until ``stop`` is set: one update per call, 408 is idle.

        429 and 5xx (and network failures) back off exponentially up to five minutes; a
        refused token stops the process with a clear message. Each message is handled in a
        task of its own while polling goes on (a chat's messages still in order, see
        ``process``), so one flooding chat does not hold the others up.
        """
        backoff = 1.0
        running: set[asyncio.Task[None]] = set()
        try:
            info = await self.api.get_webhook_info()
            if info.url:
                log.info("a webhook is set for %s; removing it to poll", self.label)
                await self.api.delete_webhook()
        except ZaloUnauthorized as error:
            raise ZaloTokenRefused(self.setting) from error
        except ZaloError as error:
            log.warning("could not check the Zalo webhook: %s", error)
        stopped = asyncio.ensure_future(stop.wait())
        fetch: asyncio.Future[list[ZaloUpdate]] | None = None
        try:
            while not stop.is_set():
                fetch = asyncio.ensure_future(self.api.get_updates(timeout=poll_timeout))
                await asyncio.wait({fetch, stopped}, return_when=asyncio.FIRST_COMPLETED)
                if not fetch.done():
                    fetch.cancel()
                    await asyncio.gather(fetch, return_exceptions=True)
                    break
                try:
                    updates = fetch.result()
                except ZaloUnauthorized as error:
                    raise ZaloTokenRefused(self.setting) from error
                except ZaloRateLimited as error:
                    wait = error.retry_after if error.retry_after is not None else backoff
                    log.warning("Zalo getUpdates: quota exceeded (429); waiting %.0f s", wait)
                    await _sleep(stop, wait)
                    backoff = min(backoff * 2, MAX_BACKOFF)
                    continue
                except ZaloError as error:
                    log.warning("Zalo getUpdates failed (%s); retrying in %.0f s", error, backoff)
                    await _sleep(stop, backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF)
                    continue
                backoff = 1.0
                for update in updates:
                    task = asyncio.create_task(self._process_logged(update))
                    running.add(task)
                    task.add_done_callback(running.discard)
        finally:
            stopped.cancel()
            if fetch is not None and not fetch.done():  # cancelled while a poll was out
                fetch.cancel()
                await asyncio.gather(fetch, return_exceptions=True)
            if running:
                # Let messages in hand finish (each commits, or rolls back when cancelled).
                _done, pending = await asyncio.wait(set(running), timeout=DRAIN_TIMEOUT)
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)

    async def _process_logged(self, update: ZaloUpdate) -> None:
        try:
            await self.process(update)
        except Exception:
            log.exception("Zalo message %s failed", update.message_id)


class ZaloChannel:
    """The Zalo channel: the first bot, and any further bots, each serving its own chats.

    ``api`` is the first bot's (ZALO_BOT_TOKEN), ``more`` the further bots. The first bot takes the webhook at ``/webhook/zalo``; the others are listed by
    ``webhook_accounts`` (served at ``/webhook/zalo/<bot_id>``, bot/serve.py).
    """

    name = CHANNEL
    label = "Zalo"
    capabilities = ZALO

    def __init__(
        self,
        api: ZaloBotApi,
        handle: Handle,
        *,
        scope: str | None = None,
        more: Sequence[ZaloBot] = (),
    ) -> None:
        self.primary = ZaloBot(api, handle, scope=scope)
        self.more = {bot.api.bot_id: bot for bot in more}

    @property
    def bots(self) -> list[ZaloBot]:
        return [self.primary, *self.more.values()]

    def bot_for(self, chat_id: str) -> ZaloBot:
        """The bot a chat belongs to: a further bot's chats start with ``<bot_id>:``."""
        head, colon, _ = chat_id.partition(":")
        if not colon:
            return self.primary
        bot = self.more.get(head)
        if bot is None:
            raise Invalid(f"Zalo bot {head} is not served here")
        return bot

    async def whoami(self) -> str:
        """Each bot's name (checks every token: a refused one raises ZaloTokenRefused)."""
        return ", ".join([await bot.whoami() for bot in self.bots])

    # --- webhook mode: the first bot here, the others through ``webhook_accounts`` ----------
    async def set_webhook(self, url: str, secret: str) -> None:
        await self.primary.set_webhook(url, secret)

    def secret_matches(self, secret: str, headers: Mapping[str, str]) -> bool:
        return self.primary.secret_matches(secret, headers)

    async def receive(self, body: bytes) -> str | None:
        return await self.primary.receive(body)

    def webhook_accounts(self) -> Mapping[str, Webhooked]:
        """The further bots by bot id, each taking its webhook at ``/webhook/zalo/<bot_id>``."""
        return dict(self.more)

    # --- outbox --------------------------------------------------------------------------
    async def send_reply(self, chat_id: str, reply: Reply) -> None:
        """Send one queued reply through the bot the chat belongs to."""
        await self.bot_for(chat_id).send_reply(chat_id, reply)

    # --- long polling --------------------------------------------------------------------
    async def poll(self, stop: asyncio.Event, *, poll_timeout: int = 30) -> None:
        """Each bot polls on its own; a bot whose token is refused stops them all."""
        if not self.more:
            await self.primary.poll(stop, poll_timeout=poll_timeout)
            return
        # Each bot watches `polling`: set when stopping, or when one bot's poll ends (a refused
        # token), so the others finish the messages in hand and stop too.
        polling = asyncio.Event()
        polls = [
            asyncio.create_task(bot.poll(polling, poll_timeout=poll_timeout)) for bot in self.bots
        ]
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait([*polls, stopping], return_when=asyncio.FIRST_COMPLETED)
        finally:
            polling.set()
            stopping.cancel()
            ended = await asyncio.gather(*polls, return_exceptions=True)
        for result in ended:
            if isinstance(result, BaseException):
                raise result


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    """Sleep, but wake at once when stopping."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass

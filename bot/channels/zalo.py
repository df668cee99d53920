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
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import httpx

from bot.channels.base import Invalid, RetryLater, TokenRefused
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

if TYPE_CHECKING:
    from bot.app import App
    from bot.channels.registry import Live

log = logging.getLogger(__name__)

Handle = Callable[[Incoming], Awaitable[list[Reply]]]
CHANNEL = "zalo"
MAX_BACKOFF = 300.0
MAX_CONCURRENT = 8  # messages handled at the same time while polling
DRAIN_TIMEOUT = 10.0  # on stop, how long messages in hand may take to finish
_RECENT = 10_000


class ZaloTokenRefused(TokenRefused):
    """Zalo refused ZALO_BOT_TOKEN (401/403): the process cannot serve this channel."""

    def __init__(self) -> None:
        super().__init__(
            "ZALO_BOT_TOKEN was refused by Zalo (401): check it, or reset it in Zalo Bot Creator."
        )


def to_incoming(update: ZaloUpdate, *, now: datetime | None = None) -> Incoming | None:
    """A private-chat message as a channel-agnostic event (None for events without one)."""
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
        chat_id=update.chat_id,
        user_id=update.user_id,
        update_key=update.message_id,
        at=now or datetime.now(UTC),
        text=text,
        display_name=update.display_name[:100] if update.display_name else None,
        attachment=attachment,
    )


async def open_channel(app: App) -> Live:
    """The configured Zalo channel (ZALO_BOT_TOKEN, ZALO_BASE_URL) with its metered outbox
    sender (ZALO_MONTHLY_QUOTA, ZALO_USER_QUOTA). Nothing is asked of Zalo yet: ``whoami``
    checks the token."""
    from bot.channels.registry import Live
    from bot.usage import MeteredOutboxSender, UsageMeter

    settings = app.settings
    client = httpx.AsyncClient()
    api = ZaloBotApi(settings.zalo_bot_token or "", base_url=settings.zalo_base_url, client=client)
    channel = ZaloChannel(api, app.dispatcher.handle)
    meter = UsageMeter(
        app.services,
        CHANNEL,
        monthly_quota=settings.zalo_monthly_quota,
        user_quota=settings.zalo_user_quota,
    )
    sender = MeteredOutboxSender(app.services, CHANNEL, channel.send_reply, meter)
    return Live(channel, sender, [client.aclose])


class ZaloChannel:
    """Feeds Zalo messages to a handler and delivers its replies as numbered plain text."""

    name = CHANNEL
    label = "Zalo"
    capabilities = ZALO

    def __init__(self, api: ZaloBotApi, handle: Handle) -> None:
        self.api = api
        self.handle = handle
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
            raise ZaloTokenRefused() from None
        return f"Zalo bot {me.account_name or me.id}"

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
        event = to_incoming(update)
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
        for text in as_texts(reply, self.capabilities):
            if text.strip():
                await self.api.send_message(chat_id, text)

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
                log.info("a Zalo webhook is set; removing it to poll")
                await self.api.delete_webhook()
        except ZaloUnauthorized as error:
            raise ZaloTokenRefused() from error
        except ZaloError as error:
            log.warning("could not check the Zalo webhook: %s", error)
        stopped = asyncio.ensure_future(stop.wait())
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
                    raise ZaloTokenRefused() from error
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


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    """Sleep, but wake at once when stopping."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass

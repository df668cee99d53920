"""Telegram through python-telegram-bot's Application.

Long polling is our own loop rather than PTB's Updater, so that the offset given back to
Telegram only moves past an update after its handler's transaction has committed: a crash
mid-batch makes Telegram deliver those updates again, and the dispatcher's update ledger
turns the second delivery into a no-op. Chats run side by side, each chat's updates in order,
and polling goes on while they run (see ``TelegramChannel.poll``).

``open_channel`` builds the channel from the settings for the table in bot/channels/registry.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from telegram import Document, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Update
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, ContextTypes, TypeHandler

from bot.channels.base import Blocked, Invalid, RetryLater, TokenRefused
from bot.outbox import OutboxSender
from bot.render import TELEGRAM, plain, split
from bot.webhook import header_matches
from core.events import Attachment, Incoming, Reply
from core.files import Fetch, FileTooBig, FileUnavailable

if TYPE_CHECKING:
    from bot.app import App
    from bot.channels.registry import Live

log = logging.getLogger(__name__)

Handle = Callable[[Incoming], Awaitable[list[Reply]]]
ALLOWED_UPDATES = ["message", "callback_query"]
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class TelegramTokenRefused(TokenRefused):
    """Telegram refused TELEGRAM_TOKEN (python-telegram-bot's own message quotes it whole)."""

    def __init__(self) -> None:
        super().__init__(
            "TELEGRAM_TOKEN was refused by Telegram: check it (or revoke and reissue it "
            "with @BotFather)."
        )


def to_incoming(update: Update) -> Incoming | None:
    """A private-chat message or button press as a channel-agnostic event (else None)."""
    chat = update.effective_chat
    user = update.effective_user
    if chat is None or user is None or chat.type != "private":
        return None
    base: dict[str, Any] = {
        "channel": "telegram",
        "chat_id": str(chat.id),
        "user_id": str(user.id),
        "update_key": str(update.update_id),
        "at": datetime.now(UTC),
        "display_name": user.full_name[:100] if user.full_name else None,
    }
    if update.callback_query is not None:
        return Incoming(choice=update.callback_query.data or "", **base)
    message = update.message
    if message is None:
        return None
    attachment = None
    if message.document is not None:
        document = message.document
        attachment = Attachment(
            "document", document.file_id, document.file_name, fetch=_fetcher(document)
        )
    elif message.photo:
        attachment = Attachment("photo", message.photo[-1].file_id)
    return Incoming(text=message.text or message.caption, attachment=attachment, **base)


def _fetcher(document: Document) -> Fetch:
    """getFile, then the download from the Bot API's file URL (base_file_url), capped."""

    async def fetch(limit: int) -> bytes:
        if document.file_size is not None and document.file_size > limit:
            raise FileTooBig(limit)
        try:
            found = await document.get_file()
            if found.file_size is not None and found.file_size > limit:
                raise FileTooBig(limit)
            content = bytes(await found.download_as_bytearray())
        except (TelegramError, RuntimeError) as error:  # RuntimeError: no bot (a bare update)
            # Only the error's type: the file URL in its message carries the token.
            log.warning("could not download a Telegram file: %s", type(error).__name__)
            raise FileUnavailable() from None
        if len(content) > limit:
            raise FileTooBig(limit)
        return content

    return fetch


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    if not reply.choices:
        return None
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(plain(c.label), callback_data=c.data) for c in row]
            for row in reply.choices
        ]
    )


def build_application(
    token: str, *, base_url: str | None = None, rate_limit: float = 30
) -> Application:  # type: ignore[type-arg]
    # Opt in to PTB 23's behaviour now: time periods (retry_after) as timedelta, no warnings.
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    builder = ApplicationBuilder().token(token).updater(None)
    if base_url:
        root = base_url.rstrip("/")
        builder = builder.base_url(f"{root}/bot").base_file_url(f"{root}/file/bot")
    if rate_limit > 0:
        limiter = AIORateLimiter(overall_max_rate=rate_limit, overall_time_period=1, max_retries=3)
        builder = builder.rate_limiter(limiter)  # type: ignore[arg-type]
    return builder.build()


def channel_from_settings(settings: Any, handle: Handle) -> TelegramChannel:
    """The Telegram channel as configured (TELEGRAM_TOKEN, _BASE_URL, _RATE_LIMIT)."""
    application = build_application(
        settings.telegram_token,
        base_url=settings.telegram_base_url,
        rate_limit=settings.telegram_rate_limit,
    )
    return TelegramChannel(application, handle)


async def open_channel(app: App) -> Live:
    """The configured Telegram channel, opened (TokenRefused when the token is refused), with
    its outbox sender; the bot's username fills in TELEGRAM_BOT_USERNAME when unset."""
    from bot.channels.registry import Live

    channel = channel_from_settings(app.settings, app.dispatcher.handle)
    try:
        await channel.open()
    except InvalidToken:
        raise TelegramTokenRefused() from None
    if app.services.telegram_username is None:
        app.services.telegram_username = channel.bot.username
    sender = OutboxSender(app.db, channel.name, channel.send_reply, app.services.outbox_wakeup)
    return Live(channel, sender, [channel.close])


class TelegramChannel:
    """Feeds Telegram updates to a handler and delivers its replies."""

    name = "telegram"
    label = "Telegram"
    capabilities = TELEGRAM

    def __init__(self, application: Application, handle: Handle) -> None:  # type: ignore[type-arg]
        self.application = application
        self.handle = handle
        application.add_handler(TypeHandler(Update, self._on_update))

    @property
    def bot(self) -> Any:
        return self.application.bot

    async def open(self) -> None:
        await self.application.initialize()

    async def close(self) -> None:
        await self.application.shutdown()

    async def whoami(self) -> str:
        """The bot as known since ``open`` (which asked Telegram's getMe)."""
        return f"Telegram @{self.bot.username}"

    # --- webhook mode (bot/webhook.py) ---------------------------------------------------
    async def set_webhook(self, url: str, secret: str) -> None:
        await self.bot.set_webhook(url, secret_token=secret, allowed_updates=ALLOWED_UPDATES)

    def secret_matches(self, secret: str, headers: Mapping[str, str]) -> bool:
        return header_matches(secret, headers, SECRET_HEADER)

    async def receive(self, body: bytes) -> str | None:
        """One pushed update: handled (None), or why the body is a bad request."""
        try:
            data = json.loads(body)
        except ValueError:
            return "body is not JSON"
        try:
            update = Update.de_json(data, self.bot) if isinstance(data, dict) else None
        except (KeyError, TypeError, ValueError):
            update = None
        if update is None:
            return "not an update"
        await self.process(update)
        return None

    async def _on_update(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        event = to_incoming(update)
        if event is None:
            return
        replies = await self.handle(event)
        await self.deliver(update, replies)

    async def process(self, update: Update) -> None:
        """Run one update through the Application (handler, commit, then delivery)."""
        await self.application.process_update(update)

    async def deliver(self, update: Update, replies: Sequence[Reply]) -> None:
        query = update.callback_query
        if query is not None:
            try:
                await query.answer()
            except (BadRequest, NetworkError):
                log.debug("could not answer callback query", exc_info=True)
        chat = update.effective_chat
        assert chat is not None
        for index, reply in enumerate(replies):
            message = query.message if query is not None else None
            fits = len(reply.text) <= self.capabilities.max_text
            if reply.edit and index == 0 and message is not None and fits:
                try:
                    await self.bot.edit_message_text(
                        chat_id=chat.id,
                        message_id=message.message_id,
                        text=reply.text,
                        parse_mode=ParseMode.HTML,
                        reply_markup=keyboard(reply),
                    )
                    continue
                except BadRequest as error:
                    if "not modified" in str(error).lower():
                        continue
                    log.info("edit failed (%s); sending a new message", error)
            try:
                await self._send_text(chat.id, reply)
            except Forbidden:
                log.info("chat %s has blocked the bot", chat.id)
            await self.send_files(chat.id, reply)

    async def send_reply(self, chat_id: str, reply: Reply) -> None:
        """Send one reply on its own (the outbox's send); failures become DeliveryErrors."""
        try:
            await self._send_text(int(chat_id), reply)
            await self._send_files(int(chat_id), reply)
        except RetryAfter as error:
            wait = error.retry_after
            seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
            raise RetryLater("rate limited", retry_after=seconds) from error
        except Forbidden as error:
            raise Blocked("blocked by the user") from error
        except BadRequest as error:
            raise Invalid(f"refused: {error}") from error
        except (TimedOut, NetworkError) as error:
            raise RetryLater(f"network: {error}") from error

    async def _send_files(self, chat_id: int | str, reply: Reply) -> None:
        """The reply's photo and document, after its text (they are not stored in to_json)."""
        if reply.photo is not None:
            await self.bot.send_photo(chat_id=chat_id, photo=reply.photo)
        if reply.document is not None:
            name, content = reply.document
            await self.bot.send_document(
                chat_id=chat_id, document=InputFile(content, filename=name)
            )
        if reply.file_ref is not None:
            kind, file_id = reply.file_ref
            if kind == "photo":
                await self.bot.send_photo(chat_id=chat_id, photo=file_id)
            else:
                await self.bot.send_document(chat_id=chat_id, document=file_id)

    async def send_files(self, chat_id: int | str, reply: Reply) -> None:
        try:
            await self._send_files(chat_id, reply)
        except Forbidden:
            log.info("chat %s has blocked the bot", chat_id)
        except BadRequest as error:
            log.warning("file refused in chat %s: %s", chat_id, error)

    async def _send_text(self, chat_id: int, reply: Reply) -> None:
        """The reply's text, split to fit, with its keyboard under the last piece."""
        pieces = split(reply.text, self.capabilities.max_text)
        for number, piece in enumerate(pieces, start=1):
            await self.bot.send_message(
                chat_id=chat_id,
                text=piece,
                parse_mode=ParseMode.HTML,
                reply_markup=keyboard(reply) if number == len(pieces) else None,
            )

    async def _fetch(self, *, offset: int | None, after: int | None, wait: int) -> list[Update]:
        """getUpdates, with Update objects built only for updates above ``after``.

        While updates are in progress Telegram hands them back on every call (they are not
        acknowledged until done), so a busy bot fetches each one many times. PTB's get_updates
        builds a full object tree for every update it returns, which was over a third of the
        bot's CPU under load (py-spy, bench report, 2026-12-04); the ones already in hand are
        skipped here as JSON. ``Bot._post`` is the call get_updates itself makes (same request,
        rate limiter and errors).
        """
        data = {"offset": offset, "timeout": wait, "allowed_updates": list(ALLOWED_UPDATES)}
        result = await self.bot._post(  # the documented do_api_request warns for getUpdates
            "getUpdates", data, read_timeout=wait + GET_UPDATES_READ_MARGIN
        )
        raw = result if isinstance(result, list) else []
        fresh = [u for u in raw if after is None or int(u.get("update_id", 0)) > after]
        return [update for u in fresh if (update := Update.de_json(u, self.bot)) is not None]

    async def poll(self, stop: asyncio.Event, *, poll_timeout: int = 30) -> None:
        """Long-poll until `stop` is set; acknowledge only what has been handled.

        Fetched updates go to one worker per chat (in order within a chat, chats side by side)
        while polling goes on, so a busy or flooding chat does not hold the others up. The
        offset given to Telegram is the lowest update not yet handled, so Telegram keeps
        handing back the ones in progress: they are recognised by their id and skipped.
        """
        pipeline = _Pipeline(self.process)
        backoff = 1.0
        await self.bot.delete_webhook()
        stopped = asyncio.ensure_future(stop.wait())
        loop = asyncio.get_running_loop()
        try:
            while not stop.is_set():
                # Progress counts from before the fetch: an update that finishes while
                # getUpdates is on the wire must not be missed (it would cost a full
                # POLL_AGAIN before the next message is fetched).
                pipeline.watch_progress()
                fetched_at = loop.time()
                fetch = asyncio.ensure_future(
                    self._fetch(offset=pipeline.offset, after=pipeline.highest, wait=poll_timeout)
                )
                await asyncio.wait({fetch, stopped}, return_when=asyncio.FIRST_COMPLETED)
                if not fetch.done():
                    # Stopping: what this poll would have returned is fetched again next start.
                    fetch.cancel()
                    await asyncio.gather(fetch, return_exceptions=True)
                    break
                try:
                    updates = fetch.result()
                    backoff = 1.0
                except InvalidToken as error:
                    raise SystemExit("TELEGRAM_TOKEN was refused by Telegram: check it.") from error
                except RetryAfter as error:
                    wait = error.retry_after
                    seconds = wait.total_seconds() if isinstance(wait, timedelta) else wait
                    await asyncio.sleep(seconds)
                    continue
                except (TimedOut, NetworkError) as error:
                    log.warning("getUpdates failed (%s); retrying in %.0f s", error, backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 60)
                    continue
                fresh = pipeline.add(updates)
                if pipeline.busy:
                    if not fresh:
                        # Only updates already in hand came back: wait until one is done.
                        await pipeline.wait_progress(stopped, POLL_AGAIN)
                    # Every call hands back all the updates in progress: while some are, at
                    # most one call per MIN_POLL_GAP (a new message waits that much longer).
                    gap = MIN_POLL_GAP - (loop.time() - fetched_at)
                    if gap > 0 and not stopped.done():
                        await asyncio.wait({stopped}, timeout=gap)
        finally:
            stopped.cancel()
            await pipeline.drain(DRAIN_TIMEOUT)
        if pipeline.offset is not None:
            # Tell Telegram what is done, so a restart does not see it again.
            await self.bot.get_updates(offset=pipeline.offset, timeout=0)


# Polling while updates are in progress: how long to wait for one to finish before asking
# Telegram again (a new chat's message waits at most about this long behind a busy one).
POLL_AGAIN = 0.25
MIN_POLL_GAP = 0.02
GET_UPDATES_READ_MARGIN = 10.0  # seconds a long poll may take beyond its own timeout
DRAIN_TIMEOUT = 10.0  # on stop, how long updates in progress may take to finish
MAX_CONCURRENT = 8  # updates handled at the same time (the database pool lends 10)


class _Pipeline:
    """Updates in progress: one worker per chat, and the offset that is safe to acknowledge."""

    def __init__(self, process: Callable[[Update], Awaitable[None]]) -> None:
        self.process = process
        self.unfinished: set[int] = set()
        self.highest: int | None = None
        self._queues: dict[int, deque[Update]] = {}
        self._workers: set[asyncio.Task[None]] = set()
        self._progress = asyncio.Event()
        self._slots = asyncio.Semaphore(MAX_CONCURRENT)

    @property
    def busy(self) -> bool:
        return bool(self.unfinished)

    @property
    def offset(self) -> int | None:
        """The lowest update not yet handled; every update below it has committed."""
        if self.unfinished:
            return min(self.unfinished)
        return None if self.highest is None else self.highest + 1

    def add(self, updates: Sequence[Update]) -> int:
        """Hand new updates to their chat's worker; returns how many were new."""
        fresh = 0
        for update in updates:
            if self.highest is not None and update.update_id <= self.highest:
                continue  # in progress (or done, and acknowledged by the next call)
            self.highest = update.update_id
            self.unfinished.add(update.update_id)
            chat = update.effective_chat
            chat_id = chat.id if chat else 0
            queue = self._queues.get(chat_id)
            if queue is None:
                queue = self._queues[chat_id] = deque()
                worker = asyncio.create_task(self._run(chat_id, queue))
                self._workers.add(worker)
                worker.add_done_callback(self._workers.discard)
            queue.append(update)
            fresh += 1
        return fresh

    async def _run(self, chat_id: int, queue: deque[Update]) -> None:
        try:
            while queue:
                update = queue[0]
                try:
                    async with self._slots:
                        await self.process(update)
                except Exception:
                    # Not handled again: the dispatcher has already committed or rolled back.
                    log.exception("update %s failed", update.update_id)
                queue.popleft()
                self.unfinished.discard(update.update_id)
                self._progress.set()
        finally:
            self._queues.pop(chat_id, None)

    def watch_progress(self) -> None:
        """Start noticing updates that finish from now on (see `wait_progress`)."""
        self._progress.clear()

    async def wait_progress(self, stopped: asyncio.Future[Any], seconds: float) -> None:
        """Until an update in hand is done (since `watch_progress`), `stopped` fires, or
        `seconds` have passed."""
        progress = asyncio.ensure_future(self._progress.wait())
        try:
            await asyncio.wait(
                {progress, stopped}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            progress.cancel()

    async def drain(self, seconds: float) -> None:
        """Let the updates in hand finish (they commit, or roll back when cancelled)."""
        if not self._workers:
            return
        _done, pending = await asyncio.wait(set(self._workers), timeout=seconds)
        for worker in pending:
            worker.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

"""Routes one incoming event to a command, a flow step or a free-text answer, exactly once.

Per event, in one database transaction:
1. claim the update key (a redelivered update changes nothing and gets its stored replies);
2. load the person and the conversation (expired flows are ended with a message);
3. route: a button → its flow step or action; a command; several typed numbers where the flow
   state takes several options (``Flow.on_choices``: "1 3 7 8") → those options at once; a typed
   number or label of the choices last offered → that choice; text inside a flow → the flow;
   no text at all → a short menu (or the flow's options again); otherwise free text;
4. save the conversation and the replies, commit. Only then does the channel send anything.
A DomainError rolls back what the step wrote (savepoint) and answers with its message.

Only offered choices count. A flow option (``v<version>:<value>``) is accepted only if it was
among the options of the chat's last answer (kept in the conversation as ``_offered``); an
action (``a:<name>:<arg>``) only if it was offered to this chat within OFFER_DAYS, in an
answer or in a notice queued through the outbox (handlers/services/offers.py). Anything else,
made up or garbled, is a StaleChoice: nothing changes. Handlers still check that a record
named by a choice lies in the person's area.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from core import roles
from core.errors import DomainError, NotRegistered, StaleChoice
from core.events import Choice, Incoming, Reply
from core.text import fold
from db.models import Conversation
from handlers.context import Context
from handlers.fairuse import FairUse, Verdict
from handlers.menu import menu_choices
from handlers.services import conversations, ledger, offers
from handlers.services.conversations import ConcurrentChange
from handlers.services.registry import Services

log = logging.getLogger(__name__)

Step = Callable[[Context, str], Awaitable[None]]
_COMMAND = re.compile(r"^/([A-Za-z_]+)(?:@\w+)?(?:\s+(.*))?$", re.DOTALL)
# Words that work without a slash (Zalo users type them; "huỷ" cancels anywhere).
_BARE = {"dangky": "dangky", "huy": "huy", "menu": "menu"}


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    run: Step
    roles: tuple[str, ...] | None  # None: everyone (else from core.roles.holders)
    help_key: str | None = None

    def allows(self, role: str) -> bool:
        return self.roles is None or role in self.roles


ManyStep = Callable[[Context, list[str]], Awaitable[None]]
# Several numbers in one message: "1 3 7 8", "1,3,7,8", "1; 3; 7".
_NUMBERS = re.compile(r"^\s*\d{1,3}(?:\s*[,;.\s]\s*\d{1,3})+\s*[.]?\s*$")


@dataclass
class Flow:
    """A named conversation: a handler per state for choices and for typed text, and for the
    states whose options may be picked several at once ("1 3 7 8" on a text channel)."""

    name: str
    on_choice: dict[str, Step] = field(default_factory=dict)
    on_text: dict[str, Step] = field(default_factory=dict)
    on_choices: dict[str, ManyStep] = field(default_factory=dict)


class Dispatcher:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.commands: dict[str, Command] = {}
        self.flows: dict[str, Flow] = {}
        self.actions: dict[str, Step] = {}
        self.free_text: Step | None = None
        self.urgent_in_flow: Step | None = None  # may speak first on text typed inside a flow
        self.attachment: Step | None = None
        # Set by the composition root; None: no per-person limit (handlers/fairuse.py).
        self.fair_use: FairUse | None = None

    # --- registration --------------------------------------------------------------------
    def command(self, command: Command, *aliases: str) -> None:
        for name in (command.name, *aliases):
            self.commands[name] = command

    def flow(self, flow: Flow) -> None:
        self.flows[flow.name] = flow

    def action(self, prefix: str, step: Step) -> None:
        self.actions[prefix] = step

    # --- handling ----------------------------------------------------------------------
    async def handle(self, event: Incoming) -> list[Reply]:
        """Handle one event; returns the replies to send (already committed)."""
        if self.fair_use is not None:
            # Before any database work: a flood costs a dictionary lookup per message.
            verdict = self.fair_use.check(event.channel, event.user_id)
            if verdict is Verdict.DROP:
                return []
            if verdict is Verdict.SLOW_DOWN:
                seconds = self.fair_use.wait_seconds(event.channel, event.user_id)
                log.info("%s user %s is over the message limit", event.channel, event.user_id)
                return [Reply(self.services.texts.render("fair_use.slow_down", seconds=seconds))]
        try:
            return await self._handle(event)
        except Exception:
            log.exception("failed to handle %s update %s", event.channel, event.update_key)
            return [Reply(self.services.texts.render("errors.internal"))]

    async def _handle(self, event: Incoming) -> list[Reply]:
        for _attempt in range(3):
            try:
                return await self._attempt(event)
            except ConcurrentChange:
                continue  # another process moved this conversation on: start again from it
        raise RuntimeError(f"conversation {event.chat_id} kept changing under us")

    async def _attempt(self, event: Incoming) -> list[Reply]:
        db = self.services.db
        failure: DomainError | None = None
        try:
            async with db.transaction() as conn:
                ctx, loaded, _expired = await self._context(conn, event)
                await self._route(ctx)
                await self._finish(ctx, loaded, ctx.result())
            if ctx.queued:
                self.services.outbox_wakeup.set()
            if self.fair_use is not None and ctx.person is not None:
                self.fair_use.registered(event.channel, event.user_id)
            replies = ctx.replies
            for job in ctx.deferred:
                try:
                    async with db.read() as conn:
                        replies = await job(conn, replies)
                except Exception:  # the committed replies still go out
                    log.exception("after-commit work for update %s failed", event.update_key)
            return replies
        except ledger.AlreadyHandled:  # a redelivery: roll back, resend what was said
            return await self._stored(event)
        except DomainError as error:
            failure = error
        # Nothing the step wrote is kept (that transaction is gone); the conversation stays
        # where it was, so the buttons already on screen still work.
        try:
            async with db.transaction() as conn:
                ctx, loaded, expired = await self._context(conn, event)
                ctx.replies = ctx.replies[:1] if expired else []
                ctx.say(failure.key, **_error_params(ctx, failure))
                await self._finish(ctx, loaded, ctx.conversation, bump=False)
                return ctx.replies
        except ledger.AlreadyHandled:  # a redelivery: roll back, resend what was said
            return await self._stored(event)

    async def _stored(self, event: Incoming) -> list[Reply]:
        """What was said when this update was handled before."""
        async with self.services.db.read() as conn:
            return await ledger.replies_of(conn, event)

    async def _context(
        self, conn: AsyncConnection, event: Incoming
    ) -> tuple[Context, Conversation, bool]:
        person, loaded = await conversations.load_with_person(
            conn, event.channel, event.chat_id, event.user_id
        )
        conversation = loaded
        expired = conversations.expired(loaded, event.at)
        if expired:
            conversation = conversations.fresh(loaded)
        ctx = Context(conn, self.services, event, person, conversation)
        if expired:
            ctx.say("flow.expired")
        return ctx, loaded, expired

    async def _finish(
        self, ctx: Context, loaded: Conversation, result: Conversation, *, bump: bool = True
    ) -> None:
        """Save the conversation (unless nothing changed) and record the update, or roll back."""
        unchanged_empty = (
            loaded.flow is None and result.flow is None and not loaded.data and not result.data
        )
        # Written with the transaction's last writes, just before COMMIT: one round trip on
        # PostgreSQL (db/hot.py); ConcurrentChange and AlreadyHandled are raised from there.
        if not unchanged_empty and (bump or result != loaded):
            await conversations.save(
                ctx.conn, result, expected_version=loaded.version, now=ctx.now, at_commit=True
            )
        event = ctx.event
        await offers.remember(
            ctx.conn, event.channel, event.chat_id, ctx.replies, ctx.now, at_commit=True
        )
        await ledger.claim(ctx.conn, event, ctx.replies)

    async def _route(self, ctx: Context) -> None:
        event = ctx.event
        if event.choice is not None:
            await self._on_choice(ctx, event.choice)
            return
        text = (event.text or "").strip()
        if not text:
            if event.attachment is not None and self.attachment is not None:
                await self.attachment(ctx, "")
            else:
                # A sticker, or a message whose text the platform did not pass on (Zalo does
                # that for some users): never silence, a short menu or the open flow's options.
                no_text(ctx)
            return
        parsed = self._parse_command(text)
        if parsed is not None:
            name, args = parsed
            command = self.commands.get(name)
            if command is None:
                ctx.say("help.unknown_command", command=name)
                return
            if not command.allows(ctx.role):
                if not roles.registered(ctx.role):
                    raise NotRegistered()
                ctx.say("errors.command_not_for_role", command=name)
                return
            await command.run(ctx, args)
            return
        offered = ctx.conversation.data.get("_offered")
        if isinstance(offered, list) and offered:
            several = self._several(ctx, text, offered)
            if several is not None:
                await several[0](ctx, several[1])
                return
            matched = _match_offered(text, offered)
            if matched is not None:
                await self._on_choice(ctx, matched)
                return
            if fold(text) == "0" or (ctx.flow and fold(text) in ("huy", "thoi")):
                await self.commands["huy"].run(ctx, "")
                return
        if ctx.flow:
            if self.urgent_in_flow is not None:
                await self.urgent_in_flow(ctx, text)
            flow = self.flows[ctx.flow]
            step = flow.on_text.get(ctx.state or "")
            if step is not None:
                await step(ctx, text)
                return
            # A flow waiting for a choice: say so and offer the choices again.
            _offer_again(ctx, offered if isinstance(offered, list) else [])
            return
        if self.free_text is not None:
            await self.free_text(ctx, text)
        else:
            ctx.say("help.menu_hint")

    def _several(
        self, ctx: Context, text: str, offered: list[list[str]]
    ) -> tuple[ManyStep, list[str]] | None:
        """Several numbers typed where a flow state takes several options: that state's step
        and the values picked (in the order typed, once each); None when this is not that (or
        a number is not an option: then the options are offered again)."""
        if not ctx.flow or not _NUMBERS.match(text):
            return None
        step = self.flows[ctx.flow].on_choices.get(ctx.state or "")
        if step is None or any(label.isdigit() for _data, label in offered):
            return None
        values: list[str] = []
        for number in re.findall(r"\d+", text):
            index = int(number) - 1
            if not 0 <= index < len(offered):
                return None  # not all of them are options: offered again
            kind, _, value = offered[index][0].partition(":")
            if kind != f"v{ctx.conversation.version}":
                return None
            if value not in values:
                values.append(value)
        return step, values

    def _parse_command(self, text: str) -> tuple[str, str] | None:
        match = _COMMAND.match(text)
        if match:
            return fold(match.group(1)), (match.group(2) or "").strip()
        first, _, rest = text.partition(" ")
        bare = _BARE.get(fold(first))
        if bare is not None and (bare != "huy" or not rest):
            return bare, rest.strip()
        return None

    async def _on_choice(self, ctx: Context, data: str) -> None:
        if not offers.may_be_offered(data):
            raise StaleChoice()  # never offered: longer than any option, or control characters
        kind, _, value = data.partition(":")
        if kind == "a":
            prefix, _, arg = value.partition(":")
            action = self.actions.get(prefix)
            if action is None or not await self._was_offered(ctx, data):
                raise StaleChoice()
            await action(ctx, arg)
            return
        if not kind.startswith("v") or not kind[1:].isascii() or not kind[1:].isdigit():
            raise StaleChoice()
        if int(kind[1:]) != ctx.conversation.version or not ctx.flow:
            raise StaleChoice()
        offered = ctx.conversation.data.get("_offered")
        if not isinstance(offered, list) or not any(item[0] == data for item in offered):
            raise StaleChoice()
        step = self.flows[ctx.flow].on_choice.get(ctx.state or "")
        if step is None:
            raise StaleChoice()
        await step(ctx, value)

    async def _was_offered(self, ctx: Context, data: str) -> bool:
        """Was this action offered to this chat (in an answer or a notice), recently enough?"""
        event = ctx.event
        return await offers.was_offered(ctx.conn, event.channel, event.chat_id, data, ctx.now)


def _match_offered(text: str, offered: list[list[str]]) -> str | None:
    """A typed '2', a label, or the label without diacritics picks that option."""
    folded = fold(text).strip(" .)")
    # Counts: when options are numbers, a typed number is a value (the flow checks it),
    # never "the n-th option".
    if any(label.isdigit() for _data, label in offered):
        return next((data for data, label in offered if label == folded), None)
    if folded.isascii() and folded.isdigit() and len(folded) <= 3:
        index = int(folded) - 1
        return offered[index][0] if 0 <= index < len(offered) else None
    for data, label in offered:
        if fold(_strip_marks(label)) == folded:
            return data
    return None


def _strip_marks(label: str) -> str:
    return re.sub(r"^[^\w]+|[^\w]+$", "", label, flags=re.UNICODE).strip()


def no_text(ctx: Context) -> None:
    """Answer a message without text: the open flow's options again, else the role's menu."""
    offered = ctx.conversation.data.get("_offered")
    if ctx.flow and isinstance(offered, list) and offered:
        ctx.say("help.unsupported")
        _offer_again(ctx, offered)
        return
    ctx.say("help.unsupported", menu_choices(ctx))


def _offer_again(ctx: Context, offered: list[list[str]]) -> None:
    """Text came where a choice was expected: offer the same options again, still valid."""
    rows = []
    for data, label in offered:
        kind, _, value = data.partition(":")
        rows.append([ctx.choice(value, label) if kind.startswith("v") else Choice(data, label)])
    ctx.say("flow.choose_an_option", rows)


def _error_params(ctx: Context, error: DomainError) -> dict[str, Any]:
    """Fill in what every error template may name: the field's label and the reason."""
    params: dict[str, Any] = {"reason": "", **error.params}
    field_name = params.get("field")
    if field_name and "label" not in params:
        key = f"labels.field.{field_name}"
        params["label"] = ctx.text(key) if ctx.services.texts.has(key) else ""
    return params

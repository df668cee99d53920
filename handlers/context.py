"""What a handler sees while it handles one incoming event."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from core.events import Choice, Incoming, Reply
from db.models import Conversation, Person
from handlers.services import reach

if TYPE_CHECKING:
    from handlers.services.registry import Services


Deferred = Callable[[AsyncConnection, list[Reply]], Awaitable[list[Reply]]]


@dataclass
class Context:
    """One event being handled: the open transaction, the person, their conversation."""

    conn: AsyncConnection
    services: Services
    event: Incoming
    person: Person | None
    conversation: Conversation
    replies: list[Reply] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Every handled event moves the conversation on; buttons carry the new version,
        # so any older button (or a second tap on the same one) is recognised as stale.
        self.version = self.conversation.version + 1
        self.queued = False
        self.deferred: list[Deferred] = []
        self.data: dict[str, Any] = dict(self.conversation.data)
        self.data.pop("_offered", None)
        self.flow = self.conversation.flow
        self.state = self.conversation.state

    # --- time -----------------------------------------------------------------------
    @property
    def now(self) -> datetime:
        return self.event.at

    @property
    def tz(self) -> ZoneInfo:
        return self.services.tz

    @property
    def today(self) -> date:
        return self.event.at.astimezone(self.services.tz).date()

    @property
    def role(self) -> str:
        return self.person.role if self.person else "resident"

    # --- conversation state ---------------------------------------------------------
    def goto(self, flow: str, state: str, **data: Any) -> None:
        """Enter (or move within) a flow; `data` is merged into the flow's data."""
        if flow != self.flow:
            self.data = {}
        self.flow, self.state = flow, state
        self.data.update(data)

    def end(self) -> None:
        self.flow, self.state, self.data = None, None, {}

    # --- replies ----------------------------------------------------------------------
    def text(self, key: str, **params: Any) -> str:
        return self.services.texts.render(key, **params)

    def choice(self, value: str, label: str) -> Choice:
        """A flow option, valid only until the conversation moves on."""
        return Choice(f"v{self.version}:{value}", label)

    def action(self, value: str, label: str) -> Choice:
        """An option that stays valid (menu shortcuts, undo): handled outside flows."""
        return Choice(f"a:{value}", label)

    def say(
        self,
        key: str,
        choices: list[list[Choice]] | None = None,
        *,
        edit: bool = False,
        **params: Any,
    ) -> Reply:
        reply = Reply(
            text=self.text(key, **params),
            choices=tuple(tuple(row) for row in choices or []),
            edit=edit,
        )
        self.replies.append(reply)
        return reply

    def say_text(self, text: str, choices: list[list[Choice]] | None = None) -> Reply:
        reply = Reply(text=text, choices=tuple(tuple(row) for row in choices or []))
        self.replies.append(reply)
        return reply

    def after_commit(self, job: Deferred) -> None:
        """Slow work (charts, files) done after the transaction committed, on a read-only
        connection, so it never holds the write lock; it returns the final list of replies."""
        self.deferred.append(job)

    async def notify(self, person_id: int, key: str, reply: Reply, *, urgent: bool = True) -> bool:
        """Queue a message to a person on the chat `reach` picks (once per key); it is written
        in this event's transaction and sent by the outbox sender after commit."""
        chat = await reach.reach_id(self.conn, person_id)
        if chat is None:
            return False
        channel, chat_id = chat
        return await self.notify_chat(channel, chat_id, f"{key}:{person_id}", reply, urgent=urgent)

    async def notify_chat(
        self, channel: str, chat_id: str, key: str, reply: Reply, *, urgent: bool = True
    ) -> bool:
        self.queued = True  # the dispatcher wakes the senders once this transaction commits
        return await reach.notify_chat(
            self.conn, channel, chat_id, key, reply, now=self.now, urgent=urgent, sender=self._chat
        )

    @property
    def _chat(self) -> tuple[str, str]:
        return self.event.channel, self.event.chat_id

    def render(self, key: str, choices: list[list[Choice]] | None = None, **params: Any) -> Reply:
        """A reply that is not sent to this chat (for notify)."""
        return Reply(self.text(key, **params), tuple(tuple(row) for row in choices or []))

    def label(self, key: str, **params: Any) -> str:
        return self.text(f"labels.{key}", **params)

    def result(self) -> Conversation:
        """The conversation as it should be stored after this event."""
        offered = [
            [choice.data, choice.label] for reply in self.replies for choice in reply.flat_choices()
        ]
        data = dict(self.data)
        if offered:
            data["_offered"] = offered
        return replace(
            self.conversation, flow=self.flow, state=self.state, data=data, version=self.version
        )

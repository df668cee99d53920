"""A person chatting with the real dispatcher: builds real Incoming events, keeps the screen."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from bot.app import App
from core.events import Choice, Incoming, Reply
from db.repos import people
from handlers.services import invites

_ids = itertools.count(1)


class Clock:
    """A settable clock shared by the chats of a test."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2024, 10, 3, 2, 0, tzinfo=UTC)  # 09:00 in Vietnam

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class Chat:
    def __init__(
        self,
        app: App,
        user: str,
        *,
        channel: str = "local",
        clock: Clock | None = None,
        name: str = "Test",
    ) -> None:
        self.app = app
        self.user = user
        self.channel = channel
        self.clock = clock or Clock()
        self.name = name
        self.screen: list[Reply] = []

    def _event(self, **fields: object) -> Incoming:
        return Incoming(
            channel=self.channel,
            chat_id=self.user,
            user_id=self.user,
            update_key=f"u{next(_ids)}",
            at=self.clock.now,
            display_name=self.name,
            **fields,  # type: ignore[arg-type]
        )

    async def deliver(self, event: Incoming) -> list[Reply]:
        replies = await self.app.dispatcher.handle(event)
        if replies:
            self.screen = replies
        return replies

    async def send(self, text: str) -> list[Reply]:
        return await self.deliver(self._event(text=text))

    def find(self, label: str) -> Choice:
        for reply in reversed(self.screen):
            for choice in reply.flat_choices():
                if choice.label == label or label in choice.label:
                    return choice
        raise AssertionError(
            f"no choice {label!r} on screen: {[c.label for r in self.screen for c in r.flat_choices()]}"
        )

    async def press(self, label: str) -> list[Reply]:
        return await self.deliver(self._event(choice=self.find(label).data))

    async def press_data(self, data: str) -> list[Reply]:
        return await self.deliver(self._event(choice=data))

    @property
    def text(self) -> str:
        return "\n".join(reply.text for reply in self.screen)


async def join(
    app: App, role: str, unit: str, user: str, *, clock: Clock | None = None, channel: str = "local"
) -> Chat:
    """Create an invite through the service and redeem it by chat, as a person would."""
    clock = clock or Clock()
    async with app.db.transaction() as conn:
        invite = await invites.create(
            conn,
            inviter=None,
            role=role,
            unit_code=unit,
            uses=1,
            expires_in=timedelta(days=7),
            now=clock.now,
        )
    chat = Chat(app, user, clock=clock, channel=channel)
    await chat.send(f"/start {invite.code}")
    return chat


async def person_of(app: App, chat: Chat) -> object:
    async with app.db.read() as conn:
        return await people.by_account(conn, chat.channel, chat.user)

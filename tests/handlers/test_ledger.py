"""The update ledger is keyed by chat: the same update key from another chat is that chat's own
update, never a way to be sent the first chat's stored replies; redeliveries stay exactly-once."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from bot.app import App
from core.events import Incoming, Reply
from db.schema import processed_updates
from tests.auxil.chat import join

VILLAGE = "duc-chanh-thon-1"
AT = datetime(2024, 10, 3, 2, 0, tzinfo=UTC)


def texts(replies: list[Reply]) -> str:
    return "\n".join(reply.text for reply in replies)


async def _ledger_rows(app: App) -> int:
    async with app.db.read() as conn:
        query = sa.select(sa.func.count()).select_from(processed_updates)
        return int((await conn.execute(query)).scalar_one())


async def test_same_update_key_from_two_chats_is_handled_for_each(app: App) -> None:
    member = await join(app, "member", VILLAGE, "z-member", channel="zalo")
    await member.press("Công an viên")
    rows_before = await _ledger_rows(app)

    def event(chat: str, text: str) -> Incoming:
        return Incoming(
            channel="zalo", chat_id=chat, user_id=chat, update_key="reused-1", at=AT, text=text
        )

    # The member reports a household under key "reused-1"; the reply names the household.
    first = await app.dispatcher.handle(event("z-member", "/bc Nguyễn Văn An; số 12 xóm Đông; dvc"))
    assert "Nguyễn Văn An" in texts(first)
    # A stranger's chat sends a message with the same key: it is handled as its own message
    # (a welcome for someone unregistered), and shows nothing of the member's reply.
    other = await app.dispatcher.handle(event("z-stranger", "xin chào"))
    assert other and "Nguyễn Văn An" not in texts(other)
    assert "số 12" not in texts(other)
    assert await _ledger_rows(app) == rows_before + 2
    # A real redelivery to the member's chat changes nothing and gets the stored reply again.
    again = await app.dispatcher.handle(event("z-member", "/bc Nguyễn Văn An; số 12 xóm Đông; dvc"))
    assert texts(again) == texts(first)
    assert await _ledger_rows(app) == rows_before + 2
    # And the stranger's redelivery gets the stranger's own reply.
    assert texts(await app.dispatcher.handle(event("z-stranger", "xin chào"))) == texts(other)

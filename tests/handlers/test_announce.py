"""Announcements: residents follow a village or commune; leaders and officers announce to the
members and followers of their area; the outbox delivers, and the sender sees the counts.

Delivery goes the way it does in production: rows written by the confirming event, then sent
by an OutboxSender whose send function records what each chat received.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from bot.app import App
from bot.channels.telegram import TelegramChannel
from bot.outbox import DeliveryError, OutboxSender
from core.errors import NotAllowed
from core.events import Attachment, Reply
from db.repos import people
from db.schema import follows as follows_table
from db.schema import outbox as outbox_table
from handlers.services import announcements
from tests.auxil.chat import Chat, Clock, join

COMMUNE = "Thị trấn Mộ Đức"
VILLAGE = "tt-mo-duc-tdp-1"
VILLAGE_NAME = "Tổ dân phố 1"
OTHER_VILLAGE = "tt-mo-duc-tdp-2"
OTHER_VILLAGE_NAME = "Tổ dân phố 2"


class Recorder:
    """The outbox's send function: remembers each message; fails for the chats in `refuse`."""

    def __init__(self, *refuse: str) -> None:
        self.refuse = set(refuse)
        self.sent: list[tuple[str, Reply]] = []

    async def send(self, chat_id: str, reply: Reply) -> None:
        if chat_id in self.refuse:
            raise DeliveryError("blocked by the user", permanent=True)
        self.sent.append((chat_id, reply))

    def to(self, chat: Chat) -> list[str]:
        return [reply.text for chat_id, reply in self.sent if chat_id == chat.user]


async def drain(app: App, recorder: Recorder, channel: str = "local") -> None:
    sender = OutboxSender(app.db, channel, recorder.send)
    while True:
        result = await sender.drain()
        if not (result.sent or result.failed):
            break


async def team(app: App, role: str, unit: str, user: str, clock: Clock) -> Chat:
    chat = await join(app, role, unit, user, clock=clock)
    await chat.send("/huy")  # skip choosing a position
    return chat


async def following(app: App, user: str, village: str | None, clock: Clock, **kw: Any) -> Chat:
    """A resident who followed a village (by name), or the whole commune (None)."""
    chat = Chat(app, user, clock=clock, **kw)
    await chat.send("/theodoi")
    await chat.press(COMMUNE)
    await chat.press(village or f"Cả {COMMUNE}")
    assert "Từ nay" in chat.text
    return chat


async def announce_rows(app: App) -> list[dict[str, Any]]:
    async with app.db.read() as conn:
        rows = await conn.execute(
            sa.select(outbox_table)
            .where(outbox_table.c.key.startswith("announce:"))
            .order_by(outbox_table.c.id)
        )
        return [dict(row._mapping) for row in rows]


async def compose(chat: Chat, audience: str, text: str) -> None:
    await chat.send("/thongbao")
    await chat.press(audience)
    await chat.send(text)


async def test_follow_once_then_stop_with_one_command(app: App) -> None:
    clock = Clock()
    resident = await following(app, "r-ba", VILLAGE_NAME, clock)
    assert "/botheodoi" in resident.text
    await resident.send("/theodoi")
    assert "đang nhận thông báo của Tổ dân phố 1" in resident.text
    await resident.send("/botheodoi")
    assert "thôi gửi thông báo" in resident.text
    await resident.send("/botheodoi")
    assert "chưa theo dõi" in resident.text
    async with app.db.read() as conn:
        assert (await conn.execute(sa.select(follows_table))).all() == []
    whole = await following(app, "r-tu", None, clock)
    assert f"thông báo của {COMMUNE}" in whole.text


async def test_preview_counts_exactly_the_chats_queued_and_confirming_twice_queues_once(
    app: App,
) -> None:
    clock = Clock()
    leader = await team(app, "leader", VILLAGE, "L", clock)
    lan = await team(app, "member", VILLAGE, "m-lan", clock)
    await team(app, "member", VILLAGE, "m-hoa", clock)
    await team(app, "member", OTHER_VILLAGE, "m-xa", clock)  # another village: not reached
    await following(app, "r-nam", VILLAGE_NAME, clock)
    await following(app, "r-sau", OTHER_VILLAGE_NAME, clock)  # another village
    await following(app, "r-bay", None, clock)  # the whole commune: not a village's follower
    await lan.send("/theodoi")  # a member who also follows: one message, not two
    await lan.press(COMMUNE)
    await lan.press(VILLAGE_NAME)
    await leader.send("/theodoi")  # the sender never receives their own announcement
    await leader.press(COMMUNE)
    await leader.press(VILLAGE_NAME)

    await compose(leader, "Cả hai", "Sáng mai 7 giờ họp Tổ tại nhà văn hoá ạ.")
    assert "Sẽ gửi tới <b>3</b> người (2 thành viên, 1 người dân theo dõi)" in leader.text
    assert "Sáng mai 7 giờ họp Tổ" in leader.text
    assert await announce_rows(app) == []  # nothing is queued before the sender confirms

    send = leader.find("Gửi")
    await leader.press_data(send.data)
    assert "Đã xếp 3 tin" in leader.text
    await leader.press_data(send.data)  # pressed twice
    rows = await announce_rows(app)
    assert sorted(r["chat_id"] for r in rows) == ["m-hoa", "m-lan", "r-nam"]
    assert all(r["key"] == f"announce:{r['key'].split(':')[1]}:local:{r['chat_id']}" for r in rows)
    assert not any(r["urgent"] for r in rows)

    async with app.db.transaction() as conn:
        person = await people.by_account(conn, "local", "L")
        announcement_id = int(rows[0]["key"].split(":")[1])
        assert await announcements.confirm(conn, person, announcement_id, clock.now) is None
    assert len(await announce_rows(app)) == 3


async def test_a_commune_officer_reaches_the_whole_commune(app: App) -> None:
    clock = Clock()
    officer = await team(app, "commune_officer", "tt-mo-duc", "o-xa", clock)
    await team(app, "leader", VILLAGE, "L", clock)
    await team(app, "member", OTHER_VILLAGE, "m-xa", clock)
    await following(app, "r-nam", VILLAGE_NAME, clock)
    await following(app, "r-bay", None, clock)
    await compose(officer, "Người dân theo dõi", "Lịch tiêm chủng tuần này.")
    assert "Sẽ gửi tới <b>2</b> người" in officer.text
    await officer.press("Viết lại")
    await officer.send("Lịch tiêm chủng tuần này (sửa).")
    await officer.press("Gửi")
    assert "Đã xếp 2 tin" in officer.text
    await compose(officer, "Thành viên Tổ", "Họp giao ban.")
    assert "Sẽ gửi tới <b>2</b> người" in officer.text


async def test_a_leader_cannot_announce_outside_the_village(app: App) -> None:
    clock = Clock()
    leader = await team(app, "leader", VILLAGE, "L", clock)
    member = await team(app, "member", VILLAGE, "m-lan", clock)
    async with app.db.transaction() as conn:
        person = await people.by_account(conn, "local", "L")
        with pytest.raises(NotAllowed):
            await announcements.draft(
                conn,
                person,
                unit_code=OTHER_VILLAGE,
                audience="both",
                text="x",
                attachment=None,
                now=clock.now,
            )
        with pytest.raises(NotAllowed):
            await announcements.draft(
                conn,
                person,
                unit_code="tt-mo-duc",
                audience="both",
                text="x",
                attachment=None,
                now=clock.now,
            )
    await member.send("/thongbao")
    assert "không dành cho vai trò" in member.text
    resident = Chat(app, "r-x", clock=clock)
    await resident.send("/thongbao")
    assert "thành viên Tổ" in resident.text
    await leader.send("/thongbao")
    assert "Tổ dân phố 1" in leader.text


async def test_delivery_counts_after_the_outbox_drains(app: App) -> None:
    clock = Clock()
    leader = await team(app, "leader", VILLAGE, "L", clock)
    lan = await team(app, "member", VILLAGE, "m-lan", clock)
    blocked = await team(app, "member", VILLAGE, "m-blocked", clock)
    nam = await following(app, "r-nam", VILLAGE_NAME, clock)
    await compose(leader, "Cả hai", "Chủ nhật ra quân hướng dẫn VNeID.")
    await leader.press("Gửi")
    await leader.send("/thongbao")
    assert "Đã gửi 0 · đang chờ 3" in leader.text

    recorder = Recorder(blocked.user)
    await drain(app, recorder)
    (to_lan,) = recorder.to(lan)
    (to_nam,) = recorder.to(nam)
    assert "Chủ nhật ra quân" in to_lan and "Tổ dân phố 1" in to_lan
    assert "/botheodoi" in to_nam and "/botheodoi" not in to_lan
    assert recorder.to(blocked) == []

    await leader.send("/thongbao")
    assert "Đã gửi 2 · không gửi được 1" in leader.text
    assert "đang chờ" not in leader.text
    await leader.send("/huy")


async def test_a_resident_who_stopped_following_gets_nothing(app: App) -> None:
    clock = Clock()
    leader = await team(app, "leader", VILLAGE, "L", clock)
    gone = await following(app, "r-gone", VILLAGE_NAME, clock)
    stays = await following(app, "r-stays", VILLAGE_NAME, clock)
    await gone.send("/botheodoi")
    await compose(leader, "Người dân theo dõi", "Cắt điện sáng thứ bảy.")
    assert "Sẽ gửi tới <b>1</b> người" in leader.text
    await leader.press("Gửi")
    recorder = Recorder()
    await drain(app, recorder)
    assert recorder.to(gone) == []
    assert len(recorder.to(stays)) == 1

    await stays.send("/botheodoi")
    await compose(leader, "Người dân theo dõi", "Tin thứ hai.")
    assert "Chưa có ai để nhận" in leader.text
    assert len(await announce_rows(app)) == 1


async def test_a_photo_goes_by_file_id_and_zalo_readers_are_told_text_only(app: App) -> None:
    clock = Clock()
    leader = await team(app, "leader", VILLAGE, "L", clock)
    await team(app, "member", VILLAGE, "m-lan", clock)
    await following(app, "r-zalo", VILLAGE_NAME, clock, channel="zalo")
    await leader.send("/thongbao")
    await leader.press("Cả hai")
    photo = Attachment("photo", "AgACAgFILEID")
    await leader.deliver(leader._event(attachment=photo))
    assert "Đã nhận ảnh" in leader.text
    await leader.send("Lịch ra quân, xem ảnh.")
    assert "1 người nhận qua Zalo chỉ nhận phần chữ" in leader.text
    await leader.press("Gửi")
    rows = await announce_rows(app)
    assert {r["channel"] for r in rows} == {"local", "zalo"}
    assert all(Reply.from_json(r["payload"]).file_ref == ("photo", "AgACAgFILEID") for r in rows)


def test_a_file_reference_survives_the_outbox_payload() -> None:
    reply = Reply("x", file_ref=("document", "BQACAg"))
    assert Reply.from_json(reply.to_json()) == reply
    assert "file_ref" not in Reply("x").to_json()


async def test_telegram_resends_a_file_by_its_id() -> None:
    calls: list[tuple[str, dict[str, Any]]] = []

    class Bot:
        async def send_photo(self, **kw: Any) -> None:
            calls.append(("photo", kw))

        async def send_document(self, **kw: Any) -> None:
            calls.append(("document", kw))

    channel = TelegramChannel.__new__(TelegramChannel)
    channel.application = SimpleNamespace(bot=Bot())  # type: ignore[assignment]
    await channel.send_files(42, Reply("x", file_ref=("photo", "P1")))
    await channel.send_files(42, Reply("x", file_ref=("document", "D1")))
    assert calls == [
        ("photo", {"chat_id": 42, "photo": "P1"}),
        ("document", {"chat_id": 42, "document": "D1"}),
    ]

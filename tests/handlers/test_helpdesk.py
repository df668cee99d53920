"""A resident asks the village team for help at home; team members hear of it and one takes it.

Notices travel the way they do in production: written to the outbox by the event, then sent by
an OutboxSender whose send function is a small fake channel delivering to the test's chats.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from bot.app import App
from bot.outbox import OutboxSender
from core.events import Reply
from db.repos import help_requests
from db.schema import help_requests as help_requests_table
from db.schema import outbox as outbox_table
from handlers.services import invites
from tests.auxil.chat import Chat, Clock

COMMUNE = "Thị trấn Mộ Đức"
VILLAGE = "tt-mo-duc-tdp-1"
VILLAGE_NAME = "Tổ dân phố 1"
OTHER_VILLAGE = "tt-mo-duc-tdp-2"
EMPTY_VILLAGE, EMPTY_VILLAGE_NAME = "tt-mo-duc-tdp-5", "Tổ dân phố 5"


class FakeChannel:
    """Delivers what the outbox sends to the chats of the test, and remembers everything."""

    def __init__(self, *chats: Chat) -> None:
        self.chats = {chat.user: chat for chat in chats}
        self.sent: list[tuple[str, Reply]] = []

    def add(self, *chats: Chat) -> None:
        self.chats.update({chat.user: chat for chat in chats})

    async def send(self, chat_id: str, reply: Reply) -> None:
        self.sent.append((chat_id, reply))
        if chat_id in self.chats:
            self.chats[chat_id].screen = [reply]

    def to(self, chat: Chat) -> list[str]:
        return [reply.text for chat_id, reply in self.sent if chat_id == chat.user]


async def member(
    app: App, user: str, name: str, *, unit: str = VILLAGE, role: str = "member", clock: Clock
) -> Chat:
    """A team member who joined with an invite, by chat, and said where they work."""
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
    chat = Chat(app, user, clock=clock, name=name)
    await chat.send(f"/start {invite.code}")
    await chat.press("Giáo viên" if role == "member" else "Tổ trưởng")
    return chat


async def ask_for_visit(resident: Chat, village: str = VILLAGE_NAME, *, contact: str) -> None:
    """/lienhe → commune → village → home visit → topic → contact: up to the consent question."""
    await resident.send("/lienhe")
    await resident.press(COMMUNE)
    await resident.press(village)
    await resident.press("Hẹn người đến nhà")
    await resident.press("VNeID")
    if contact == "here":
        await resident.press("Nhắn qua đây")
    else:
        await resident.send(contact)
    assert "đồng ý" in resident.text


async def drain(app: App, channel: FakeChannel) -> None:
    sender = OutboxSender(app.db, "local", channel.send)
    while (await sender.drain()).sent:
        pass


async def outbox_rows(app: App) -> list[dict]:
    async with app.db.read() as conn:
        rows = await conn.execute(sa.select(outbox_table).order_by(outbox_table.c.id))
        return [dict(row._mapping) for row in rows]


async def stored_requests(app: App) -> list[dict]:
    async with app.db.read() as conn:
        rows = await conn.execute(sa.select(help_requests_table))
        return [dict(row._mapping) for row in rows]


async def test_home_visit_request_reaches_both_members_and_the_first_takes_it(app: App) -> None:
    clock = Clock()
    lan = await member(app, "m-lan", "Cô Lan", clock=clock)
    hung = await member(app, "m-hung", "Anh Hùng", role="leader", clock=clock)
    resident = Chat(app, "r-nam", clock=clock, name="Bà Năm")
    channel = FakeChannel(lan, hung, resident)

    await resident.send("giá lúa hôm nay")
    await resident.press("Nhờ Tổ giúp")
    await resident.press(COMMUNE)
    await resident.press(VILLAGE_NAME)
    assert "Tổ công nghệ số cộng đồng" in resident.text
    await resident.press("Hẹn người đến nhà")
    await resident.press("VNeID")
    await resident.send("0905 123 456")
    assert "0905 123 456" in resident.text and "đồng ý" in resident.text
    assert await outbox_rows(app) == []  # nothing goes out before consent
    await resident.press("Đồng ý")
    assert "Đã gửi yêu cầu" in resident.text and "2 thành viên" in resident.text

    await drain(app, channel)
    for chat in (lan, hung):
        (notice,) = channel.to(chat)
        assert "Yêu cầu hướng dẫn tại nhà" in notice
        assert "Bà Năm" in notice and "0905 123 456" in notice and "VNeID" in notice
    assert channel.to(resident) == []

    await lan.press("Tôi nhận")
    assert "Bạn đã nhận hẹn với Bà Năm" in lan.text and "0905 123 456" in lan.text
    await drain(app, channel)
    (coming,) = channel.to(resident)
    assert "Cô Lan" in coming and "sẽ liên lạc" in coming
    assert resident.screen[0].text == coming

    await hung.press("Tôi nhận")
    assert "đã có người nhận" in hung.text
    await drain(app, channel)
    assert len(channel.to(resident)) == 1  # told once, and about Lan only

    (request,) = await stored_requests(app)
    assert request["status"] == "taken"
    assert request["contact"] == "0905 123 456"
    assert all(row["sent_at"] is not None for row in await outbox_rows(app))


async def test_pressing_take_twice_tells_the_resident_once(app: App) -> None:
    clock = Clock()
    lan = await member(app, "m-lan2", "Cô Lan", clock=clock)
    resident = Chat(app, "r-tu", clock=clock, name="Ông Tư")
    channel = FakeChannel(lan, resident)
    await ask_for_visit(resident, contact="here")
    await resident.press("Đồng ý")
    await drain(app, channel)
    take = lan.find("Tôi nhận")
    await lan.press_data(take.data)
    await lan.press_data(take.data)
    await drain(app, channel)
    assert len(channel.to(resident)) == 1


async def test_a_redelivered_consent_notifies_each_member_once(app: App) -> None:
    clock = Clock()
    lan = await member(app, "m-lan3", "Cô Lan", clock=clock)
    hung = await member(app, "m-hung3", "Anh Hùng", clock=clock)
    resident = Chat(app, "r-redeliver", clock=clock, name="Bà Sáu")
    channel = FakeChannel(lan, hung, resident)
    await ask_for_visit(resident, contact="0905123456")
    consent = resident._event(choice=resident.find("Đồng ý").data)
    first = await resident.deliver(consent)
    again = await resident.deliver(consent)  # the channel delivered the same update twice
    assert first == again
    await drain(app, channel)
    assert len(channel.to(lan)) == 1 and len(channel.to(hung)) == 1
    assert len(await stored_requests(app)) == 1


async def test_declining_consent_stores_nothing_and_notifies_no_one(app: App) -> None:
    clock = Clock()
    lan = await member(app, "m-lan4", "Cô Lan", clock=clock)
    resident = Chat(app, "r-no", clock=clock, name="Bà Bảy")
    channel = FakeChannel(lan, resident)
    await ask_for_visit(resident, contact="0905 123 456")
    await resident.press("Không")
    assert "chưa gửi gì" in resident.text
    assert await stored_requests(app) == []
    assert await outbox_rows(app) == []
    await drain(app, channel)
    assert channel.sent == []
    await lan.send("/yeucau")
    assert "không có yêu cầu nào" in lan.text


async def test_a_bad_phone_number_is_explained_and_can_be_typed_again(app: App) -> None:
    resident = Chat(app, "r-typo", name="Bà Tám")
    await resident.send("/lienhe")
    await resident.press(COMMUNE)
    await resident.press(VILLAGE_NAME)
    await resident.press("Hẹn người đến nhà")
    await resident.press("VNeID")
    await resident.send("12ab")
    assert "số điện thoại chưa đúng" in resident.text
    assert "0905 123 456" in resident.text  # an example of what is expected
    assert await stored_requests(app) == []
    await resident.send("0905 123 456")
    assert "đồng ý" in resident.text and "0905 123 456" in resident.text


async def test_the_public_contact_is_shown_and_done_ends_without_a_request(app: App) -> None:
    resident = Chat(app, "r-look", name="Ông Chín")
    await resident.send("/lienhe")
    await resident.press(COMMUNE)
    await resident.press(VILLAGE_NAME)
    assert "Tổ công nghệ số cộng đồng" in resident.text and VILLAGE_NAME in resident.text
    await resident.press("Xong")
    assert "Cần gì bác cứ nhắn" in resident.text
    assert await stored_requests(app) == []


async def test_open_requests_lists_only_open_ones_of_my_own_village(app: App) -> None:
    clock = Clock()
    lan = await member(app, "m-lan5", "Cô Lan", clock=clock)
    other = await member(app, "m-other", "Chị Hoa", unit=OTHER_VILLAGE, clock=clock)
    channel = FakeChannel(lan, other)
    for user, name, village in (
        ("r-a", "Bà Năm", VILLAGE_NAME),
        ("r-b", "Ông Tư", VILLAGE_NAME),
        ("r-c", "Cô Ba", "Tổ dân phố 2"),
    ):
        resident = Chat(app, user, clock=clock, name=name)
        channel.add(resident)
        await ask_for_visit(resident, village, contact="here")
        await resident.press("Đồng ý")
    await drain(app, channel)
    # Lan takes Bà Năm's request; Ông Tư's is still open.
    await lan.press_data(
        next(r for chat_id, r in channel.sent if chat_id == lan.user and "Bà Năm" in r.text)
        .flat_choices()[0]
        .data
    )

    replies = await lan.send("/yeucau")
    text = "\n".join(reply.text for reply in replies)
    assert "Ông Tư" in text
    assert "Bà Năm" not in text
    assert "Cô Ba" not in text
    assert len(replies) == 1 and any("Tôi nhận" in c.label for c in replies[0].flat_choices())

    replies = await other.send("/yeucau")
    text = "\n".join(reply.text for reply in replies)
    assert "Cô Ba" in text and "Ông Tư" not in text and "Bà Năm" not in text

    # Chị Hoa cannot take a request of another village, even with its button.
    take_tu = next(
        r for chat_id, r in channel.sent if chat_id == lan.user and "Ông Tư" in r.text
    ).flat_choices()[0]
    await other.press_data(take_tu.data)
    assert "Nút này đã cũ" in other.text
    async with app.db.read() as conn:
        assert [r.resident_name for r in await help_requests.open_in(conn, VILLAGE)] == ["Ông Tư"]


async def test_residents_cannot_list_requests(app: App) -> None:
    resident = Chat(app, "r-peek")
    await resident.send("/yeucau")
    assert resident.text == app.services.texts.render("errors.not_registered")


async def test_a_request_to_a_village_without_members_is_not_promised_falsely(
    app: App,
) -> None:
    """Nobody is on the bot in Tổ dân phố 5 nor in its commune: nobody is notified, the
    resident is told so plainly, and the request is kept for the team's first member."""
    resident = Chat(app, "r-alone", name="Bà Mười")
    await ask_for_visit(resident, EMPTY_VILLAGE_NAME, contact="0905 123 456")
    assert "yêu cầu được lưu lại" in resident.text  # what the consent question promised
    await resident.press("Đồng ý")
    assert await outbox_rows(app) == []
    assert resident.text == app.services.texts.render(
        "help_request.nobody", village=f"{EMPTY_VILLAGE_NAME} (tên mẫu)"
    )
    (stored,) = await stored_requests(app)
    assert (stored["village_code"], stored["contact"]) == (EMPTY_VILLAGE, "0905 123 456")
    # Kept, not dropped: the first member who joins the team sees it in /yeucau.
    clock = Clock()
    first = await member(app, "m-first", "Chị Sáu", unit=EMPTY_VILLAGE, clock=clock)
    await first.send("/yeucau")
    assert "VNeID – Bà Mười" in first.text and "0905 123 456" in first.text


async def test_leader_publishes_the_team_contact_residents_see_it(app: App) -> None:
    from tests.auxil.chat import join

    leader = await join(app, "leader", "duc-chanh-thon-1", "l-pub")
    await leader.send("/congkhai Anh Tùng 0905 123 456, tối 19–21h")
    assert "Anh Tùng" in leader.text
    resident = Chat(app, "r-pub")
    await resident.send("/lienhe")
    await resident.press("Đức Chánh")
    await resident.press("Thôn 1")
    assert "Liên hệ: Anh Tùng 0905 123 456" in resident.text
    await leader.send("/congkhai xoa")
    member = await join(app, "member", "duc-chanh-thon-1", "m-pub")
    await member.send("/congkhai 0905 000 000")
    assert "không dành cho vai trò của bạn" in member.text

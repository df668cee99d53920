"""Joining with an invite code, naming one's position, and who may invite whom (/moi)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from bot.app import App
from core.errors import NotAllowed
from db.models import Person
from db.repos import audit, people, units
from db.repos import invites as invite_repo
from db.schema import invites as invites_table
from handlers.services import invites
from tests.auxil.chat import Chat, Clock, join, person_of

VILLAGE = "duc-chanh-thon-1"
COMMUNE = "duc-chanh"


async def make_invite(
    app: App, clock: Clock, *, role: str = "member", unit: str = VILLAGE, uses: int = 1
) -> str:
    """An invite made by the shell (as `python -m bot invite create` does)."""
    async with app.db.transaction() as conn:
        invite = await invites.create(
            conn,
            inviter=None,
            role=role,
            unit_code=unit,
            uses=uses,
            expires_in=timedelta(days=7),
            now=clock.now,
        )
    return invite.code


async def account(app: App, chat: Chat) -> Person | None:
    async with app.db.read() as conn:
        return await people.by_account(conn, chat.channel, chat.user)


def code_in(text: str) -> str:
    match = re.search(r"<b>([A-Z0-9]{8})</b>", text)
    assert match, text
    return match.group(1)


# --- joining ---------------------------------------------------------------------------------
@pytest.mark.parametrize("typed", ["/start {code}", "/dangky {code}", "dangky {code}"])
async def test_joining_with_a_code_asks_the_position_and_saves_it(app: App, typed: str) -> None:
    clock = Clock()
    code = await make_invite(app, clock)
    chat = Chat(app, "new-member", clock=clock, name="Lan")
    await chat.send(typed.format(code=code))
    assert "Chào mừng Lan" in chat.text
    assert "Thành viên Tổ" in chat.text and "Thôn 1 (tên mẫu)" in chat.text
    assert "vị trí nào" in chat.text
    assert {c.label for r in chat.screen for c in r.flat_choices()} >= {
        "Tổ trưởng",
        "Công an viên",
        "Giáo viên",
        "Hội Phụ nữ",
    }
    await chat.press("Giáo viên")
    assert "Đã ghi vị trí: Giáo viên" in chat.text
    person = await account(app, chat)
    assert person is not None
    assert (person.role, person.unit_code, person.position) == ("member", VILLAGE, "teacher")
    assert person.display_name == "Lan"


async def test_code_typed_in_lower_case_still_works(app: App) -> None:
    clock = Clock()
    code = await make_invite(app, clock)
    chat = Chat(app, "lower", clock=clock)
    await chat.send(f"/dangky {code.lower()}")
    assert "Chào mừng" in chat.text
    assert (await account(app, chat)) is not None


async def test_dangky_without_a_code_asks_for_one(app: App) -> None:
    chat = Chat(app, "no-code")
    await chat.send("/dangky")
    assert "gõ kèm mã mời" in chat.text
    assert (await account(app, chat)) is None


async def test_wrong_code_is_refused_and_nothing_is_linked(app: App) -> None:
    clock = Clock()
    await make_invite(app, clock)
    chat = Chat(app, "typo", clock=clock)
    await chat.send("/dangky ZZZZ2222")
    assert "Mã mời này không đúng" in chat.text
    assert (await account(app, chat)) is None


async def test_expired_invite_is_refused(app: App) -> None:
    clock = Clock()
    code = await make_invite(app, clock)
    clock.advance(days=7, minutes=1)
    chat = Chat(app, "late", clock=clock)
    await chat.send(f"/start {code}")
    assert "đã hết hạn hoặc đã dùng hết lượt" in chat.text
    assert (await account(app, chat)) is None


async def test_invite_for_one_person_cannot_be_used_by_a_second(app: App) -> None:
    clock = Clock()
    code = await make_invite(app, clock, uses=1)
    first = Chat(app, "first", clock=clock)
    await first.send(f"/dangky {code}")
    assert "Chào mừng" in first.text
    second = Chat(app, "second", clock=clock)
    await second.send(f"/dangky {code}")
    assert "đã hết hạn hoặc đã dùng hết lượt" in second.text
    assert (await account(app, second)) is None
    async with app.db.read() as conn:
        invite = await invite_repo.get(conn, code)
    assert invite is not None and invite.uses == 1


async def test_invite_for_several_people_counts_each_use(app: App) -> None:
    clock = Clock()
    code = await make_invite(app, clock, uses=2)
    for user in ("a", "b"):
        chat = Chat(app, user, clock=clock)
        await chat.send(f"/dangky {code}")
        assert "Chào mừng" in chat.text
    third = Chat(app, "c", clock=clock)
    await third.send(f"/dangky {code}")
    assert "dùng hết lượt" in third.text


async def test_member_joining_again_with_a_leader_code_is_updated_once_they_confirm(
    app: App,
) -> None:
    clock = Clock()
    chat = await join(app, "member", VILLAGE, "promoted", clock=clock)
    await chat.press("Tổ trưởng")
    code = await make_invite(app, clock, role="leader")
    await chat.send(f"/dangky {code}")
    assert "Bạn đang là <b>Thành viên Tổ</b>" in chat.text
    person = await account(app, chat)
    assert person is not None and person.role == "member"
    await chat.press("Đổi sang Tổ trưởng")
    assert "Đã cập nhật" in chat.text and "Tổ trưởng" in chat.text
    person = await account(app, chat)
    assert person is not None and person.role == "leader"
    async with app.db.read() as conn:
        rows = await audit.for_entity(conn, "person", person.id)
        used = await invite_repo.get(conn, code)
    assert [(r["action"], r["before"]["role"], r["after"]["role"]) for r in rows] == [
        ("redeem", "member", "leader")
    ]
    assert used is not None and used.uses == 1


# --- roles change only on purpose ------------------------------------------------------------
async def test_a_district_officer_tapping_a_member_link_keeps_their_role(app: App) -> None:
    clock = Clock()
    officer = await join(app, "district_officer", "mo-duc", "district", clock=clock)
    code = await make_invite(app, clock, role="member")
    await officer.send(f"/start {code}")
    assert "Cán bộ huyện" in officer.text and "Thành viên Tổ" in officer.text
    assert {c.label for r in officer.screen for c in r.flat_choices()} == {
        "Giữ vai trò hiện tại",
        "Đổi sang Thành viên Tổ – Thôn 1 (tên mẫu)",
    }
    await officer.press("Giữ vai trò hiện tại")
    assert "vẫn là Cán bộ huyện" in officer.text
    person = await account(app, officer)
    assert person is not None and (person.role, person.unit_code) == ("district_officer", "mo-duc")
    async with app.db.read() as conn:
        unused = await invite_repo.get(conn, code)
    assert unused is not None and unused.uses == 0  # the code is still there for its owner


async def test_a_changed_unit_also_needs_confirmation(app: App) -> None:
    clock = Clock()
    chat = await join(app, "member", VILLAGE, "mover", clock=clock)
    await chat.press("Giáo viên")
    code = await make_invite(app, clock, role="member", unit="duc-chanh-thon-2")
    await chat.send(f"/dangky {code}")
    await chat.press("Đổi sang")
    person = await account(app, chat)
    assert person is not None and person.unit_code == "duc-chanh-thon-2"


async def test_the_same_role_and_unit_again_asks_nothing(app: App) -> None:
    clock = Clock()
    chat = await join(app, "member", VILLAGE, "again", clock=clock)
    await chat.press("Giáo viên")
    await chat.send(f"/dangky {await make_invite(app, clock, role='member')}")
    assert "Đã cập nhật" in chat.text and "Giữ vai trò" not in chat.text


@pytest.mark.parametrize("role", ["member", "district_officer"])
async def test_an_admin_is_never_demoted_from_chat(app: App, role: str) -> None:
    clock = Clock()
    admin = await join(app, "admin", "mo-duc", "the-admin", clock=clock)
    code = await make_invite(app, clock, role=role, unit=VILLAGE if role == "member" else "mo-duc")
    await admin.send(f"/dangky {code}")
    assert "Quản trị nên bot không đổi vai trò" in admin.text
    assert not [c for r in admin.screen for c in r.flat_choices() if "Đổi sang" in c.label]
    person = await account(app, admin)
    assert person is not None and person.role == "admin"


async def test_a_confirmation_pressed_after_the_code_was_revoked_changes_nothing(
    app: App,
) -> None:
    clock = Clock()
    officer = await join(app, "commune_officer", "duc-chanh", "late", clock=clock)
    code = await make_invite(app, clock, role="member")
    await officer.send(f"/dangky {code}")
    async with app.db.transaction() as conn:
        await invite_repo.revoke(conn, code, clock.now)
    await officer.press("Đổi sang")
    assert "đã bị thu hồi" in officer.text
    person = await account(app, officer)
    assert person is not None and person.role == "commune_officer"


async def test_a_revoked_invite_is_refused_in_vietnamese(app: App) -> None:
    clock = Clock()
    code = await make_invite(app, clock)
    async with app.db.transaction() as conn:
        assert await invite_repo.revoke(conn, code, clock.now)
    chat = Chat(app, "too-late", clock=clock)
    await chat.send(f"/dangky {code}")
    assert "Mã mời này đã bị thu hồi nên không dùng được nữa" in chat.text
    assert await account(app, chat) is None


async def test_officer_joining_is_not_asked_a_team_position(app: App) -> None:
    clock = Clock()
    code = await make_invite(app, clock, role="commune_officer", unit=COMMUNE)
    chat = Chat(app, "officer", clock=clock)
    await chat.send(f"/start {code}")
    assert "Cán bộ xã" in chat.text and "Xã Đức Chánh" in chat.text
    assert "vị trí nào" not in chat.text
    assert "Chọn việc cần làm" in chat.text


# --- inviting from the chat ----------------------------------------------------------------
def labels(chat: Chat) -> list[str]:
    return [c.label for r in chat.screen for c in r.flat_choices()]


async def test_leader_invites_a_member_for_their_own_village(app: App) -> None:
    clock = Clock()
    leader = await join(app, "leader", VILLAGE, "leader", clock=clock)
    await leader.press("Tổ trưởng")
    await leader.send("/moi")
    assert "vai trò nào" in leader.text
    offered = labels(leader)
    assert "Thành viên Tổ" in offered and "Tổ trưởng" in offered
    assert "Cán bộ xã" not in offered and "Cán bộ huyện" not in offered
    await leader.press("Thành viên Tổ")
    # The leader's only village is chosen without asking.
    assert "dùng cho mấy người" in leader.text
    await leader.press("5 người")
    assert "Thành viên Tổ, Thôn 1 (tên mẫu)" in leader.text
    assert "Dùng được cho 5 người, đến 10/10/2024" in leader.text
    code = code_in(leader.text)
    assert f"/dangky {code}" in leader.text

    invited = Chat(app, "invited", clock=clock)
    await invited.send(f"dangky {code}")
    assert "Chào mừng" in invited.text
    person = await account(app, invited)
    assert person is not None and (person.role, person.unit_code) == ("member", VILLAGE)


async def test_leader_cannot_invite_a_commune_officer(app: App) -> None:
    clock = Clock()
    leader = await join(app, "leader", VILLAGE, "leader", clock=clock)
    await leader.send("/moi")
    version = leader.find("Thành viên Tổ").data.split(":")[0]
    # Even a forged button for a higher role is refused: it was never offered.
    await leader.press_data(f"{version}:commune_officer")
    assert "Nút này đã cũ" in leader.text
    person = await person_of(app, leader)
    async with app.db.read() as conn:
        made = (
            await conn.execute(
                sa.select(sa.func.count())
                .select_from(invites_table)
                .where(invites_table.c.created_by == person.id)  # type: ignore[attr-defined]
            )
        ).scalar_one()
    assert made == 0


async def test_member_cannot_use_moi(app: App) -> None:
    member = await join(app, "member", VILLAGE, "member")
    await member.send("/moi")
    assert "không dành cho vai trò của bạn" in member.text


async def test_commune_officer_picks_one_of_its_villages(app: App) -> None:
    clock = Clock()
    officer = await join(app, "commune_officer", COMMUNE, "officer", clock=clock)
    await officer.send("/moi")
    assert "Cán bộ xã" in labels(officer) and "Cán bộ huyện" not in labels(officer)
    await officer.press("Thành viên Tổ")
    assert "địa bàn nào" in officer.text
    async with app.db.read() as conn:
        villages = await units.children(conn, COMMUNE)
    assert sorted(labels(officer)) == sorted(v.name for v in villages)
    second = sorted(villages, key=lambda v: v.code)[1]
    await officer.press(second.name)
    await officer.press("1 người")
    code = code_in(officer.text)
    async with app.db.read() as conn:
        invite = await invite_repo.get(conn, code)
    assert invite is not None
    assert (invite.role, invite.unit_code, invite.max_uses) == ("member", second.code, 1)


async def test_district_officer_is_sent_to_the_cli_when_there_are_too_many_villages(
    app: App,
) -> None:
    officer = await join(app, "district_officer", "mo-duc", "district")
    await officer.send("/moi")
    await officer.press("Thành viên Tổ")
    assert "python -m bot invite create" in officer.text


async def test_invite_link_is_shown_when_the_bot_has_a_telegram_name(app: App) -> None:
    app.services.telegram_username = "tocongnghe_bot"
    leader = await join(app, "leader", VILLAGE, "leader")
    await leader.send("/moi")
    await leader.press("Tổ phó")
    await leader.press("1 người")
    code = code_in(leader.text)
    assert f"https://t.me/tocongnghe_bot?start={code}" in leader.text


# --- the rules, as the service enforces them -----------------------------------------------
async def test_service_refuses_a_unit_outside_the_inviters_area(app: App) -> None:
    clock = Clock()
    leader = await join(app, "leader", VILLAGE, "leader", clock=clock)
    inviter = await person_of(app, leader)
    async with app.db.transaction() as conn:
        with pytest.raises(NotAllowed) as refused:
            await invites.create(
                conn,
                inviter=inviter,  # type: ignore[arg-type]
                role="member",
                unit_code="duc-loi-thon-1",
                uses=1,
                expires_in=timedelta(days=7),
                now=clock.now,
            )
    assert refused.value.params["action"] == "invite_area"
    said = app.services.texts.render(refused.value.key, **refused.value.params)
    assert "địa bàn mình phụ trách" in said


async def test_service_refuses_a_role_above_the_inviter(app: App) -> None:
    clock = Clock()
    leader = await join(app, "leader", VILLAGE, "leader", clock=clock)
    inviter = await person_of(app, leader)
    async with app.db.transaction() as conn:
        with pytest.raises(NotAllowed) as refused:
            await invites.create(
                conn,
                inviter=inviter,  # type: ignore[arg-type]
                role="commune_officer",
                unit_code=COMMUNE,
                uses=1,
                expires_in=timedelta(days=7),
                now=clock.now,
            )
    assert refused.value.params["action"] == "invite"
    said = app.services.texts.render(refused.value.key, **refused.value.params)
    assert "không tạo được mã mời cho vai trò này" in said


async def test_service_lets_a_commune_officer_invite_in_any_of_its_villages(app: App) -> None:
    clock = Clock()
    officer = await join(app, "commune_officer", COMMUNE, "officer", clock=clock)
    inviter = await person_of(app, officer)
    async with app.db.transaction() as conn:
        made = await invites.create(
            conn,
            inviter=inviter,  # type: ignore[arg-type]
            role="leader",
            unit_code="duc-chanh-thon-3",
            uses=3,
            expires_in=timedelta(days=7),
            now=clock.now,
        )
        with pytest.raises(NotAllowed):
            await invites.create(
                conn,
                inviter=inviter,  # type: ignore[arg-type]
                role="leader",
                unit_code="duc-hiep-thon-1",
                uses=3,
                expires_in=timedelta(days=7),
                now=clock.now,
            )
    assert made.unit_code == "duc-chanh-thon-3" and made.max_uses == 3

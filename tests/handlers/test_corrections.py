"""/sua and /xoa: correcting and deleting reports within 48 hours, and what statistics show."""

from __future__ import annotations

from typing import Any

from bot.app import App
from db.repos import audit
from handlers.services import stats
from tests.auxil.chat import Chat, Clock, join, person_of

VILLAGE = "duc-chanh-thon-1"


async def figures(app: App, code: str = VILLAGE) -> dict[str, Any]:
    async with app.db.read() as conn:
        return await stats.for_unit(conn, app.services.plan, code)


async def trail(app: App, visit_id: int) -> list[dict[str, Any]]:
    async with app.db.read() as conn:
        return await audit.for_entity(conn, "visit", visit_id)


async def member(app: App, user: str, clock: Clock, unit: str = VILLAGE) -> Chat:
    chat = await join(app, "member", unit, user, clock=clock)
    await chat.press("Công an viên")
    return chat


async def quick(chat: Chat, message: str) -> int:
    """Send a quick report; returns the id of the visit it saved (from its Undo button)."""
    await chat.send(message)
    assert "Đã lưu" in chat.text, chat.text
    return int(chat.find("Hoàn tác").data.rsplit(":", 1)[1])


def labels(chat: Chat) -> list[str]:
    return [c.label for r in chat.screen for c in r.flat_choices()]


# --- /sua --------------------------------------------------------------------------------
async def test_edit_changes_counts_and_skills_and_stats_follow(app: App) -> None:
    clock = Clock()
    chat = await member(app, "m1", clock)
    base = await figures(app)
    visit_id = await quick(chat, "/bc Nguyễn Văn An; số 12; dvc,tt; dk2=2")
    clock.advance(hours=3)
    await chat.send("/sua")
    assert "Chọn báo cáo cần sửa" in chat.text
    await chat.press("Nguyễn Văn An")
    assert "Sửa báo cáo" in chat.text and "Đăng ký định danh mức 2: 2 người" in chat.text
    await chat.press("Sửa việc đã hướng dẫn")
    await chat.press("Dịch vụ công")
    await chat.press("Thanh toán online")
    await chat.press("An toàn trên mạng")
    await chat.press("Xong")
    assert "Có mấy người" in chat.text
    await chat.press("5")
    await chat.press("thành thạo")
    await chat.press("Có")
    assert "Đã hướng dẫn: An toàn trên mạng, Đăng ký định danh mức 2" in chat.text
    assert "Đăng ký định danh mức 2: 5 người" in chat.text
    await chat.press("Lưu thay đổi")
    assert "Đã lưu thay đổi cho hộ <b>Nguyễn Văn An</b>" in chat.text

    after = await figures(app)
    assert after["reports"] == 1
    assert after["households_visited"] == 1
    assert after["households_dvc_payment"] == 0
    assert after["proficient_households"] == 1
    assert after["vneid_registered"] == base["vneid_registered"] + 5

    rows = await trail(app, visit_id)
    assert [row["action"] for row in rows] == ["update"]
    assert rows[0]["before"]["dk2"] == 2 and "dvc" in rows[0]["before"]["skills"]
    assert rows[0]["after"]["dk2"] == 5 and rows[0]["after"]["skills"] == [
        "safety",
        "vneid_register",
    ]
    assert rows[0]["after"]["proficient"] is True

    # The corrected report is still there, and can be corrected again.
    await chat.send("/sua")
    assert "Nguyễn Văn An" in " ".join(labels(chat))


async def test_edit_reaches_the_commune_and_district_totals(app: App) -> None:
    clock = Clock()
    chat = await member(app, "m1", clock)
    district_before = await figures(app, "mo-duc")
    await quick(chat, "/bc Nguyễn Văn An; số 12; dvc; dk2=2")
    await chat.send("/sua")
    await chat.press("Nguyễn Văn An")
    await chat.press("Sửa việc đã hướng dẫn")
    await chat.press("Xong")
    await chat.press("0")
    await chat.press("Lưu thay đổi")
    district = await figures(app, "mo-duc")
    assert district["reports"] == 1
    assert district["households_visited"] == 1
    assert district["vneid_registered"] == district_before["vneid_registered"]


async def test_cancelling_an_edit_changes_nothing(app: App) -> None:
    clock = Clock()
    chat = await member(app, "m1", clock)
    visit_id = await quick(chat, "/bc Nguyễn Văn An; số 12; dvc; dk2=2")
    saved = await figures(app)
    await chat.send("/sua")
    await chat.press("Nguyễn Văn An")
    await chat.press("Sửa việc đã hướng dẫn")
    await chat.press("Dịch vụ công")
    await chat.send("/huy")
    assert "Đã huỷ" in chat.text
    assert await figures(app) == saved
    assert await trail(app, visit_id) == []


# --- /xoa --------------------------------------------------------------------------------
async def test_delete_asks_first_then_removes_and_audits(app: App) -> None:
    clock = Clock()
    chat = await member(app, "m1", clock)
    base = await figures(app)
    visit_id = await quick(chat, "/bc Nguyễn Văn An; số 12; dvc,tt; dk2=2 thanhthao=1")
    saved = await figures(app)

    await chat.send("/xoa")
    assert "Chọn báo cáo cần xoá" in chat.text
    await chat.press("Nguyễn Văn An")
    assert "Xoá báo cáo hộ <b>Nguyễn Văn An</b> ngày 03/10/2024?" in chat.text
    await chat.press("Giữ lại")
    assert "Đã huỷ" in chat.text
    assert await figures(app) == saved

    await chat.send("/xoa")
    await chat.press("Nguyễn Văn An")
    await chat.press("Xoá")
    assert "Đã xoá báo cáo hộ Nguyễn Văn An" in chat.text
    after = await figures(app)
    assert after["reports"] == 0
    assert after["households_visited"] == 0
    assert after["households_dvc_payment"] == 0
    assert after["proficient_households"] == 0
    assert after["vneid_registered"] == base["vneid_registered"]

    rows = await trail(app, visit_id)
    assert [row["action"] for row in rows] == ["delete"]
    assert rows[0]["before"]["dk2"] == 2 and rows[0]["before"]["proficient"] is True
    assert rows[0]["after"] is None
    assert rows[0]["person_id"] == (await person_of(app, chat)).id  # type: ignore[attr-defined]

    await chat.send("/xoa")
    assert "Không có báo cáo nào trong 48 giờ qua" in chat.text


async def test_edit_then_delete_leaves_both_audit_rows(app: App) -> None:
    clock = Clock()
    chat = await member(app, "m1", clock)
    visit_id = await quick(chat, "/bc Nguyễn Văn An; số 12; dvc; dk2=2")
    await chat.send("/sua")
    await chat.press("Nguyễn Văn An")
    await chat.press("thành thạo")
    await chat.press("Có")
    await chat.press("Lưu thay đổi")
    await chat.send("/xoa")
    await chat.press("Nguyễn Văn An")
    await chat.press("Xoá")
    rows = await trail(app, visit_id)
    assert [row["action"] for row in rows] == ["update", "delete"]
    assert rows[0]["before"]["proficient"] is False and rows[0]["after"]["proficient"] is True
    assert rows[1]["before"]["proficient"] is True and rows[1]["after"] is None
    assert (await figures(app))["proficient_households"] == 0


# --- the 48-hour window --------------------------------------------------------------------
async def test_after_48_hours_a_report_is_no_longer_offered(app: App) -> None:
    clock = Clock()
    chat = await member(app, "m1", clock)
    await quick(chat, "/bc Nguyễn Văn An; số 12; dvc")
    clock.advance(hours=48, minutes=1)
    for command in ("/sua", "/xoa"):
        await chat.send(command)
        assert "Không có báo cáo nào trong 48 giờ qua" in chat.text


async def test_picked_just_before_48_hours_refused_just_after(app: App) -> None:
    clock = Clock()
    chat = await member(app, "m1", clock)
    await quick(chat, "/bc Nguyễn Văn An; số 12; dvc")
    saved = await figures(app)
    clock.advance(hours=47, minutes=50)
    await chat.send("/xoa")
    await chat.press("Nguyễn Văn An")
    assert "Xoá báo cáo hộ" in chat.text
    clock.advance(minutes=15)
    await chat.press("Xoá")
    assert "chỉ sửa hoặc xoá được trong 48 giờ" in chat.text
    assert await figures(app) == saved

    clock.advance(minutes=1)
    await chat.send("/sua")
    assert "48 giờ" in chat.text


async def test_edit_picked_after_48_hours_is_refused(app: App) -> None:
    clock = Clock()
    chat = await member(app, "m1", clock)
    await quick(chat, "/bc Nguyễn Văn An; số 12; dvc")
    clock.advance(hours=47, minutes=55)
    await chat.send("/sua")
    clock.advance(minutes=10)
    await chat.press("Nguyễn Văn An")
    assert "chỉ sửa hoặc xoá được trong 48 giờ" in chat.text


async def test_undo_after_48_hours_is_refused(app: App) -> None:
    clock = Clock()
    chat = await member(app, "m1", clock)
    await quick(chat, "/bc Nguyễn Văn An; số 12; dvc")
    saved = await figures(app)
    clock.advance(hours=49)
    await chat.press("Hoàn tác")
    assert "chỉ sửa hoặc xoá được trong 48 giờ" in chat.text
    assert await figures(app) == saved


# --- whose reports ---------------------------------------------------------------------------
async def test_another_member_can_neither_see_nor_change_your_report(app: App) -> None:
    clock = Clock()
    first = await member(app, "m1", clock)
    second = await member(app, "m2", clock)
    theirs = await quick(first, "/bc Nguyễn Văn An; số 12; dvc; dk2=2")
    undo_theirs = first.find("Hoàn tác").data
    await quick(second, "/bc Trần Thị Bích; ; tt")
    saved = await figures(app)

    await second.send("/sua")
    assert "Trần Thị Bích" in " ".join(labels(second))
    assert "Nguyễn Văn An" not in " ".join(labels(second))
    # A forged pick of the other member's report, in the same open step: never offered.
    version = second.find("Trần Thị Bích").data.split(":")[0]
    await second.press_data(f"{version}:{theirs}")
    assert "Nút này đã cũ" in second.text and "Nguyễn Văn An" not in second.text

    await second.send("/xoa")
    version = second.find("Trần Thị Bích").data.split(":")[0]
    await second.press_data(f"{version}:{theirs}")
    assert "Nút này đã cũ" in second.text and "Nguyễn Văn An" not in second.text

    await second.press_data(undo_theirs)
    assert "Nút này đã cũ" in second.text and "Nguyễn Văn An" not in second.text
    assert await figures(app) == saved
    assert await trail(app, theirs) == []


async def test_the_village_leader_can_correct_a_members_report(app: App) -> None:
    clock = Clock()
    chat = await member(app, "m1", clock)
    visit_id = await quick(chat, "/bc Nguyễn Văn An; số 12; dvc; dk2=2")
    leader = await join(app, "leader", VILLAGE, "leader", clock=clock)
    await leader.press("Tổ trưởng")
    await leader.send("/sua")
    await leader.press("Nguyễn Văn An")
    await leader.press("thành thạo")
    await leader.press("Có")
    await leader.press("Lưu thay đổi")
    assert "Đã lưu thay đổi" in leader.text
    assert (await figures(app))["proficient_households"] == 1
    rows = await trail(app, visit_id)
    assert rows[0]["person_id"] == (await person_of(app, leader)).id  # type: ignore[attr-defined]

    await leader.send("/xoa")
    await leader.press("Nguyễn Văn An")
    await leader.press("Xoá")
    assert "Đã xoá" in leader.text
    assert (await figures(app))["reports"] == 0


async def test_a_leader_of_another_village_cannot(app: App) -> None:
    clock = Clock()
    chat = await member(app, "m1", clock)
    visit_id = await quick(chat, "/bc Nguyễn Văn An; số 12; dvc")
    other = await join(app, "leader", "duc-chanh-thon-2", "other-leader", clock=clock)
    await other.send("/sua")
    assert "Không có báo cáo nào" in other.text
    await quick(other, "/bc Lê Văn Cường; ; tt")
    await other.send("/xoa")
    version = other.find("Lê Văn Cường").data.split(":")[0]
    await other.press_data(f"{version}:{visit_id}")
    assert "Nút này đã cũ" in other.text and "Nguyễn Văn An" not in other.text
    assert (await figures(app))["reports"] == 1


# --- a household visited twice ---------------------------------------------------------------
async def test_a_household_visited_twice_counts_once_but_its_numbers_add_up(app: App) -> None:
    clock = Clock()
    first = await member(app, "m1", clock)
    second = await member(app, "m2", clock)
    base = await figures(app)
    one = await quick(first, "/bc Nguyễn Văn An; số 12; dvc; dk2=2")
    clock.advance(hours=1)
    two = await quick(second, "/bc nguyen van an; so 12; tt; dk2=1 kh=1 thanhthao=1")

    both = await figures(app)
    assert both["reports"] == 2
    assert both["households_visited"] == 1
    assert both["households_dvc_payment"] == 1
    assert both["proficient_households"] == 1
    assert both["vneid_registered"] == base["vneid_registered"] + 3
    assert both["vneid_activated"] == base["vneid_activated"] + 1

    # Deleting the first visit: the household is still visited, still guided in payment.
    await first.send("/xoa")
    await first.press("Nguyễn Văn An")
    await first.press("Xoá")
    left = await figures(app)
    assert left["reports"] == 1
    assert left["households_visited"] == 1
    assert left["households_dvc_payment"] == 1
    assert left["proficient_households"] == 1
    assert left["vneid_registered"] == base["vneid_registered"] + 1
    assert left["vneid_activated"] == base["vneid_activated"] + 1

    # Deleting the second too: nothing is left.
    await second.press("Hoàn tác")
    gone = await figures(app)
    for key in ("reports", "households_visited", "households_dvc_payment"):
        assert gone[key] == 0, key
    for key in ("proficient_households", "vneid_registered", "vneid_activated"):
        assert gone[key] == base[key], key
    assert len(await trail(app, one)) == 1 and len(await trail(app, two)) == 1


async def test_deleting_the_proficient_visit_of_two_drops_only_proficiency(app: App) -> None:
    clock = Clock()
    chat = await member(app, "m1", clock)
    await quick(chat, "/bc Nguyễn Văn An; số 12; dvc")
    await quick(chat, "/bc Nguyễn Văn An; số 12; atm; thanhthao=1")
    assert (await figures(app))["proficient_households"] == 1
    await chat.press("Hoàn tác")
    left = await figures(app)
    assert left["households_visited"] == 1
    assert left["households_dvc_payment"] == 1
    assert left["proficient_households"] == 0

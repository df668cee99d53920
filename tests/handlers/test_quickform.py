"""The one-message report (/bc): saved at once, every wrong part named, Undo."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from bot.app import App
from db.repos import audit
from db.schema import households, visits
from handlers.quickform import CODES, NUMBERS
from handlers.services import stats
from tests.auxil.chat import Chat, join

VILLAGE = "duc-chanh-thon-1"
EXAMPLE = "/bc Nguyễn Văn An; số 12 xóm Đông; dvc,mua,tt,atm,dp; dk2=2 kh=2 cqn=1 thanhthao=1"


async def figures(app: App, code: str = VILLAGE) -> dict[str, Any]:
    async with app.db.read() as conn:
        return await stats.for_unit(conn, app.services.plan, code)


async def rows(app: App, table: sa.Table) -> int:
    async with app.db.read() as conn:
        return (await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()


async def member(app: App, user: str = "m1") -> Chat:
    chat = await join(app, "member", VILLAGE, user)
    await chat.press("Công an viên")
    return chat


def visit_id_of_undo(chat: Chat) -> int:
    return int(chat.find("Hoàn tác").data.rsplit(":", 1)[1])


# --- saved at once -------------------------------------------------------------------------
async def test_the_issue_example_is_saved_at_once(app: App) -> None:
    chat = await member(app)
    before = await figures(app)
    await chat.send(EXAMPLE)
    assert "Đã lưu: hộ <b>Nguyễn Văn An</b> – số 12 xóm Đông, ngày 03/10/2024" in chat.text
    assert "Dịch vụ công" in chat.text and "Nền tảng số địa phương" in chat.text
    assert "ĐK mức 2: 2 · Kích hoạt: 2 · C-Quảng Ngãi: 1" in chat.text
    assert "Thành thạo 5 kỹ năng: có" in chat.text
    assert chat.find("Hoàn tác")
    after = await figures(app)
    assert after["reports"] == before["reports"] + 1 == 1
    assert after["households_visited"] == 1
    assert after["households_dvc_payment"] == 1
    assert after["proficient_households"] == 1
    assert after["vneid_registered"] == before["vneid_registered"] + 2
    assert after["vneid_activated"] == before["vneid_activated"] + 2
    assert after["cqngai_installed"] == before["cqngai_installed"] + 1
    # The commune and the district see it too.
    assert (await figures(app, "duc-chanh"))["households_visited"] == 1
    assert (await figures(app, "mo-duc"))["reports"] == 1


async def test_without_diacritics_in_another_order_with_spaces(app: App) -> None:
    chat = await member(app)
    before = await figures(app)
    await chat.send("/bc nguyen van an;so 12 xom dong; dk2 = 2 , tt,dvc; thanh thao=1")
    assert "Đã lưu" in chat.text
    assert "Dịch vụ công" in chat.text and "Thanh toán online" in chat.text
    assert "Thành thạo 5 kỹ năng: có" in chat.text
    after = await figures(app)
    assert after["reports"] == 1
    assert after["households_visited"] == 1
    assert after["households_dvc_payment"] == 1
    assert after["proficient_households"] == 1
    assert after["vneid_registered"] == before["vneid_registered"] + 2
    assert after["vneid_activated"] == before["vneid_activated"]


async def test_both_spellings_are_the_same_household(app: App) -> None:
    chat = await member(app)
    before = await figures(app)
    await chat.send(EXAMPLE)
    await chat.send("/bc nguyen van an;so 12 xom dong; dk2 = 2 , tt,dvc; thanh thao=1")
    assert "Đã lưu" in chat.text
    after = await figures(app)
    assert after["reports"] == 2
    assert after["households_visited"] == 1
    assert after["vneid_registered"] == before["vneid_registered"] + 4
    assert await rows(app, households) == 1


async def test_address_may_be_left_empty(app: App) -> None:
    chat = await member(app)
    await chat.send("/bc Lê Thị Hoa; ; dvc,tt")
    assert "Đã lưu: hộ <b>Lê Thị Hoa</b>, ngày" in chat.text
    assert (await figures(app))["households_dvc_payment"] == 1


async def test_a_namesake_elsewhere_is_a_new_household_and_the_reply_says_so(app: App) -> None:
    chat = await member(app)
    await chat.send("/bc Nguyễn Văn An; số 12 xóm Đông; dvc")
    await chat.send("/bc Nguyễn Văn An; số 40 xóm Tây; tt")
    assert "hộ cùng tên ở địa chỉ khác (số 12 xóm Đông)" in chat.text
    assert (await figures(app))["households_visited"] == 2


async def test_bc_alone_shows_how_to_write_it(app: App) -> None:
    chat = await member(app)
    await chat.send("/bc")
    assert "Báo cáo nhanh" in chat.text and "/bc Tên chủ hộ" in chat.text
    assert (await figures(app))["reports"] == 0


# --- wrong parts: named, nothing saved -----------------------------------------------------
WRONG = [
    pytest.param("/bc Nguyễn Văn An; số 12; dvc,xyz", "Mã “xyz” không đúng", id="unknown-code"),
    pytest.param("/bc Nguyễn Văn An; số 12; dvc; dk2=abc", "Số liệu “dk2=abc”", id="dk2-abc"),
    pytest.param(
        "/bc Nguyễn Văn An; số 12; dvc; dk2=31",
        "Số người đăng ký định danh mức 2 (dk2): tối đa 30 người",
        id="dk2-31",
    ),
    pytest.param(
        "/bc Nguyễn Văn An; số 12; dvc; thanhthao=2",
        "Thành thạo 5 kỹ năng (thanhthao): chỉ ghi 1",
        id="thanhthao-2",
    ),
    pytest.param(
        "/bc Nguyễn Văn An; số 12; dvc; nk=2 dk2=3",
        "Số người đăng ký định danh mức 2 (dk2) không thể lớn hơn số nhân khẩu của hộ (2)",
        id="dk2-above-size",
    ),
    pytest.param(
        "/bc Nguyễn Văn An; số 12; dvc; nk=0",
        "Số nhân khẩu (nk): xin gõ số từ 1 đến 30",
        id="nk-0",
    ),
    pytest.param("/bc Nguyễn Văn An", "cần ít nhất tên chủ hộ và mã việc", id="name-only"),
    pytest.param("/bc ; số 12; dvc", "cần ít nhất tên chủ hộ và mã việc", id="no-name"),
    pytest.param("/bc Nguyễn Văn An; số 12", "Chưa có mã việc đã hướng dẫn", id="no-codes"),
    pytest.param("/bc Nguyễn Văn An; số 12; ;", "Chưa có mã việc đã hướng dẫn", id="empty-codes"),
    pytest.param("/bc 12345; số 12; dvc", "Tên chủ hộ đang trống hoặc không có chữ", id="digits"),
    pytest.param("/bc Nguyễn\x07 Văn An; số 12; dvc", "Tên chủ hộ có ký tự lạ", id="control"),
    pytest.param("/bc Nguyễn Văn An; số\x00 12; dvc", "Địa chỉ có ký tự lạ", id="control-addr"),
    pytest.param("/bc " + "A" * 101 + "; số 12; dvc", "Tên chủ hộ dài quá 100", id="name-101"),
]


@pytest.mark.parametrize(("message", "named"), WRONG)
async def test_each_wrong_part_is_named_and_nothing_is_saved(
    app: App, message: str, named: str
) -> None:
    chat = await member(app)
    await chat.send(message)
    assert named in chat.text
    assert "Đã lưu" not in chat.text
    assert not [c for r in chat.screen for c in r.flat_choices() if "Hoàn tác" in c.label]
    result = await figures(app)
    assert result["reports"] == 0 and result["households_visited"] == 0
    assert await rows(app, visits) == 0
    assert await rows(app, households) == 0


async def test_a_100_character_name_with_diacritics_is_accepted(app: App) -> None:
    chat = await member(app)
    name = ("Nguyễn Thị Ánh " * 7)[:100]
    assert len(name) == 100
    await chat.send(f"/bc {name}; số 1; dvc")
    assert "Đã lưu" in chat.text
    assert (await figures(app))["reports"] == 1


async def test_a_superscript_digit_is_named_not_an_internal_error(app: App) -> None:
    chat = await member(app)
    await chat.send("/bc Nguyễn Văn An; số 12; dvc; dk2=²")
    assert "trục trặc" not in chat.text
    assert "dk2" in chat.text


# --- undo ----------------------------------------------------------------------------------
async def test_undo_removes_the_report_and_leaves_an_audit_row(app: App) -> None:
    chat = await member(app)
    before = await figures(app)
    await chat.send(EXAMPLE)
    visit_id = visit_id_of_undo(chat)
    await chat.press("Hoàn tác")
    assert "Đã hoàn tác báo cáo hộ Nguyễn Văn An" in chat.text
    after = await figures(app)
    for key in ("reports", "households_visited", "households_dvc_payment"):
        assert after[key] == 0, key
    for key in ("proficient_households", "vneid_registered", "vneid_activated"):
        assert after[key] == before[key], key
    assert after["cqngai_installed"] == before["cqngai_installed"]
    async with app.db.read() as conn:
        trail = await audit.for_entity(conn, "visit", visit_id)
    assert len(trail) == 1
    assert trail[0]["action"] == "delete"
    assert trail[0]["before"]["dk2"] == 2 and trail[0]["before"]["proficient"] is True
    assert trail[0]["after"] is None


async def test_undo_twice_is_harmless(app: App) -> None:
    chat = await member(app)
    await chat.send(EXAMPLE)
    undo = chat.find("Hoàn tác")
    visit_id = visit_id_of_undo(chat)
    await chat.press_data(undo.data)
    once = await figures(app)
    await chat.press_data(undo.data)
    assert "Không tìm thấy báo cáo này" in chat.text
    assert await figures(app) == once
    async with app.db.read() as conn:
        assert len(await audit.for_entity(conn, "visit", visit_id)) == 1


async def test_undo_only_removes_its_own_report(app: App) -> None:
    chat = await member(app)
    await chat.send("/bc Trần Văn Bình; ; dvc")
    await chat.send("/bc Lê Thị Hoa; ; tt")
    await chat.press("Hoàn tác")
    assert "Lê Thị Hoa" in chat.text
    result = await figures(app)
    assert result["reports"] == 1 and result["households_visited"] == 1


# --- who may use it, and its help ----------------------------------------------------------
async def test_a_resident_without_invite_cannot_report(app: App) -> None:
    resident = Chat(app, "resident")
    await resident.send(EXAMPLE)
    assert resident.text == app.services.texts.render("errors.not_registered")
    assert "Đã lưu" not in resident.text
    assert (await figures(app))["reports"] == 0
    assert await rows(app, households) == 0


async def test_a_resident_is_told_how_to_join(app: App) -> None:
    resident = Chat(app, "resident")
    await resident.send(EXAMPLE)
    assert "/dangky" in resident.text


async def test_an_officer_cannot_report(app: App) -> None:
    officer = await join(app, "commune_officer", "duc-chanh", "officer")
    await officer.send(EXAMPLE)
    assert "Đã lưu" not in officer.text
    assert (await figures(app, "duc-chanh"))["reports"] == 0


async def test_huongdan_documents_every_code_and_number(app: App) -> None:
    chat = await member(app)
    await chat.send("/huongdan")
    for code in (*CODES, *NUMBERS):
        assert f"\n{code} – " in chat.text, code
    assert "/bc Nguyễn Văn An; số 12 xóm Đông; dvc,mua,tt,atm,dp" in chat.text


async def test_every_documented_code_is_accepted(app: App) -> None:
    chat = await member(app)
    for index, code in enumerate(CODES):
        await chat.send(f"/bc Hộ Số {index}; ; {code}")
        assert "Đã lưu" in chat.text, code
    assert (await figures(app))["reports"] == len(CODES)

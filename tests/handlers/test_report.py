"""The guided household report, end to end through the real dispatcher and database."""

from __future__ import annotations

from bot.app import App
from handlers.services import stats
from tests.auxil.chat import Clock, join

VILLAGE = "duc-chanh-thon-1"


async def figures(app: App, code: str = VILLAGE) -> dict:
    async with app.db.read() as conn:
        return await stats.for_unit(conn, app.services.plan, code)


async def test_member_reports_a_household_in_eight_taps(app: App) -> None:
    member = await join(app, "member", VILLAGE, "m1")
    await member.press("Công an viên")
    before = await figures(app)
    taps = 0
    await member.send("/baocao")
    await member.send("Nguyễn Văn An")
    await member.send("số 12 xóm Đông")
    for label in ("Dịch vụ công", "Thanh toán online", "Đăng ký định danh mức 2", "Xong"):
        await member.press(label)
        taps += 1
    assert "Có mấy người" in member.text
    await member.press("2")
    taps += 1
    await member.press("Có")
    taps += 1
    assert "Kiểm tra báo cáo" in member.text and "Nguyễn Văn An" in member.text
    await member.press("Lưu")
    taps += 1
    assert taps <= 8
    assert "Đã lưu báo cáo hộ" in member.text
    after = await figures(app)
    assert after["reports"] == before["reports"] + 1
    assert after["households_visited"] == 1
    assert after["households_dvc_payment"] == 1
    assert after["proficient_households"] == 1
    assert after["vneid_registered"] == before["vneid_registered"] + 2


async def test_double_tapped_save_stores_one_report(app: App) -> None:
    member = await join(app, "member", VILLAGE, "m2")
    await member.send("/baocao")
    await member.send("Trần Thị Bích")
    await member.press("Bỏ qua")
    await member.press("An toàn trên mạng")
    await member.press("Xong")
    await member.press("Chưa")
    save = member.find("Lưu")
    await member.press_data(save.data)
    await member.press_data(save.data)
    # The first press saved and ended the report, so the second press is a stale button.
    assert member.text == app.services.texts.render("flow.stale")
    assert (await figures(app))["reports"] == 1


async def test_similar_household_is_offered_instead_of_a_duplicate(app: App) -> None:
    member = await join(app, "member", VILLAGE, "m3")
    await member.send("/bc Nguyễn Văn An; số 12; dvc")
    await member.send("/baocao")
    await member.send("nguyen   van AN")
    assert "tên giống vậy" in member.text
    await member.press("Nguyễn Văn An – số 12")
    await member.press("Mua sắm online")
    await member.press("Xong")
    await member.press("Chưa")
    await member.press("Lưu")
    result = await figures(app)
    assert result["reports"] == 2
    assert result["households_visited"] == 1


async def test_bad_count_is_explained_and_nothing_moves(app: App) -> None:
    member = await join(app, "member", VILLAGE, "m4")
    await member.send("/baocao")
    await member.send("Lê Văn Cường")
    await member.press("Bỏ qua")
    await member.press("C-Quảng Ngãi")
    await member.press("Xong")
    await member.send("31")
    assert "tối đa 30" in member.text
    await member.send("ba")
    assert "gõ một số" in member.text
    await member.send("3")
    assert "thành thạo" in member.text


async def test_restart_mid_report_resumes_where_the_member_was(app: App, database_url: str) -> None:
    from tests.conftest import settings_for

    clock = Clock()
    member = await join(app, "member", VILLAGE, "m5", clock=clock)
    await member.send("/baocao")
    await member.send("Phạm Văn Dũng")
    second = await App.open(settings_for(database_url), migrate=False)
    try:
        member.app = second
        await member.press("Bỏ qua")
        assert "đã hướng dẫn những gì" in member.text
    finally:
        await second.close()


async def test_idle_flow_expires_after_thirty_minutes(app: App) -> None:
    clock = Clock()
    member = await join(app, "member", VILLAGE, "m6", clock=clock)
    await member.send("/baocao")
    clock.advance(minutes=31)
    await member.send("Phạm Văn Dũng")
    assert "30 phút" in member.text
    assert (await figures(app))["reports"] == 0


async def test_an_idle_report_is_ended_by_the_sweep_with_a_message(app: App) -> None:
    from db.repos import outbox
    from handlers.services.expiry import expire_idle

    clock = Clock()
    member = await join(app, "member", VILLAGE, "m7", clock=clock)
    await member.send("/baocao")
    await member.send("Phạm Văn Dũng")
    stale_button = member.find("Bỏ qua").data
    clock.advance(minutes=20)
    async with app.db.transaction() as conn:
        assert await expire_idle(conn, app.services, clock.now) == 0
    clock.advance(minutes=11)
    async with app.db.transaction() as conn:
        assert await expire_idle(conn, app.services, clock.now) == 1
        assert await expire_idle(conn, app.services, clock.now) == 0
        rows = await outbox.claim(conn, "local", clock.now)
    assert [row.chat_id for row in rows] == ["m7"]
    assert "30 phút" in rows[0].payload["text"]
    # The old button no longer works, and no second "expired" message comes later.
    await member.press_data(stale_button)
    assert "Nút này đã cũ" in member.text
    assert "30 phút" not in member.text

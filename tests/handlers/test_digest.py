"""The leaders' digest (/thongke, digest_text), /xuat and the `export` / `summary` commands."""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from bench.fake_telegram import FakeTelegram
from bot.app import App
from bot.channels.telegram import TelegramChannel, build_application
from core.events import Reply
from db.repos import deliverables, people, units
from handlers.services import digest, exports, invites, stats
from tests.auxil.chat import Chat, Clock

ROOT = Path(__file__).resolve().parents[2]
VILLAGE, VILLAGE_2 = "duc-chanh-thon-1", "duc-chanh-thon-2"
COMMUNE, DISTRICT = "duc-chanh", "mo-duc"
OCT_2 = datetime(2024, 10, 2, 2, 0, tzinfo=UTC)  # 09:00 in Vietnam


async def person(
    app: App, role: str, unit: str, user: str, name: str, clock: Clock, position: str | None
) -> Chat:
    """Join with an invite under a chosen display name (and pick a team position)."""
    async with app.db.transaction() as conn:
        invite = await invites.create(
            conn,
            inviter=None,
            role=role,
            unit_code=unit,
            uses=1,
            expires_in=timedelta(days=30),
            now=clock.now,
        )
    chat = Chat(app, user, clock=clock, name=name)
    await chat.send(f"/start {invite.code}")
    if position:
        await chat.press(position)
    return chat


async def team(app: App, clock: Clock) -> dict[str, Chat]:
    """Village 1: An reports 1 household on 02/10 and 2 on 03/10; Bình never reports;
    the leader reports nothing. Village 2: Cường reports 3 households on 03/10."""
    an = await person(app, "member", VILLAGE, "an", "Nguyễn Văn An", clock, "Công an viên")
    binh = await person(app, "member", VILLAGE, "binh", "Trần Thị Bình", clock, "Giáo viên")
    cuong = await person(app, "member", VILLAGE_2, "cuong", "Lê Cường", clock, "Hội Nông dân")
    await an.send("/bc Hộ Một; xóm Đông; dvc,tt; dk2=2 kh=1 thanhthao=1")
    clock.advance(days=1)
    await an.send("/bc Hộ Hai; xóm Đông; dvc; dk2=1")
    await an.send("/bc Hộ Ba; xóm Tây; atm; cqn=2")
    for number in range(3):
        await cuong.send(f"/bc Nhà Số {number}; ; dvc,mua,tt,atm,dp; thanhthao=1")
    return {"an": an, "binh": binh, "cuong": cuong}


def lines_with(text: str, needle: str) -> list[str]:
    return [line for line in text.splitlines() if needle in line]


async def village_figures(app: App, code: str) -> dict[str, Any]:
    async with app.db.read() as conn:
        return await stats.for_unit(conn, app.services.plan, code)


# --- the digest by scope --------------------------------------------------------------------
async def test_village_leader_digest(app: App) -> None:
    clock = Clock(OCT_2)
    await team(app, clock)
    leader = await person(app, "leader", VILLAGE, "lead", "Phạm Tổ Trưởng", clock, "Tổ trưởng")
    replies = await leader.send("/thongke")
    text = leader.text
    assert "📈 Thôn 1 (tên mẫu)</b> – 03/10/2024" in text
    assert "Hộ đã được hướng dẫn: 3/" in text and "Báo cáo: 3" in text
    assert "Hôm nay: +2 hộ, 2 báo cáo · Hôm qua: +1 hộ, 1 báo cáo" in text
    # Each target: value, goal, bar, counts and the day's changes (dk2 today 1, yesterday 2).
    village = await village_figures(app, VILLAGE)
    registration = village["targets"]["vneid_registration"]["value"]
    assert "▓" in text and "░" in text
    assert (
        f"{village['vneid_registered']:,}".replace(",", ".")
        + f"/{village['eligible_citizens']:,}".replace(",", ".")
        + " · hôm nay +1, hôm qua +2"
    ) in text, text
    assert registration is not None
    # Members without a report today, by name; the one who reported is not listed.
    assert "Thành viên đã báo cáo hôm nay: 1/3" in text
    idle = text.split("Chưa báo cáo hôm nay:")[1].split("🏆")[0]
    assert "Trần Thị Bình" in idle and "Phạm Tổ Trưởng" in idle
    assert "Nguyễn Văn An" not in idle
    # The best villages of the commune, by share of households visited; where we stand.
    assert "Thôn, tổ dân phố dẫn đầu</b> – Xã Đức Chánh (tỷ lệ hộ đã được hướng dẫn)" in text
    # Thôn 1: 3 of its 423 households (0,7%); Thôn 2: 3 of 702 (0,4%).
    best = text.split("(tỷ lệ hộ đã được hướng dẫn):\n")[1].splitlines()[:3]
    assert best == [
        "1. Thôn 1 (tên mẫu): 0,7% (3/423 hộ)",
        "2. Thôn 2 (tên mẫu): 0,4% (3/702 hộ)",
        "Thôn 1 (tên mẫu) đang đứng thứ 1.",
    ]
    assert "Theo " not in text
    # The chart goes with it.
    assert replies[-1].photo is not None and replies[-1].photo.startswith(b"\x89PNG")


async def test_commune_digest_has_a_table_per_village(app: App) -> None:
    clock = Clock(OCT_2)
    await team(app, clock)
    officer = await person(app, "commune_officer", COMMUNE, "off", "Cán Bộ Xã", clock, None)
    await officer.send("/thongke")
    text = officer.text
    assert "📈 Xã Đức Chánh" in text
    assert "Hôm nay: +5 hộ, 5 báo cáo · Hôm qua: +1 hộ, 1 báo cáo" in text
    assert "Theo thôn, tổ dân phố" in text
    rows = lines_with(text, "hộ đã hướng dẫn")
    assert len(rows) == 4
    assert any(r.startswith("Thôn 1 (tên mẫu): hộ đã hướng dẫn 3/") for r in rows)
    assert any(r.startswith("Thôn 2 (tên mẫu): hộ đã hướng dẫn 3/") for r in rows)
    details = lines_with(text, "thành viên đã báo cáo")
    assert any("trong ngày +2 hộ · 1/2 thành viên đã báo cáo" in d for d in details), details
    assert any("trong ngày +3 hộ · 1/1 thành viên đã báo cáo" in d for d in details), details
    assert "Thành viên đã báo cáo hôm nay: 2/3" in text
    assert "· Trần Thị Bình (Thôn 1 (tên mẫu))" in text
    best = text.split("dẫn đầu")[1].splitlines()
    # Village 2 visited 3 of fewer households, or the same: whichever leads, both are listed.
    ranked = [line for line in best if line[:2] in ("1.", "2.", "3.")]
    assert len(ranked) == 2
    v1, v2 = await village_figures(app, VILLAGE), await village_figures(app, VILLAGE_2)
    first = "Thôn 1" if 3 / v1["households"] >= 3 / v2["households"] else "Thôn 2"
    assert ranked[0].startswith(f"1. {first}")


async def test_district_digest_counts_members_per_commune(app: App) -> None:
    clock = Clock(OCT_2)
    await team(app, clock)
    officer = await person(app, "district_officer", DISTRICT, "dis", "Cán Bộ Huyện", clock, None)
    await officer.send("/thongke")
    text = officer.text
    assert "📈 Huyện Mộ Đức" in text and "Theo xã" in text
    assert len(lines_with(text, "hộ đã hướng dẫn")) == 13
    assert any(
        "2/3 thành viên đã báo cáo" in line
        for line in lines_with(text, "Đức Chánh") + lines_with(text, "trong ngày")
    )
    assert "Chưa báo cáo hôm nay: 1 người" in text
    assert "Trần Thị Bình" not in text  # counted, not named, at district level


async def test_digest_text_is_what_thongke_shows(app: App) -> None:
    clock = Clock(OCT_2)
    await team(app, clock)
    leader = await person(app, "leader", VILLAGE, "lead", "Phạm Tổ Trưởng", clock, "Tổ trưởng")
    await leader.send("/thongke")
    async with app.db.read() as conn:
        me = await people.by_account(conn, "local", "lead")
        assert me is not None
        reply = await digest.digest_text(conn, app.services, me, date(2024, 10, 3))
        chart = await digest.digest_chart(conn, app.services, me, date(2024, 10, 3))
    assert isinstance(reply, Reply) and reply.text == leader.text
    assert chart.startswith(b"\x89PNG")


async def test_thongke_for_another_day(app: App) -> None:
    clock = Clock(OCT_2)
    await team(app, clock)
    leader = await person(app, "leader", VILLAGE, "lead", "Phạm Tổ Trưởng", clock, "Tổ trưởng")
    await leader.send("/thongke 02/10")
    assert "– 02/10/2024" in leader.text
    assert "Ngày 02/10/2024: +1 hộ, 1 báo cáo · Ngày trước đó: 0 hộ, 0 báo cáo" in leader.text
    assert "Thành viên đã báo cáo ngày 02/10/2024: 1/3" in leader.text
    await leader.send("/thongke 31/02")
    assert "Ngày “31/02” chưa đúng" in leader.text


async def test_names_that_look_like_phone_numbers_are_masked(app: App) -> None:
    clock = Clock(OCT_2)
    await person(app, "member", VILLAGE, "p", "Hòa 0905 123 456", clock, "Giáo viên")
    leader = await person(app, "leader", VILLAGE, "lead", "Tổ Trưởng", clock, "Tổ trưởng")
    await leader.send("/thongke")
    assert "0905" not in leader.text and "Hòa ***" in leader.text


# --- XLSX -------------------------------------------------------------------------------------
async def run_bot(database_url: str, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    env.pop("TELEGRAM_TOKEN", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode("utf-8"), err.decode("utf-8")


async def stats_json(database_url: str, code: str) -> dict[str, Any]:
    status, out, err = await run_bot(database_url, "stats", "--unit", code, "--json")
    assert status == 0, err
    return dict(json.loads(out))


def sheet_rows(book: Any, title: str) -> list[dict[str, Any]]:
    rows = list(book[title].iter_rows(values_only=True))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def assert_row_matches(app: App, row: dict[str, Any], shown: dict[str, Any]) -> None:
    texts, plan = app.services.texts, app.services.plan
    labels = exports.level_labels(texts, plan)
    keys = list(exports.FIGURE_COLUMNS)
    assert row[labels[0]] == shown["unit"] and row[labels[1]] == shown["name"]
    for index, key in enumerate(keys[3:], start=3):
        assert row[labels[index]] == shown[key], key
    for number, target in enumerate(plan.targets):
        value_label = labels[len(keys) + 2 * number]
        goal_label = labels[len(keys) + 2 * number + 1]
        assert row[value_label] == shown["targets"][target.key]["value"], target.key
        assert row[goal_label] == shown["targets"][target.key]["goal"]


async def test_commune_export_matches_stats_json_and_has_no_names(
    app: App, database_url: str
) -> None:
    clock = Clock(OCT_2)
    await team(app, clock)
    officer = await person(app, "commune_officer", COMMUNE, "off", "Cán Bộ Xã", clock, None)
    replies = await officer.send("/xuat")
    assert replies[-1].document is not None
    name, content = replies[-1].document
    assert name.endswith(".xlsx") and "không có tên chủ hộ" in replies[-1].text
    book = openpyxl.load_workbook(io.BytesIO(content))
    assert book.sheetnames == ["Thông tin", "Xã", "Thôn, TDP", "Thành viên", "Hộ đã hướng dẫn"]

    (commune_row,) = sheet_rows(book, "Xã")
    assert_row_matches(app, commune_row, await stats_json(database_url, COMMUNE))
    villages = sheet_rows(book, "Thôn, TDP")
    assert len(villages) == 4
    by_code = {row["Mã"]: row for row in villages}
    assert_row_matches(app, by_code[VILLAGE], await stats_json(database_url, VILLAGE))
    for code, row in by_code.items():
        assert_row_matches(app, row, await village_figures(app, code))

    members = sheet_rows(book, "Thành viên")
    assert {(m["Thành viên"], m["Số báo cáo"]) for m in members} == {
        ("Nguyễn Văn An", 3),
        ("Trần Thị Bình", 0),
        ("Lê Cường", 3),
    }
    households = sheet_rows(book, "Hộ đã hướng dẫn")
    assert len(households) == 6
    assert "Tên chủ hộ" not in households[0] and "Địa chỉ" not in households[0]
    every_cell = " ".join(
        str(value) for sheet in book for row in sheet.iter_rows(values_only=True) for value in row
    )
    for head in ("Hộ Một", "Hộ Hai", "Hộ Ba", "Nhà Số", "xóm Đông"):
        assert head not in every_cell


async def test_village_leader_export_has_names_of_the_village(app: App) -> None:
    clock = Clock(OCT_2)
    await team(app, clock)
    leader = await person(app, "leader", VILLAGE, "lead", "Phạm Tổ Trưởng", clock, "Tổ trưởng")
    replies = await leader.send("/xuat")
    assert replies[-1].document is not None
    book = openpyxl.load_workbook(io.BytesIO(replies[-1].document[1]))
    households = sheet_rows(book, "Hộ đã hướng dẫn")
    assert sorted(h["Tên chủ hộ"] for h in households) == ["Hộ Ba", "Hộ Hai", "Hộ Một"]
    one = next(h for h in households if h["Tên chủ hộ"] == "Hộ Một")
    assert one["Địa chỉ"] == "xóm Đông" and one["DVC, thanh toán"] == "Có"
    assert one["Thành thạo 5 kỹ năng"] == "Có" and one["Đăng ký ĐDĐT mức 2"] == 2
    assert one["Lần hướng dẫn gần nhất"].date() == date(2024, 10, 2)


async def test_members_cannot_export(app: App) -> None:
    clock = Clock(OCT_2)
    member = await person(app, "member", VILLAGE, "m", "Thành Viên", clock, "Giáo viên")
    replies = await member.send("/xuat")
    assert all(reply.document is None for reply in replies)
    assert "không dành cho vai trò của bạn" in member.text


async def test_cli_export_and_summary(app: App, database_url: str, tmp_path: Path) -> None:
    clock = Clock(OCT_2)
    await team(app, clock)
    await person(app, "leader", VILLAGE, "lead", "Phạm Tổ Trưởng", clock, "Tổ trưởng")
    out = tmp_path / "district.xlsx"
    status, _out, err = await run_bot(database_url, "export", "--out", str(out))
    assert status == 0, err
    book = openpyxl.load_workbook(out)
    assert book.sheetnames[1:4] == ["Huyện", "Xã", "Thôn, TDP"]
    (district_row,) = sheet_rows(book, "Huyện")
    assert_row_matches(app, district_row, await stats_json(database_url, DISTRICT))
    assert len(sheet_rows(book, "Xã")) == 13
    assert "Hộ Một" not in {str(h.get("Tên chủ hộ")) for h in sheet_rows(book, "Hộ đã hướng dẫn")}

    named = tmp_path / "village.xlsx"
    status, _out, err = await run_bot(
        database_url, "export", "--unit", VILLAGE, "--with-names", "--out", str(named)
    )
    assert status == 0, err
    names = {h["Tên chủ hộ"] for h in sheet_rows(openpyxl.load_workbook(named), "Hộ đã hướng dẫn")}
    assert names == {"Hộ Một", "Hộ Hai", "Hộ Ba"}

    async with app.db.transaction() as conn:
        await deliverables.record(
            conn,
            deadline_key="team-consolidation",
            unit_code=COMMUNE,
            kind="roster",
            done_by=None,
            payload={"roster": []},
            now=datetime(2024, 9, 18, 3, 0, tzinfo=UTC),
        )
    report = tmp_path / "tong-ket"
    status, printed, err = await run_bot(database_url, "summary", "--out", str(report))
    assert status == 0, err
    text = report.with_suffix(".md").read_text(encoding="utf-8")
    async with app.db.read() as conn:
        communes = await units.subtree(conn, (await units.get(conn, DISTRICT)), "commune")  # type: ignore[arg-type]
    assert len(communes) == 13
    for commune in communes:
        assert f"## {commune.name}" in text and f"| {commune.name} |" in text
    chanh = text.split("## Xã Đức Chánh")[1].split("## ")[0]
    # Village 1 has a leader and members: consolidated; village 2 has no leader.
    assert "Tổ đã kiện toàn (có Tổ trưởng và thành viên): 1/4" in chanh
    assert "Thành viên: 4 (Tổ trưởng: 1; Công an viên: 1; Giáo viên: 1; Hội Nông dân: 1)" in chanh
    assert "Hộ đã được hướng dẫn: 6/" in chanh
    assert "chỉ tiêu 85,0%" in chanh
    assert (
        "- Kiện toàn Tổ công nghệ số cộng đồng thôn, tổ dân phố và báo cáo về huyện: 18/09/2024"
        in chanh
    )
    assert "- Gửi kế hoạch và lịch ra quân hướng dẫn về UBND huyện: chưa nộp" in chanh
    assert "chưa nộp" in text.split("## Xã Đức Lợi")[1]
    summary_book = openpyxl.load_workbook(report.with_suffix(".xlsx"))
    rows = sheet_rows(summary_book, "Tổng kết theo xã")
    assert len(rows) == 13
    chanh_row = next(r for r in rows if r["Tên"] == "Xã Đức Chánh")
    assert chanh_row["Tổ đã kiện toàn"] == 1 and chanh_row["Hộ đã được hướng dẫn"] == 6
    roster_column = next(key for key in chanh_row if str(key).startswith("Ngày nộp: Kiện toàn"))
    assert chanh_row[roster_column].date() == date(2024, 9, 18)


# --- Telegram sends the chart and the file --------------------------------------------------
async def test_telegram_sends_the_chart_and_the_export(app: App) -> None:
    async with FakeTelegram() as tg:
        channel = TelegramChannel(
            build_application(tg.token, base_url=tg.base_url, rate_limit=0),
            app.dispatcher.handle,
        )
        await channel.open()
        stop = asyncio.Event()
        task = asyncio.create_task(channel.poll(stop, poll_timeout=1))
        try:
            async with app.db.transaction() as conn:
                invite = await invites.create(
                    conn,
                    inviter=None,
                    role="commune_officer",
                    unit_code=COMMUNE,
                    uses=1,
                    expires_in=timedelta(days=7),
                    now=datetime.now(UTC),
                )
            await tg.say_and_wait(7001, f"/start {invite.code}", replies=2)
            sent = await tg.say_and_wait(7001, "/thongke", replies=2)
            assert "📈 Xã Đức Chánh" in sent[0]
            assert [s.method for s in tg.sent if s.chat_id == 7001][-1] == "sendPhoto"
            await tg.say_and_wait(7001, "/xuat", replies=2)
            assert [s.method for s in tg.sent if s.chat_id == 7001][-1] == "sendDocument"
        finally:
            stop.set()
            await asyncio.wait_for(task, 5)
            await channel.close()


@pytest.mark.parametrize("kind", ["village", "commune"])
async def test_only_the_village_leader_sees_names(app: App, kind: str) -> None:
    async with app.db.read() as conn:
        unit = await units.get(conn, VILLAGE if kind == "village" else COMMUNE)
    assert unit is not None
    from db.models import Person

    leader = Person(1, "leader", VILLAGE, None, None)
    officer = Person(2, "commune_officer", COMMUNE, None, None)
    assert exports.may_see_names(leader, unit) is (kind == "village")
    assert exports.may_see_names(officer, unit) is False

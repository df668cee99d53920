"""/cuatoi (a member's own tally), /thongke (an area against the plan's targets), stats --json."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import re
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from db.repos import units
from handlers.services import stats
from tests.auxil.chat import Chat, Clock, join

ROOT = Path(__file__).resolve().parents[2]
UNITS_CSV = ROOT / "content" / "units" / "mo-duc-2024.csv"
VILLAGE = "duc-chanh-thon-1"
COMMUNE = "duc-chanh"
DISTRICT = "mo-duc"
EXAMPLE = "/bc Nguyễn Văn An; số 12 xóm Đông; dvc,mua,tt,atm,dp; dk2=2 kh=2 cqn=1 thanhthao=1"
TARGET_LABELS = (
    "Đăng ký định danh điện tử mức 2",
    "Kích hoạt tài khoản định danh mức 2",
    "Hộ được hướng dẫn dịch vụ công, thanh toán trực tuyến",
    "Cài ứng dụng C-Quảng Ngãi (độ tuổi lao động)",
    "Hộ có người thành thạo 5 kỹ năng số",
)


async def figures(app: App, code: str = VILLAGE) -> dict[str, Any]:
    async with app.db.read() as conn:
        return await stats.for_unit(conn, app.services.plan, code)


def pct(value: float | None) -> str:
    """As a person reads it in the chat: 63,5%."""
    return "—" if value is None else f"{value * 100:.1f}".replace(".", ",") + "%"


def num(value: int) -> str:
    return f"{value:,}".replace(",", ".")


async def member(app: App, user: str, clock: Clock, unit: str = VILLAGE) -> Chat:
    chat = await join(app, "member", unit, user, clock=clock)
    await chat.press("Công an viên")
    return chat


# --- /cuatoi -------------------------------------------------------------------------------
def tally_lines(text: str) -> tuple[str, str]:
    lines = text.splitlines()
    today = next(i for i, line in enumerate(lines) if line.startswith("Hôm nay"))
    campaign = next(i for i, line in enumerate(lines) if line.startswith("Cả đợt"))
    return (
        " ".join(lines[today : today + 2]),
        " ".join(lines[campaign : campaign + 2]),
    )


async def test_my_tally_shows_today_and_the_campaign(app: App) -> None:
    clock = Clock(datetime(2024, 10, 2, 2, 0, tzinfo=UTC))
    chat = await member(app, "m1", clock)
    await chat.send("/bc Nguyễn Văn An; ; dvc; dk2=1")
    await chat.send("/bc Trần Thị Bích; ; tt; dk2=2 thanhthao=1")
    clock.advance(days=1)
    await chat.send("/bc Lê Văn Cường; ; atm; dk2=3 kh=1 cqn=1")
    await chat.send("/bc Trần Thị Bích; ; mua")
    # Someone else's work is not mine.
    other = await member(app, "m2", clock)
    await other.send("/bc Phạm Văn Dũng; ; dvc; dk2=9")

    await chat.send("/cuatoi")
    today, campaign = tally_lines(chat.text)
    assert "Hôm nay (03/10/2024): 2 báo cáo, 2 hộ" in today
    assert "ĐK định danh mức 2: 3 · Kích hoạt: 1 · C-Quảng Ngãi: 1 · Hộ thành thạo: 0" in today
    assert "Cả đợt (từ 01/10/2024): 4 báo cáo, 3 hộ" in campaign
    assert "ĐK định danh mức 2: 6 · Kích hoạt: 1 · C-Quảng Ngãi: 1 · Hộ thành thạo: 1" in campaign


async def test_an_undone_report_leaves_my_tally(app: App) -> None:
    clock = Clock()
    chat = await member(app, "m1", clock)
    await chat.send("/bc Nguyễn Văn An; ; dvc; dk2=1")
    await chat.send("/bc Trần Thị Bích; ; tt; dk2=2")
    await chat.press("Hoàn tác")
    await chat.send("/cuatoi")
    today, campaign = tally_lines(chat.text)
    assert "1 báo cáo, 1 hộ" in today and "ĐK định danh mức 2: 1 " in today
    assert "1 báo cáo, 1 hộ" in campaign


async def test_a_new_member_has_an_empty_tally(app: App) -> None:
    chat = await member(app, "m1", Clock())
    await chat.send("/cuatoi")
    today, campaign = tally_lines(chat.text)
    assert "0 báo cáo, 0 hộ" in today and "0 báo cáo, 0 hộ" in campaign


async def test_before_the_campaign_the_period_shown_holds_what_is_counted(app: App) -> None:
    clock = Clock(datetime(2024, 9, 15, 2, 0, tzinfo=UTC))
    chat = await member(app, "m1", clock)
    await chat.send("/bc Nguyễn Văn An; ; dvc")
    clock.advance(days=5)
    await chat.send("/bc Trần Thị Bích; ; tt")
    await chat.send("/cuatoi")
    _, campaign = tally_lines(chat.text)
    match = re.search(r"từ (\d\d)/(\d\d)/(\d{4})\): (\d+) báo cáo", campaign)
    assert match, campaign
    since = date(int(match[3]), int(match[2]), int(match[1]))
    assert int(match[4]) == 2
    assert since <= date(2024, 9, 15), campaign


async def test_officers_have_no_tally(app: App) -> None:
    officer = await join(app, "commune_officer", COMMUNE, "officer")
    await officer.send("/cuatoi")
    assert "không dành cho vai trò của bạn" in officer.text


# --- /thongke ------------------------------------------------------------------------------
def assert_targets_shown(text: str, shown: dict[str, Any]) -> None:
    for target, label in zip(shown["targets"].values(), TARGET_LABELS, strict=True):
        assert f"{label}: {pct(target['value'])} (chỉ tiêu {pct(target['goal'])})" in text


async def test_leader_sees_the_village_against_the_five_targets(app: App) -> None:
    clock = Clock()
    reporter = await member(app, "m1", clock)
    await reporter.send(EXAMPLE)
    leader = await join(app, "leader", VILLAGE, "leader", clock=clock)
    await leader.send("/thongke")
    village = await figures(app)
    assert "📈 Thôn 1 (tên mẫu)" in leader.text
    assert "Ra quân hướng dẫn kỹ năng số cơ bản" in leader.text
    assert f"Hộ đã được hướng dẫn: 1/{num(village['households'])} · Báo cáo: 1" in leader.text
    assert_targets_shown(leader.text, village)
    # Baselines count in: registrations are the sample's baseline plus the 2 reported.
    registered = village["vneid_registered"]
    assert f"{num(registered)}/{num(village['eligible_citizens'])}" in leader.text
    assert "▓" in leader.text
    assert "Theo " not in leader.text


async def test_member_sees_their_village_too(app: App) -> None:
    chat = await member(app, "m1", Clock())
    await chat.send("/thongke")
    assert "📈 Thôn 1 (tên mẫu)" in chat.text


async def test_commune_officer_sees_a_line_per_village(app: App) -> None:
    clock = Clock()
    reporter = await member(app, "m1", clock)
    await reporter.send(EXAMPLE)
    officer = await join(app, "commune_officer", COMMUNE, "officer", clock=clock)
    await officer.send("/thongke")
    commune = await figures(app, COMMUNE)
    assert "📈 Xã Đức Chánh" in officer.text
    assert f"Hộ đã được hướng dẫn: 1/{num(commune['households'])}" in officer.text
    assert_targets_shown(officer.text, commune)
    assert "Theo thôn, tổ dân phố" in officer.text
    async with app.db.read() as conn:
        villages = await units.children(conn, COMMUNE)
    lines = [line for line in officer.text.splitlines() if "hộ đã hướng dẫn" in line]
    assert len(lines) == len(villages) == 4
    first = await figures(app, VILLAGE)
    assert (
        f"Thôn 1 (tên mẫu): hộ đã hướng dẫn 1/{num(first['households'])} · 5 kỹ năng "
        f"{pct(first['targets']['five_skills']['value'])}" in lines
    )


async def test_district_officer_sees_a_line_per_commune(app: App) -> None:
    clock = Clock()
    reporter = await member(app, "m1", clock)
    await reporter.send(EXAMPLE)
    officer = await join(app, "district_officer", DISTRICT, "district", clock=clock)
    await officer.send("/thongke")
    assert "📈 Huyện Mộ Đức" in officer.text
    assert "Hộ đã được hướng dẫn: 1/36.000 · Báo cáo: 1" in officer.text
    assert "Theo xã" in officer.text
    lines = [line for line in officer.text.splitlines() if "hộ đã hướng dẫn" in line]
    assert len(lines) == 13
    assert any(line.startswith("Xã Đức Chánh: hộ đã hướng dẫn 1/") for line in lines)
    assert any(line.startswith("Xã Đức Lợi: hộ đã hướng dẫn 0/") for line in lines)


async def test_an_officer_may_look_inside_their_area(app: App) -> None:
    officer = await join(app, "commune_officer", COMMUNE, "officer")
    await officer.send("/thongke duc-chanh-thon-2")
    assert "📈 Thôn 2 (tên mẫu)" in officer.text


@pytest.mark.parametrize(
    ("role", "unit", "asked"),
    [
        ("commune_officer", COMMUNE, "duc-loi"),
        ("commune_officer", COMMUNE, "duc-loi-thon-1"),
        ("commune_officer", COMMUNE, DISTRICT),
        ("leader", VILLAGE, COMMUNE),
        ("leader", VILLAGE, "duc-chanh-thon-2"),
        ("member", VILLAGE, "duc-chanh-thon-2"),
    ],
)
async def test_stats_outside_ones_area_are_refused(
    app: App, role: str, unit: str, asked: str
) -> None:
    chat = await join(app, role, unit, "asker")
    await chat.send(f"/thongke {asked}")
    assert "chỉ xem được thống kê địa bàn mình phụ trách" in chat.text
    assert "📈" not in chat.text


async def test_stats_for_an_unknown_code(app: App) -> None:
    officer = await join(app, "district_officer", DISTRICT, "district")
    await officer.send("/thongke khong-co")
    assert "Không tìm thấy địa bàn có mã “khong-co”" in officer.text


async def test_residents_get_no_stats(app: App) -> None:
    resident = Chat(app, "resident")
    await resident.send("/thongke")
    assert "📈" not in resident.text


# --- python -m bot stats --json -------------------------------------------------------------
def csv_totals() -> dict[str, int]:
    with UNITS_CSV.open(encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row["kind"] == "village"]
    return {
        key: sum(int(row[key]) for row in rows)
        for key in (
            "households",
            "eligible_citizens",
            "working_age",
            "vneid_registered_baseline",
            "vneid_activated_baseline",
            "cqngai_baseline",
        )
    }


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


CONTRACT = {
    "unit",
    "name",
    "households",
    "eligible_citizens",
    "working_age",
    "reports",
    "households_visited",
    "households_dvc_payment",
    "proficient_households",
    "vneid_registered",
    "vneid_activated",
    "cqngai_installed",
    "targets",
    # Since issue 11: the unit's kind, type, official code, validity and reorganisation links.
    "kind",
    "type",
    "admin_code",
    "valid_from",
    "valid_to",
    "successor",
    "predecessors",
}


async def test_stats_json_contract(app: App, database_url: str) -> None:
    clock = Clock()
    reporter = await member(app, "m1", clock)
    await reporter.send(EXAMPLE)

    code, out, err = await run_bot(database_url, "stats", "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert set(shown) == CONTRACT
    plan = app.services.plan
    assert set(shown["targets"]) == {t.key for t in plan.targets}
    totals = csv_totals()
    assert shown["unit"] == DISTRICT and shown["name"] == "Huyện Mộ Đức"
    assert shown["households"] == totals["households"] == 36000
    assert shown["eligible_citizens"] == totals["eligible_citizens"]
    assert shown["working_age"] == totals["working_age"]
    assert shown["reports"] == 1 and shown["households_visited"] == 1
    assert shown["households_dvc_payment"] == 1 and shown["proficient_households"] == 1
    # Baselines from the units file count in, plus what was reported.
    assert shown["vneid_registered"] == totals["vneid_registered_baseline"] + 2
    assert shown["vneid_activated"] == totals["vneid_activated_baseline"] + 2
    assert shown["cqngai_installed"] == totals["cqngai_baseline"] + 1
    for target in plan.targets:
        entry = shown["targets"][target.key]
        assert set(entry) == {"value", "goal"}
        assert entry["goal"] == target.goal
        assert 0 <= entry["value"] <= 1, (target.key, entry)
        expected = shown[target.numerator] / shown[target.denominator]
        assert entry["value"] == pytest.approx(expected, abs=1e-4)
    assert shown["targets"]["vneid_registration"]["value"] == pytest.approx(
        (totals["vneid_registered_baseline"] + 2) / totals["eligible_citizens"], abs=1e-4
    )
    assert shown["targets"]["vneid_registration"]["value"] > 0.5
    # The chat and the CLI agree.
    assert shown == json.loads(json.dumps(await figures(app, DISTRICT)))


async def test_stats_json_for_one_village(app: App, database_url: str) -> None:
    code, out, err = await run_bot(database_url, "stats", "--unit", VILLAGE, "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["unit"] == VILLAGE and shown["reports"] == 0
    assert shown["households"] == (await figures(app))["households"]


async def test_stats_for_an_unknown_unit_exits_with_a_message(app: App, database_url: str) -> None:
    code, out, err = await run_bot(database_url, "stats", "--unit", "khong-co", "--json")
    assert code != 0
    assert "Không tìm thấy địa bàn" in err
    assert "Traceback" not in err

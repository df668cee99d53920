"""Issue 11's "Done when": a two-tier province on a fresh database, officers and members who
report, two communes merged by `units reorganize`, history kept on both sides of the merge."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot.app import App
from core.errors import UnitRetired
from db.repos import people, units
from db.schema import audit_log, metadata, outbox
from handlers.services import invites, stats, unitsfile
from tests.auxil.chat import Chat, Clock, join
from tests.auxil.cli import run_cli, run_json
from tests.conftest import settings_for

ROOT = Path(__file__).resolve().parents[2]
PROVINCE_CSV = ROOT / "content" / "units" / "quang-ngai-2025.csv"
PLAN_2026 = ROOT / "content" / "plans" / "quang-ngai-2026.yaml"
HEADER = (
    "code,name,kind,parent,households,eligible_citizens,working_age,"
    "vneid_registered_baseline,vneid_activated_baseline,cqngai_baseline,type,admin_code,"
    "valid_from,valid_to"
)
# Villages entered for two of the 96 communes (no public list exists: communes supply them).
VILLAGES = "\n".join(
    [
        HEADER,
        "xa-tinh-khe-thon-a,Thôn A,village,xa-tinh-khe,400,1000,800,500,400,80,thôn,,,",
        "xa-tinh-khe-thon-b,Thôn B,village,xa-tinh-khe,300,750,600,300,200,50,thôn,,,",
        "xa-an-phu-tdp-1,Tổ dân phố 1,village,xa-an-phu,500,1300,1000,700,500,100,tổ dân phố,,,",
    ]
)
# A merger that is made up for the test: Tịnh Khê + An Phú → "Xã Tịnh An" from 1/4/2026.
MERGED = "\n".join([HEADER, "xa-tinh-an,Xã Tịnh An,commune,quang-ngai,,,,,,,xã,21211,2026-04-01,"])
MAPPING = "old_code,new_code\nxa-tinh-khe,xa-tinh-an\nxa-an-phu,xa-tinh-an\n"
REPORT = "/bc {name}; số 1; dvc,tt; dk2=1 kh=1 cqn=1 thanhthao=1"


@pytest.fixture
async def province(database_url: str) -> AsyncIterator[App]:
    """A fresh (emptied) database with the two-tier file and no district, on the 2026 plan."""
    instance = await App.open(settings_for(database_url, plan_file=PLAN_2026), migrate=False)
    async with instance.db.transaction() as conn:
        for table in reversed(metadata.sorted_tables):
            await conn.execute(table.delete())
        await unitsfile.import_csv(conn, PROVINCE_CSV.read_text(encoding="utf-8"))
        await unitsfile.import_csv(conn, VILLAGES)
    yield instance
    await instance.close()


async def figures(app: App, code: str) -> dict[str, Any]:
    async with app.db.read() as conn:
        return await stats.for_unit(conn, app.services.plan, code)


async def member(app: App, village: str, user: str, clock: Clock) -> Chat:
    chat = await join(app, "member", village, user, clock=clock)
    await chat.press("Công an viên")
    return chat


async def notices_to(app: App, chat: Chat) -> list[str]:
    async with app.db.read() as conn:
        rows = await conn.execute(sa.select(outbox.c.payload).where(outbox.c.chat_id == chat.user))
        return [row.payload["text"] for row in rows]


def test_the_shipped_province_file_has_the_96_units_and_no_district() -> None:
    rows = unitsfile.parse(PROVINCE_CSV.read_text(encoding="utf-8"))
    kinds = [row["kind"] for row in rows]
    assert kinds.count("province") == 1 and kinds.count("commune") == 96
    assert "district" not in kinds
    types = [row["type_label"] for row in rows if row["kind"] == "commune"]
    assert (types.count("xã"), types.count("phường"), types.count("đặc khu")) == (86, 9, 1)
    by_code = {row["code"]: row for row in rows}
    # Codes are ours: xã Mộ Đức reuses the 2024 town's admin code, never the 2024 district's code.
    assert by_code["xa-mo-duc"]["admin_code"] == "21400"
    assert "mo-duc" not in by_code
    assert all(row["households"] is None for row in rows)  # unknown: left empty


async def test_two_tiers_from_registration_to_a_merger(
    province: App, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    app = province
    clock = Clock(datetime(2026, 3, 10, 2, 0, tzinfo=UTC))
    officer = await join(app, "province_officer", "quang-ngai", "p1", clock=clock)
    assert "Tỉnh Quảng Ngãi" in officer.text
    khe = await join(app, "commune_officer", "xa-tinh-khe", "c1", clock=clock)
    phu = await join(app, "commune_officer", "xa-an-phu", "c2", clock=clock)
    a = await member(app, "xa-tinh-khe-thon-a", "m1", clock)
    b = await member(app, "xa-an-phu-tdp-1", "m2", clock)
    await a.send(REPORT.format(name="Nguyễn Văn An"))
    await a.send(REPORT.format(name="Trần Thị Bình"))
    await b.send(REPORT.format(name="Lê Văn Cường"))
    assert "Đã lưu" in b.text

    assert (await figures(app, "xa-tinh-khe"))["reports"] == 2
    assert (await figures(app, "xa-an-phu"))["reports"] == 1
    before = await figures(app, "quang-ngai")
    assert before["reports"] == 3 and before["households"] == 1200
    await officer.send("/thongke")
    assert "Tỉnh Quảng Ngãi" in officer.text
    await khe.send("/thongke")
    assert "Xã Tịnh Khê" in khe.text

    # The new commune is imported, then the mapping applied (a dry run first changes nothing).
    await run_cli(app, capsys, "units", "import", str(_file(tmp_path, "merged.csv", MERGED)))
    mapping = str(_file(tmp_path, "mapping.csv", MAPPING))
    dry = await run_json(
        app, capsys, "units", "reorganize", mapping, "--effective", "2026-04-01", "--dry-run"
    )
    assert dry["dry_run"] and len(dry["retired"]) == 2
    assert (await figures(app, "xa-tinh-khe"))["valid_to"] is None
    done = await run_json(app, capsys, "units", "reorganize", mapping, "--effective", "2026-04-01")
    assert [(s["old"], s["valid_to"]) for s in done["retired"]] == [
        ("xa-tinh-khe", "2026-03-31"),
        ("xa-an-phu", "2026-03-31"),
    ]
    assert done["notices"] == 2

    merged = await figures(app, "xa-tinh-an")
    assert merged["reports"] == 3 and merged["households_visited"] == 3
    assert merged["households"] == 1200
    assert sorted(merged["predecessors"]) == ["xa-an-phu", "xa-tinh-khe"]
    old = await figures(app, "xa-tinh-khe")
    assert (old["reports"], old["valid_to"], old["successor"]) == (2, "2026-03-31", "xa-tinh-an")
    assert (await figures(app, "xa-an-phu"))["reports"] == 1
    after = await figures(app, "quang-ngai")
    assert {k: v for k, v in after.items() if k != "predecessors"} == {
        k: v for k, v in before.items() if k != "predecessors"
    }

    # The commune officers moved with their role, each told once.
    async with app.db.read() as conn:
        moved = await people.by_account(conn, "local", "c1")
        village = await units.get(conn, "xa-tinh-khe-thon-a")
    assert moved is not None and (moved.role, moved.unit_code) == ("commune_officer", "xa-tinh-an")
    assert village is not None and village.parent_code == "xa-tinh-an"
    told = await notices_to(app, khe)
    assert len(told) == 1 and "Xã Tịnh An" in told[0] and "Xã Tịnh Khê" in told[0]

    # Applying the same mapping again changes nothing and tells nobody again.
    again = await run_json(app, capsys, "units", "reorganize", mapping, "--effective", "2026-04-01")
    assert again["retired"] == [] and len(again["unchanged"]) == 2 and again["notices"] == 0
    assert len(await notices_to(app, khe)) == 1
    assert len(await notices_to(app, phu)) == 1
    assert (await figures(app, "xa-tinh-an"))["reports"] == 3

    # Invites into a retired commune are refused, naming the successor.
    async with app.db.transaction() as conn:
        with pytest.raises(UnitRetired) as refused:
            await invites.create(
                conn,
                inviter=None,
                role="commune_officer",
                unit_code="xa-an-phu",
                uses=1,
                expires_in=timedelta(days=1),
                now=clock.now,
            )
    assert refused.value.params["successor"] == "Xã Tịnh An"

    # Listing: validity and official codes; --active leaves the retired communes out.
    listed = {row["code"]: row for row in await run_json(app, capsys, "units", "list")}
    assert listed["xa-tinh-khe"]["valid_to"] == "2026-03-31"
    assert listed["xa-tinh-an"]["valid_to"] is None
    assert listed["xa-tinh-an"]["admin_code"] == listed["xa-tinh-khe"]["admin_code"] == "21211"
    active = {row["code"] for row in await run_json(app, capsys, "units", "list", "--active")}
    assert "xa-tinh-an" in active and "xa-tinh-khe" not in active

    # Reports after the merger count in the new commune and the province, not in the old one.
    clock.advance(days=25)
    await a.send(REPORT.format(name="Phạm Văn Dũng"))
    assert "Đã lưu" in a.text
    assert (await figures(app, "xa-tinh-an"))["reports"] == 4
    assert (await figures(app, "quang-ngai"))["reports"] == 4
    assert (await figures(app, "xa-tinh-khe"))["reports"] == 2
    await khe.send("/thongke")
    assert "Xã Tịnh An" in khe.text


async def test_an_old_invite_is_refused_at_redeem_naming_the_successor(
    province: App, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    app = province
    clock = Clock(datetime(2026, 3, 10, 2, 0, tzinfo=UTC))
    async with app.db.transaction() as conn:
        invite = await invites.create(
            conn,
            inviter=None,
            role="commune_officer",
            unit_code="xa-an-phu",
            uses=1,
            expires_in=timedelta(days=30),
            now=clock.now,
        )
    await run_cli(app, capsys, "units", "import", str(_file(tmp_path, "merged.csv", MERGED)))
    mapping = str(_file(tmp_path, "mapping.csv", MAPPING))
    await run_cli(app, capsys, "units", "reorganize", mapping, "--effective", "2026-04-01")
    chat = Chat(app, "late", clock=clock)
    await chat.send(f"/start {invite.code}")
    assert "Xã An Phú đã sáp nhập vào Xã Tịnh An" in chat.text
    async with app.db.read() as conn:
        assert await people.by_account(conn, "local", "late") is None


def _file(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text + ("" if text.endswith("\n") else "\n"), encoding="utf-8")
    return path


async def test_a_commune_officer_keeps_the_villages_in_chat(province: App) -> None:
    app = province
    clock = Clock(datetime(2026, 3, 10, 2, 0, tzinfo=UTC))
    officer = await join(app, "commune_officer", "xa-ba-gia", "c9", clock=clock)
    await officer.send("/thon")
    assert "Xã Ba Gia</b> (0)" in officer.text
    await officer.send("/thon them An Ba; 450")
    assert "Đã thêm Thôn An Ba vào Xã Ba Gia" in officer.text
    await officer.send("/thon them Tổ dân phố 3")
    await officer.send("/thon them an ba")
    assert "Xã đã có “Thôn An Ba”" in officer.text
    await officer.send("/thon")
    assert "1. Thôn An Ba – 450 hộ" in officer.text
    assert "2. Tổ dân phố 3 – chưa có số hộ" in officer.text
    await officer.send("/thon soho 2 1.200")
    await officer.send("/thon doiten 1 Thôn An Ba Đông")
    assert "Đã đổi tên Thôn An Ba thành Thôn An Ba Đông" in officer.text
    commune = await figures(app, "xa-ba-gia")
    assert commune["households"] == 1650
    assert (await figures(app, "quang-ngai"))["households"] == 1200 + 1650

    # A member can be invited into an added village, and nobody into a retired one.
    member_chat = await member(app, "xa-ba-gia-thon-an-ba", "m9", clock)
    await member_chat.send(REPORT.format(name="Võ Thị Hoa"))
    assert "Đã lưu" in member_chat.text
    await officer.send("/thon ngung xa-ba-gia-to-dan-pho-3")
    assert "Đã ngừng Tổ dân phố 3" in officer.text
    assert (await figures(app, "xa-ba-gia"))["households"] == 450
    async with app.db.transaction() as conn:
        with pytest.raises(UnitRetired):
            await invites.create(
                conn,
                inviter=None,
                role="member",
                unit_code="xa-ba-gia-to-dan-pho-3",
                uses=1,
                expires_in=timedelta(days=1),
                now=clock.now,
            )
        changes = (
            await conn.execute(
                sa.select(audit_log.c.action, audit_log.c.person_id).where(
                    audit_log.c.entity == "unit"
                )
            )
        ).all()
    me = await _person_id(app, officer)
    assert [action for action, _ in changes] == [
        "village_add",
        "village_add",
        "village_households",
        "village_rename",
        "village_retire",
    ]
    assert {who for _, who in changes} == {me}

    # Another commune's officer cannot touch these villages; a member has no /thon.
    other = await join(app, "commune_officer", "xa-tinh-khe", "c8", clock=clock)
    await other.send("/thon xa-ba-gia them Thôn Lạ")
    assert "chỉ sửa được danh sách thôn của xã mình" in other.text
    await other.send("/thon")
    assert "Xã Tịnh Khê</b> (2)" in other.text
    await member_chat.send("/thon")
    assert "không dành cho vai trò" in member_chat.text


async def _person_id(app: App, chat: Chat) -> int:
    async with app.db.read() as conn:
        person = await people.by_account(conn, chat.channel, chat.user)
    assert person is not None
    return person.id


async def test_every_level_works_without_a_district(
    province: App, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    app = province
    clock = Clock(datetime(2026, 3, 10, 2, 0, tzinfo=UTC))
    officer = await join(app, "province_officer", "quang-ngai", "p1", clock=clock)
    commune = await join(app, "commune_officer", "xa-tinh-khe", "c1", clock=clock)
    leader = await join(app, "leader", "xa-tinh-khe-thon-a", "l1", clock=clock)
    await leader.send(REPORT.format(name="Nguyễn Văn An"))
    for chat in (officer, commune, leader):
        for command in ("/thongke", "/xuat", "/tiendo", "/menu"):
            replies = await chat.send(command)
            assert replies, (chat.user, command)
            assert "trục trặc" not in chat.text, (chat.user, command, chat.text)
    await officer.send("/thongke")
    assert "Xã Tịnh Khê" in officer.text  # a line per commune, straight under the province
    await officer.send("/tiendo")
    assert "Xã Tịnh Khê" in officer.text
    out = tmp_path / "tong-ket"
    await run_cli(app, capsys, "summary", "--unit", "quang-ngai", "--out", str(out))
    assert "Xã Tịnh Khê" in (tmp_path / "tong-ket.md").read_text(encoding="utf-8")
    figures_json = await run_json(app, capsys, "stats", "--unit", "xa-an-phu")
    # Unknown denominators: no ratio, never a division by zero.
    assert figures_json["households"] == 500
    empty = await run_json(app, capsys, "stats", "--unit", "xa-ba-gia")
    assert empty["households"] == 0
    assert empty["targets"]["five_skills"]["value"] is None


async def test_a_commune_without_household_figures_says_so(province: App) -> None:
    clock = Clock(datetime(2026, 3, 10, 2, 0, tzinfo=UTC))
    officer = await join(province, "commune_officer", "xa-ba-gia", "c3", clock=clock)
    await officer.send("/thongke")
    assert "Hộ có người thành thạo 5 kỹ năng số: chưa có số hộ" in officer.text
    assert "chưa có số dân" in officer.text


START = ROOT / "content" / "units" / "quang-ngai-2026-start.yaml"


async def test_the_first_run_opens_on_the_2026_province_with_2024_rolled_up(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from handlers.services import places

    app = await App.open(
        settings_for(database_url, plan_file=PLAN_2026, units_file=START), migrate=False
    )
    try:
        async with app.db.transaction() as conn:
            for table in reversed(metadata.sorted_tables):
                await conn.execute(table.delete())
        await app.load_sample_units_if_empty()
        await app.load_sample_units_if_empty()  # a second start loads nothing more
        listed = await run_json(app, capsys, "units", "list", "--active")
        kinds = [row["kind"] for row in listed]
        assert (kinds.count("province"), kinds.count("district"), kinds.count("commune")) == (
            1,
            0,
            96,
        )
        assert kinds.count("village") == 65
        villages_of = {
            code: sum(1 for row in listed if row["parent"] == code)
            for code in ("xa-long-phung", "xa-mo-cay", "xa-mo-duc", "xa-lan-phong")
        }
        # Long Phụng: Đức Lợi 4 + Đức Thắng 4 (via Thắng Lợi) + Đức Nhuận 5 + Đức Hiệp 6.
        assert villages_of == {
            "xa-long-phung": 19,
            "xa-mo-cay": 14,
            "xa-mo-duc": 18,
            "xa-lan-phong": 14,
        }
        province = await figures(app, "quang-ngai")
        assert province["households"] == 36000  # the 2024 sample, now the province's
        assert province["predecessors"] == ["mo-duc"]
        thang_loi = await figures(app, "thang-loi")
        assert (thang_loi["valid_to"], thang_loi["successor"]) == ("2025-06-30", "xa-long-phung")
        duc_loi = await figures(app, "duc-loi")
        assert (duc_loi["valid_to"], duc_loi["successor"]) == ("2024-12-31", "thang-loi")
        long_phung = await figures(app, "xa-long-phung")
        parts = [
            (await figures(app, code))["households"]
            for code in ("duc-loi", "duc-thang", "duc-nhuan", "duc-hiep")
        ]
        assert long_phung["households"] == sum(parts) == 2234 + 2001 + 2865 + 3032
        assert set(long_phung["predecessors"]) == {
            "thang-loi",
            "duc-loi",
            "duc-thang",
            "duc-nhuan",
            "duc-hiep",
        }
        async with app.db.read() as conn:
            assert await places.first_fitting(conn, "province_officer", "xa-mo-cay") == "quang-ngai"
            assert await places.first_fitting(conn, "commune_officer", "xa-mo-cay") == "xa-mo-cay"
    finally:
        await app.close()


async def test_a_pasted_list_is_checked_previewed_then_applied(province: App) -> None:
    clock = Clock(datetime(2026, 3, 10, 2, 0, tzinfo=UTC))
    officer = await join(province, "commune_officer", "xa-tinh-khe", "c4", clock=clock)
    await officer.send("/thon nhap")
    assert "mỗi dòng một thôn" in officer.text
    await officer.send("Tên thôn\tSố hộ\nThôn C\t210\nThôn D; nhiều\nThôn C; 5")
    assert "Có 2 dòng chưa đúng" in officer.text
    assert "Dòng 3: số hộ cần là một số" in officer.text
    assert "Dòng 4: tên thôn trùng" in officer.text
    assert (await figures(province, "xa-tinh-khe"))["households"] == 700  # nothing kept
    await officer.send("Tên thôn\tSố hộ\nThôn C\t210\nThôn B\t320\nThôn A; 400")
    assert "Thêm 1 thôn, tổ dân phố:\n+ Thôn C – 210 hộ" in officer.text
    assert "~ Thôn B: 300 → 320 hộ" in officer.text
    assert "Không đổi: 1." in officer.text
    assert (await figures(province, "xa-tinh-khe"))["households"] == 700  # only a preview
    await officer.press("Lưu")
    assert "thêm 1, cập nhật số hộ 1" in officer.text
    assert (await figures(province, "xa-tinh-khe"))["households"] == 400 + 320 + 210


async def test_followers_move_and_importing_the_old_file_again_rewrites_nothing(
    province: App, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from db.repos import follows

    app = province
    now = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
    async with app.db.transaction() as conn:
        await follows.follow(conn, "local", "r1", "xa-an-phu", now)
        await follows.follow(conn, "local", "r2", "xa-an-phu", now)
    await run_cli(app, capsys, "units", "import", str(_file(tmp_path, "merged.csv", MERGED)))
    async with app.db.transaction() as conn:
        await follows.follow(conn, "local", "r2", "xa-tinh-an", now)  # already follows the new one
    mapping = str(_file(tmp_path, "mapping.csv", MAPPING))
    await run_cli(app, capsys, "units", "reorganize", mapping, "--effective", "2026-04-01")
    async with app.db.read() as conn:
        assert await follows.of_chat(conn, "local", "r1") == ["Xã Tịnh An"]
        assert await follows.of_chat(conn, "local", "r2") == ["Xã Tịnh An"]

    # The 2025 file and the villages file again: the merged communes stay retired, their
    # villages stay under the successor.
    await run_cli(app, capsys, "units", "import", str(PROVINCE_CSV))
    await run_cli(app, capsys, "units", "import", str(_file(tmp_path, "villages.csv", VILLAGES)))
    listed = {row["code"]: row for row in await run_json(app, capsys, "units", "list")}
    assert listed["xa-tinh-khe"]["valid_to"] == "2026-03-31"
    assert listed["xa-tinh-khe"]["successor"] == "xa-tinh-an"
    assert listed["xa-tinh-khe-thon-a"]["parent"] == "xa-tinh-an"
    assert (await figures(app, "xa-tinh-an"))["households"] == 1200
    assert (await figures(app, "quang-ngai"))["households"] == 1200


async def test_the_2026_plan_reminds_the_province_officer_of_the_summary(
    province: App, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = Clock(datetime(2026, 3, 10, 2, 0, tzinfo=UTC))
    officer = await join(province, "province_officer", "quang-ngai", "p7", clock=clock)
    await join(province, "commune_officer", "xa-tinh-khe", "c7", clock=clock)
    me = await _person_id(province, officer)
    due = await run_json(province, capsys, "notify", "due", "--now", "2026-12-15T07:30+07:00")
    summary = [notice for notice in due if notice["deadline"] == "summary"]
    assert [(n["recipient"], n["role"], n["unit"]) for n in summary] == [
        (me, "province_officer", "quang-ngai")
    ]
    assert "Tổng kết năm 2026" in summary[0]["text"]


async def test_digest_and_announcements_follow_the_two_tiers(
    province: App, capsys: pytest.CaptureFixture[str]
) -> None:
    """The evening digest reaches the province officer (a line per commune) and each commune
    officer (a line per village); a province officer's announcement reaches members of every
    commune, a commune officer's only its own."""
    clock = Clock(datetime(2026, 3, 10, 2, 0, tzinfo=UTC))
    officer = await join(province, "province_officer", "quang-ngai", "p8", clock=clock)
    commune = await join(province, "commune_officer", "xa-tinh-khe", "c8", clock=clock)
    khe = await member(province, "xa-tinh-khe-thon-a", "m-khe", clock)
    phu = await member(province, "xa-an-phu-tdp-1", "m-phu", clock)
    await khe.send(REPORT.format(name="Nguyễn Văn An"))

    due = await run_json(province, capsys, "notify", "due", "--now", "2026-03-10T20:05+07:00")
    digests = {n["unit"]: n["text"] for n in due if n["key"].startswith("digest:")}
    assert set(digests) == {"quang-ngai", "xa-tinh-khe"}
    assert "Xã Tịnh Khê" in digests["quang-ngai"] and "Xã An Phú" in digests["quang-ngai"]
    assert "Thôn A" in digests["xa-tinh-khe"] and "Xã An Phú" not in digests["xa-tinh-khe"]

    for chat, text in ((officer, "Họp trực tuyến toàn tỉnh"), (commune, "Họp Tổ xã Tịnh Khê")):
        await chat.send("/thongbao")
        await chat.press("Thành viên Tổ")
        await chat.send(text)
        await chat.press("Gửi")
    from_province = "📢 <b>Thông báo – Tỉnh Quảng Ngãi</b>\nHọp trực tuyến toàn tỉnh"
    from_commune = "📢 <b>Thông báo – Xã Tịnh Khê</b>\nHọp Tổ xã Tịnh Khê"
    to_phu, to_khe = await notices_to(province, phu), await notices_to(province, khe)
    assert [text.split("\n—")[0] for text in to_phu] == [from_province]
    assert [text.split("\n—")[0] for text in to_khe] == [from_province, from_commune]

"""`python -m bot …` run as a person would run it, on a fresh SQLite file per test."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from db.engine import Database
from db.repos import invites, people

ROOT = Path(__file__).resolve().parents[2]
UNITS_CSV = ROOT / "content" / "units" / "mo-duc-2024.csv"
HEADER = (
    "code,name,kind,parent,households,eligible_citizens,working_age,"
    "vneid_registered_baseline,vneid_activated_baseline,cqngai_baseline"
)
CODE = re.compile(r"[A-HJ-NP-Z2-9]{8}")


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"


def bot(db_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("TELEGRAM_") and key != "DATABASE_URL"
    }
    environment.update(DATABASE_URL=db_url, **env)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def failed(result: subprocess.CompletedProcess[str]) -> str:
    """A refused command: non-zero exit, a message, no traceback."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip()
    return result.stderr


def imported(db_url: str) -> str:
    return ok(bot(db_url, "units", "import", str(UNITS_CSV)))


def listed(db_url: str) -> list[dict[str, object]]:
    return json.loads(ok(bot(db_url, "units", "list", "--json")))


# --- units ---------------------------------------------------------------------------------
def test_importing_twice_updates_and_duplicates_nothing(db_url: str) -> None:
    assert "79 new, 0 updated" in imported(db_url)
    assert "0 new, 79 updated" in imported(db_url)
    units = listed(db_url)
    codes = [unit["code"] for unit in units]
    assert len(codes) == 79 and len(set(codes)) == 79


def test_importing_a_changed_file_updates_names_and_adds_units(db_url: str, tmp_path: Path) -> None:
    imported(db_url)
    text = UNITS_CSV.read_text(encoding="utf-8")
    text = text.replace("duc-chanh-thon-1,Thôn 1 (tên mẫu)", "duc-chanh-thon-1,Thôn An Ba")
    text = text.rstrip("\n") + "\nduc-chanh-thon-9,Thôn Mới,village,duc-chanh,10,20,15,5,4,1\n"
    changed = tmp_path / "changed.csv"
    changed.write_text(text, encoding="utf-8")
    assert "1 new, 79 updated" in ok(bot(db_url, "units", "import", str(changed)))
    by_code = {unit["code"]: unit for unit in listed(db_url)}
    assert by_code["duc-chanh-thon-1"]["name"] == "Thôn An Ba"
    assert by_code["duc-chanh-thon-9"]["parent"] == "duc-chanh"
    assert len(by_code) == 80


def test_units_list_json_has_the_csv_columns(db_url: str) -> None:
    imported(db_url)
    units = listed(db_url)
    with UNITS_CSV.open(encoding="utf-8") as handle:
        rows = {row["code"]: row for row in csv.DictReader(handle)}
    assert len(units) == len(rows)
    for unit in units:
        assert list(unit) == HEADER.split(","), unit
        row = rows[str(unit["code"])]
        shown = {key: "" if value is None else str(value) for key, value in unit.items()}
        assert shown == row


def bad_file(tmp_path: Path, *lines: str, header: str = HEADER) -> str:
    path = tmp_path / "bad.csv"
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return str(path)


GOOD_TOP = ("mo-duc,Huyện Mộ Đức,district,,,,,,,", "duc-chanh,Xã Đức Chánh,commune,mo-duc,,,,,,")


def test_a_wrong_header_is_refused_naming_line_1(db_url: str, tmp_path: Path) -> None:
    path = bad_file(tmp_path, *GOOD_TOP, header=HEADER.replace("households", "ho"))
    message = failed(bot(db_url, "units", "import", path))
    assert "line 1" in message and "header" in message
    assert listed(db_url) == []


def test_a_non_numeric_figure_is_refused_naming_its_line(db_url: str, tmp_path: Path) -> None:
    path = bad_file(
        tmp_path,
        *GOOD_TOP,
        "duc-chanh-thon-1,Thôn 1,village,duc-chanh,423,1111,854,704,550,112",
        "duc-chanh-thon-2,Thôn 2,village,duc-chanh,nhiều,1111,854,704,550,112",
    )
    message = failed(bot(db_url, "units", "import", path))
    assert "line 5" in message and "households" in message
    assert listed(db_url) == []


def test_an_unknown_parent_is_refused(db_url: str, tmp_path: Path) -> None:
    path = bad_file(tmp_path, *GOOD_TOP, "x-thon-1,Thôn 1,village,khong-co,1,1,1,1,1,1")
    message = failed(bot(db_url, "units", "import", path))
    assert "khong-co" in message
    assert listed(db_url) == []


def test_an_unknown_parent_is_refused_naming_its_line(db_url: str, tmp_path: Path) -> None:
    path = bad_file(tmp_path, *GOOD_TOP, "x-thon-1,Thôn 1,village,khong-co,1,1,1,1,1,1")
    message = failed(bot(db_url, "units", "import", path))
    assert "line 4" in message


# --- invites ---------------------------------------------------------------------------------
INVITE = ("invite", "create", "--role", "member", "--unit", "duc-chanh-thon-1")


async def test_invite_create_json_without_a_telegram_name(db_url: str) -> None:
    imported(db_url)
    before = datetime.now(UTC)
    shown = json.loads(ok(bot(db_url, *INVITE, "--uses", "3", "--expires", "7d", "--json")))
    assert set(shown) == {"code", "telegram_link"}
    assert CODE.fullmatch(shown["code"])
    assert shown["telegram_link"] is None
    db = Database(db_url)
    try:
        async with db.read() as conn:
            invite = await invites.get(conn, shown["code"])
    finally:
        await db.close()
    assert invite is not None
    assert (invite.role, invite.unit_code, invite.max_uses, invite.uses) == (
        "member",
        "duc-chanh-thon-1",
        3,
        0,
    )
    expected = before + timedelta(days=7)
    assert abs(invite.expires_at - expected) < timedelta(minutes=5)


def test_invite_create_json_with_a_telegram_name(db_url: str) -> None:
    imported(db_url)
    result = bot(db_url, *INVITE, "--json", TELEGRAM_BOT_USERNAME="tocongnghe_bot")
    shown = json.loads(ok(result))
    assert shown["telegram_link"] == f"https://t.me/tocongnghe_bot?start={shown['code']}"


def test_invite_create_plain_shows_how_to_join(db_url: str) -> None:
    imported(db_url)
    out = ok(bot(db_url, *INVITE))
    code = CODE.search(out)
    assert code and f"dangky {code.group(0)}" in out


def test_invite_for_an_unknown_unit_is_refused_in_vietnamese(db_url: str) -> None:
    imported(db_url)
    message = failed(bot(db_url, "invite", "create", "--role", "member", "--unit", "khong-co"))
    assert "Không tìm thấy địa bàn có mã “khong-co”" in message


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--role", "member", "--unit", "duc-chanh"), "không gắn với loại địa bàn"),
        (("--role", "member", "--unit", "duc-chanh-thon-1", "--uses", "0"), "từ 1 đến 200"),
        (("--role", "member", "--unit", "duc-chanh-thon-1", "--expires", "7x"), "Thời hạn"),
        (("--role", "member", "--unit", "duc-chanh-thon-1", "--expires", "200d"), "90 ngày"),
    ],
)
def test_invite_with_wrong_options_is_refused_in_vietnamese(
    db_url: str, args: tuple[str, ...], said: str
) -> None:
    imported(db_url)
    message = failed(bot(db_url, "invite", "create", *args))
    assert said in message


# --- admins ----------------------------------------------------------------------------------
async def test_admin_grant_makes_the_telegram_account_an_admin(db_url: str) -> None:
    imported(db_url)
    out = ok(bot(db_url, "admin", "grant", "--telegram-id", "42"))
    assert "42" in out and "admin" in out
    again = ok(bot(db_url, "admin", "grant", "--telegram-id", "42"))
    assert again == out  # the same person, not a second one
    db = Database(db_url)
    try:
        async with db.read() as conn:
            person = await people.by_account(conn, "telegram", "42")
    finally:
        await db.close()
    assert person is not None
    assert (person.role, person.unit_code) == ("admin", "mo-duc")


def test_admin_grant_before_any_units_is_refused(db_url: str) -> None:
    message = failed(bot(db_url, "admin", "grant", "--telegram-id", "42"))
    assert "Không tìm thấy địa bàn có mã “mo-duc”" in message


def test_a_superscript_figure_is_refused_naming_its_line(db_url: str, tmp_path: Path) -> None:
    path = bad_file(
        tmp_path, *GOOD_TOP, "duc-chanh-thon-1,Thôn 1,village,duc-chanh,4²,1111,854,704,550,112"
    )
    message = failed(bot(db_url, "units", "import", path))
    assert "line 4" in message


# --- people, invites, privacy (errors reach the shell in Vietnamese) --------------------------
def test_people_invite_and_privacy_commands_refuse_in_vietnamese(db_url: str) -> None:
    imported(db_url)
    assert "Không tìm thấy người dùng có mã số “999”" in failed(
        bot(db_url, "people", "remove", "999")
    )
    assert "Mã mời này không đúng" in failed(bot(db_url, "invite", "revoke", "ABCDEFGH"))
    assert "KÊNH:ID" in failed(bot(db_url, "account", "unlink", "42"))
    assert "Không tìm thấy hộ có mã “7”" in failed(
        bot(db_url, "privacy", "forget", "--household", "7")
    )
    code = json.loads(ok(bot(db_url, *INVITE, "--json")))["code"]
    assert f"invite {code}" in ok(bot(db_url, "invite", "revoke", code))
    assert "đã được thu hồi từ trước" in failed(bot(db_url, "invite", "revoke", code))
    assert json.loads(ok(bot(db_url, "invite", "list", "--json"))) == []
    pruned = json.loads(ok(bot(db_url, "privacy", "prune", "--json")))
    assert set(pruned) >= {"help_anonymised", "help_expired", "conversations", "ledger"}


# --- zalo-oa ---------------------------------------------------------------------------------
def test_zalo_oa_token_is_read_from_stdin_stored_once_and_never_printed(
    db_url: str, tmp_path: Path
) -> None:
    env = {"ZALO_OA_ID": "111", "ZALO_OA_UNIT": "duc-chanh", "ZALO_OA_ACCOUNTS": "222=duc-hiep"}

    def token(oa_id: str, value: str) -> subprocess.CompletedProcess[str]:
        environment = {
            key: v
            for key, v in os.environ.items()
            if not key.startswith(("TELEGRAM_", "ZALO_")) and key != "DATABASE_URL"
        }
        environment.update(DATABASE_URL=db_url, **env)
        return subprocess.run(
            [sys.executable, "-m", "bot", "zalo-oa", "token", oa_id],
            cwd=ROOT,
            env=environment,
            input=value + "\n",
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=120,
        )

    assert ok(token("222", "rt-secret-222")) == "OA 222: refresh token stored\n"
    assert ok(token("222", "rt-secret-222")) == "OA 222: that token was stored before\n"
    status = ok(bot(db_url, "zalo-oa", "status", **env)).splitlines()
    assert status == [
        "111\tduc-chanh\tno token stored\tthis month: 0 notices, 0 answered, 0 chats",
        "222\tduc-hiep\trefresh token stored, no access token yet\t"
        "this month: 0 notices, 0 answered, 0 chats",
    ]
    assert "rt-secret" not in "\n".join(status)

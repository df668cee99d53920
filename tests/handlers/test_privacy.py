"""Personal data under control: the retention policy (`privacy prune`) and erasure on request
(`privacy forget`, /xoaho), with the statistics unchanged."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from bot.app import App
from db.repos import audit, help_requests, visits
from db.schema import conversations, metadata
from db.schema import help_requests as help_requests_table
from handlers.services import retention
from tests.auxil.chat import Chat, Clock, join
from tests.auxil.cli import run_json
from tests.handlers.test_digest import run_bot
from tests.handlers.test_helpdesk import VILLAGE, ask_for_visit, member

UNITS = (VILLAGE, "tt-mo-duc", "mo-duc")
NOW = datetime(2024, 12, 1, 3, 0, tzinfo=UTC)
HEAD, ADDRESS, NOTE = "Nguyễn Thị Hoà", "số 7 xóm Bắc", "con gái là Lê Thị Mai"


async def everything(app: App) -> str:
    """Every row of every table, as text (JSON decoded, so names are plain)."""
    parts = []
    async with app.db.read() as conn:
        for table in metadata.sorted_tables:
            for row in await conn.execute(sa.select(table)):
                parts.append(json.dumps(dict(row._mapping), ensure_ascii=False, default=str))
    return "\n".join(parts)


# --- retention ----------------------------------------------------------------------------
async def request_at(app: App, user: str, created: datetime, *, taken: datetime | None) -> int:
    async with app.db.transaction() as conn:
        request_id = await help_requests.create(
            conn,
            request_key=f"k-{user}",
            now=created,
            village_code=VILLAGE,
            topic="vneid",
            contact=f"0905 000 {user[-3:]}",
            resident_channel="local",
            resident_chat_id=user,
            resident_name=f"Bác {user}",
        )
        if taken is not None:
            await help_requests.take(conn, request_id, None, taken)  # type: ignore[arg-type]
    return request_id


async def test_prune_anonymises_exactly_the_rows_past_their_period(
    app: App, capsys: pytest.CaptureFixture[str]
) -> None:
    day = timedelta(days=1)
    taken_31 = await request_at(app, "r-031", NOW - 40 * day, taken=NOW - 31 * day)
    taken_29 = await request_at(app, "r-029", NOW - 40 * day, taken=NOW - 29 * day)
    open_61 = await request_at(app, "r-161", NOW - 61 * day, taken=None)
    open_59 = await request_at(app, "r-159", NOW - 59 * day, taken=None)
    async with app.db.transaction() as conn:
        for chat_id, at in (("c-idle", NOW - 31 * day), ("c-recent", NOW - 29 * day)):
            await conn.execute(
                conversations.insert().values(
                    channel="local",
                    chat_id=chat_id,
                    flow="help",
                    state="reach",
                    data={"village": VILLAGE},
                    version=3,
                    updated_at=at,
                )
            )

    done = await run_json(app, capsys, "privacy", "prune", "--now", NOW.isoformat())
    assert done["help_anonymised"] == 1 and done["help_expired"] == 1
    assert done["conversations"] == 1

    async with app.db.read() as conn:
        rows = {
            row.id: row for row in await conn.execute(sa.select(help_requests_table).order_by("id"))
        }
        left = [r.chat_id for r in await conn.execute(sa.select(conversations.c.chat_id))]
    for erased in (taken_31, open_61):
        row = rows[erased]
        assert (row.contact, row.resident_name, row.resident_chat_id) == ("", None, "")
        assert row.anonymised_at is not None and row.village_code == VILLAGE
    assert rows[open_61].status == "expired" and rows[taken_31].status == "taken"
    for kept in (taken_29, open_59):
        assert rows[kept].contact.startswith("0905") and rows[kept].anonymised_at is None
    assert rows[open_59].status == "open"
    assert left == ["c-recent"]

    # A second run the same day finds nothing more to do.
    again = await run_json(app, capsys, "privacy", "prune", "--now", NOW.isoformat())
    assert again["help_anonymised"] == 0 and again["help_expired"] == 0


async def test_periods_come_from_the_settings(app: App) -> None:
    request = await request_at(
        app, "r-010", NOW - 20 * timedelta(days=1), taken=NOW - timedelta(days=10)
    )
    policy = retention.Policy(help_contact_days=7)
    async with app.db.transaction() as conn:
        done = await retention.prune(conn, NOW, policy)
        found = await help_requests.get(conn, request)
    assert done["help_anonymised"] == 1
    assert found is not None and found.contact == ""


async def test_the_consent_names_who_will_see_what_and_for_how_long(app: App) -> None:
    clock = Clock()
    await member(app, "m-lan", "Cô Lan", clock=clock)
    resident = Chat(app, "r-consent", clock=clock, name="Bà Năm")
    await ask_for_visit(resident, contact="0905 123 456")
    assert (
        "các thành viên Tổ công nghệ số Tổ dân phố 1 (tên mẫu)</b> đang dùng bot (1 người)"
        in resident.text
    )
    assert "xoá tên, cách liên lạc 30 ngày sau khi có người nhận hẹn" in resident.text

    lonely = Chat(app, "r-consent-2", clock=clock, name="Ông Bảy")
    await join(app, "commune_officer", "tt-mo-duc", "officer", clock=clock)
    await ask_for_visit(lonely, "Tổ dân phố 5", contact="0905 123 457")
    assert "cán bộ xã Thị trấn Mộ Đức</b> (1 người)" in lonely.text


# --- forgetting a household -----------------------------------------------------------------
async def household_with_history(app: App) -> tuple[Chat, int]:
    """A leader reports a household (name, address), then a note is added (audited)."""
    clock = Clock()
    leader = await member(app, "lead", "Tổ Trưởng", role="leader", clock=clock)
    await leader.send(f"/bc {HEAD}; {ADDRESS}; dvc,tt; dk2=1")
    assert HEAD in leader.text
    await leader.send("/sua")
    await leader.press(HEAD)
    await leader.press("Thêm ghi chú")
    await leader.send(NOTE)
    await leader.press("Lưu thay đổi")
    assert "Đã lưu thay đổi" in leader.text, leader.text
    async with app.db.read() as conn:
        (visit,) = await visits.recent(
            conn, since=clock.now - timedelta(days=1), village_code=VILLAGE
        )
    assert visit.note == NOTE
    await leader.send("/sua")  # the household's name is now in a conversation's offered buttons
    return leader, visit.household_id


async def test_forget_household_erases_it_everywhere_and_keeps_the_figures(
    app: App, capsys: pytest.CaptureFixture[str]
) -> None:
    leader, household = await household_with_history(app)
    assert HEAD in await everything(app) and NOTE in await everything(app)
    before = [await run_json(app, capsys, "stats", "--unit", code) for code in UNITS]

    done = await run_json(app, capsys, "privacy", "forget", "--household", str(household))
    # Six stored answers showed the household (the quick report's, both /sua lists, both
    # summaries, the saved change; not the note question); one audited edit held the note;
    # the leader's open /sua still offered its name.
    assert done == {
        "visits_kept": 1,
        "audit_rows_scrubbed": 1,
        "ledger_rows_blanked": 6,
        "conversations_reset": 1,
    }

    stored = await everything(app)
    for erased in (HEAD, ADDRESS, NOTE, "Hoà", "xóm Bắc"):
        assert erased not in stored, erased
    after = [await run_json(app, capsys, "stats", "--unit", code) for code in UNITS]
    assert after == before and before[0]["households_visited"] == 1
    async with app.db.read() as conn:
        (row,) = await audit.for_entity(conn, "household", household)
    assert row["action"] == "forget" and row["person_id"] is None
    assert row["after"]["visits_kept"] == 1
    # The leader's file still counts the household, by number.
    replies = await leader.send("/xuat")
    assert replies[-1].document is not None


async def test_an_officer_erases_a_household_of_their_area_after_confirming(app: App) -> None:
    leader, household = await household_with_history(app)
    await leader.send(f"/xoaho {household}")
    assert HEAD in leader.text and "không khôi phục được" in leader.text
    await leader.press("Giữ lại")
    assert HEAD in await everything(app)
    await leader.send(f"/xoaho {household}")
    await leader.press("Xoá dữ liệu của hộ")
    assert f"Đã xoá tên, địa chỉ và ghi chú của hộ #{household}" in leader.text
    assert HEAD not in await everything(app)
    async with app.db.read() as conn:
        (row,) = await audit.for_entity(conn, "household", household)
    assert row["person_id"] is not None and HEAD not in json.dumps(
        row, ensure_ascii=False, default=str
    )


async def test_an_officer_cannot_erase_a_household_outside_their_area(app: App) -> None:
    _leader, household = await household_with_history(app)
    other = await member(
        app, "lead-2", "Tổ Trưởng Khác", unit="tt-mo-duc-tdp-2", role="leader", clock=Clock()
    )
    await other.send(f"/xoaho {household}")
    assert "trong địa bàn mình phụ trách" in other.text
    assert not [c for r in other.screen for c in r.flat_choices()]
    assert HEAD in await everything(app)


# --- forgetting a chat ------------------------------------------------------------------------
async def test_forget_chat_erases_a_residents_request_and_conversation(
    app: App, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = Clock()
    await member(app, "m-lan", "Cô Lan", clock=clock)
    resident = Chat(app, "r-tam", clock=clock, name="Bà Tám Hương")
    await ask_for_visit(resident, contact="0905 123 456")
    await resident.press("Đồng ý")
    await resident.send("/theodoi")
    stored = await everything(app)
    assert "Bà Tám Hương" in stored and "0905 123 456" in stored

    done = await run_json(app, capsys, "privacy", "forget", "--chat", "local:r-tam")
    assert done["help_requests_anonymised"] == 1 and done["person_erased"] == 0
    stored = await everything(app)
    for erased in ("Bà Tám Hương", "0905 123 456", '"r-tam"'):
        assert erased not in stored, erased
    async with app.db.read() as conn:
        count = await conn.scalar(sa.select(sa.func.count()).select_from(help_requests_table))
    assert count == 1  # still counted, anonymous


async def test_forget_chat_of_a_member_keeps_their_reports_counted(
    app: App, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = Clock()
    lan = await member(app, "m-lan-9", "Cô Lan Chín", clock=clock)
    await lan.send("/bc Hộ Bà Ba; ; dvc")
    before = await run_json(app, capsys, "stats", "--unit", VILLAGE)
    done = await run_json(app, capsys, "privacy", "forget", "--chat", "local:m-lan-9")
    assert done["person_erased"] == 1 and done["accounts_unlinked"] == 1
    assert "Cô Lan Chín" not in await everything(app)
    assert await run_json(app, capsys, "stats", "--unit", VILLAGE) == before
    await lan.send("/baocao")
    assert "/dangky" in lan.text  # no longer on the team


async def test_forget_with_a_wrong_chat_is_refused_in_vietnamese(
    database_url: str, app: App
) -> None:
    status, _out, err = await run_bot(database_url, "privacy", "forget", "--chat", "r-tam")
    assert status == 2 and "KÊNH:ID" in err and "Traceback" not in err


async def test_forget_chat_covers_the_persons_other_channel(
    app: App, capsys: pytest.CaptureFixture[str]
) -> None:
    import re

    clock = Clock()
    on_local = await member(app, "m-two", "Chú Hai Kênh", clock=clock)
    await on_local.send("/lienket")
    code = re.search(r"\b(LK[A-Z0-9]{8})\b", on_local.text)
    assert code is not None
    on_zalo = Chat(app, "z-two", channel="zalo", clock=clock, name="Chú Hai Kênh")
    await on_zalo.send(f"dangky {code.group(1)}")
    await on_zalo.send("/theodoi")
    await on_zalo.press("Thị trấn Mộ Đức")
    await on_zalo.press("Cả Thị trấn Mộ Đức")
    assert '"z-two"' in await everything(app)

    done = await run_json(app, capsys, "privacy", "forget", "--chat", "local:m-two")
    assert done["accounts_unlinked"] == 2 and done["follows"] == 1
    stored = await everything(app)
    assert "Chú Hai Kênh" not in stored and '"z-two"' not in stored and '"m-two"' not in stored

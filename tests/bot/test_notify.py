"""Plan notices end to end: recipients, deliverables, exactly-once, fan-out, the CLI."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.fake_telegram import FakeTelegram
from bot.app import App
from bot.notify import NoticeScheduler
from bot.outbox import OutboxSender
from core.events import Reply
from db.engine import Database
from db.repos import outbox, people, units
from handlers.services import reminders
from tests.auxil.chat import Clock, join
from tests.bot.test_cli import bot, imported, ok
from tests.conftest import settings_for

SEPT_18 = datetime.fromisoformat("2024-09-18T07:30+07:00")


async def add_people(
    db: Database, role: str, unit_codes: list[str], *, channel: str = "telegram", start: int = 1
) -> list[int]:
    """People with a linked chat account, one per unit code given (codes may repeat)."""
    ids = []
    now = datetime.now(UTC)
    async with db.transaction() as conn:
        for number, code in enumerate(unit_codes, start=start):
            person = await people.create(
                conn,
                role=role,
                unit_code=code,
                display_name=f"{role} {number}",
                channel=channel,
                external_id=str(number),
                chat_id=str(number),
                now=now,
            )
            ids.append(person.id)
    return ids


async def villages(db: Database, commune: str | None = None) -> list[str]:
    async with db.read() as conn:
        return [
            u.code
            for u in await units.all_units(conn)
            if u.kind == "village" and (commune is None or u.parent_code == commune)
        ]


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def __call__(self, chat_id: str, reply: Reply) -> None:
        await asyncio.sleep(0)
        self.sent.append((chat_id, reply.text))


async def drain_all(sender: OutboxSender) -> None:
    for _ in range(100):
        result = await sender.drain(limit=50)
        if not (result.sent or result.retried):
            return


# --- recipients and deliverables --------------------------------------------------------------
async def test_the_20_9_reminders_go_to_commune_officers_and_leaders(app: App) -> None:
    thon = await villages(app.db, "duc-chanh")
    await add_people(app.db, "leader", thon[:2])
    await add_people(app.db, "commune_officer", ["duc-chanh"], start=10)
    await add_people(app.db, "member", thon[:1], start=20)
    await add_people(app.db, "district_officer", ["mo-duc"], start=30)
    async with app.db.read() as conn:
        found = await reminders.due(conn, app.services, SEPT_18)
    assert sorted(n.recipient.role for n in found) == ["commune_officer", "leader", "leader"]
    assert {n.occurrence.key for n in found} == {"deadline:team-consolidation:2024-09-18"}
    assert all("Còn 2 ngày" in n.reply.text and "20/09/2024" in n.reply.text for n in found)
    item = found[0].as_json()
    assert item["key"].startswith("deadline:team-consolidation:2024-09-18:")
    assert {"key", "deadline", "recipient", "channel", "text"} <= set(item)


async def test_a_leader_who_confirmed_the_roster_gets_no_more_roster_reminders(app: App) -> None:
    clock = Clock(datetime.fromisoformat("2024-09-18T09:00+07:00"))
    leader = await join(app, "leader", "duc-chanh-thon-1", "lead-1", clock=clock)
    await leader.press("Tổ trưởng")
    teacher = await join(app, "member", "duc-chanh-thon-1", "mem-1", clock=clock)
    await teacher.press("Giáo viên")
    await add_people(app.db, "leader", ["duc-chanh-thon-2"], channel="local", start=50)

    async with app.db.read() as conn:
        before = await reminders.due(conn, app.services, SEPT_18)
    assert len(before) == 2

    await leader.send("/nop")
    assert "Danh sách Tổ công nghệ số" in leader.text
    assert "Giáo viên" in leader.text and "Còn thiếu" in leader.text
    assert "Tổ phó / Đoàn viên" in leader.text.split("Còn thiếu")[1]
    await leader.press("Xác nhận danh sách")
    assert "Đã lưu" in leader.text and "thôi nhắc" in leader.text

    for moment in ("2024-09-19T07:30+07:00", "2024-09-20T07:30+07:00", "2024-09-24T08:00+07:00"):
        async with app.db.read() as conn:
            due = await reminders.due(conn, app.services, datetime.fromisoformat(moment))
        assert [n.recipient.unit_code for n in due] == ["duc-chanh-thon-2"], moment


async def test_the_plan_is_handed_in_as_a_document_or_typed_text(app: App) -> None:
    from core.events import Attachment

    clock = Clock(datetime.fromisoformat("2024-09-22T09:00+07:00"))
    officer = await join(app, "commune_officer", "duc-chanh", "off-1", clock=clock)
    await officer.send("/nop")
    assert "Anh/chị muốn nộp việc nào" in officer.text
    await officer.press("Gửi kế hoạch")
    assert "gửi file hoặc ảnh" in officer.text
    await officer.deliver(
        officer._event(attachment=Attachment("document", "FILE-1", "ke-hoach.pdf"))
    )
    assert "Đã lưu" in officer.text
    async with app.db.read() as conn:
        due = await reminders.due(
            conn, app.services, datetime.fromisoformat("2024-09-24T07:30+07:00")
        )
    assert [n.occurrence.deadline.key for n in due if n.occurrence.deadline] == [
        "team-consolidation"
    ]


async def test_officers_see_who_delivered_and_nudge_the_others_once(app: App) -> None:
    clock = Clock(datetime.fromisoformat("2024-09-19T09:00+07:00"))
    thon = await villages(app.db, "duc-chanh")
    officer = await join(app, "commune_officer", "duc-chanh", "off-2", clock=clock)
    leader = await join(app, "leader", thon[0], "lead-2", clock=clock)
    await leader.press("Tổ trưởng")
    await leader.send("/nop")
    await leader.press("Xác nhận danh sách")
    await add_people(app.db, "leader", thon[1:3], channel="local", start=70)

    await officer.send("/tiendo")
    assert f"1/{len(thon)} đã nộp" in officer.text
    await officer.press(f"Nhắc {len(thon) - 1} nơi")
    assert "Đã gửi lời nhắc tới 2 người" in officer.text
    await officer.send("/tiendo")
    await officer.press(f"Nhắc {len(thon) - 1} nơi")
    assert "tới 0 người" in officer.text  # once a day per officer
    async with app.db.read() as conn:
        assert (await outbox.counts(conn, "nudge:"))["pending"] == 2


# --- exactly once -------------------------------------------------------------------------
async def test_exactly_once_across_a_restart_and_stale_notices_are_dropped(
    app: App, database_url: str
) -> None:
    thon = await villages(app.db)
    await add_people(app.db, "leader", thon[:5])
    first = Recorder()
    scheduler = NoticeScheduler(app)
    assert (await scheduler.tick(SEPT_18)).new == 5
    await drain_all(OutboxSender(app.db, "telegram", first))
    assert len(first.sent) == 5

    again = await App.open(settings_for(database_url), migrate=False)
    try:
        second = Recorder()
        later = NoticeScheduler(again)
        assert (await later.tick(SEPT_18)).new == 0
        assert (await later.tick(datetime.fromisoformat("2024-09-19T07:00+07:00"))).new == 0
        # Down through the evening of 3/10: the next morning, that digest is stale.
        queued = await later.tick(datetime.fromisoformat("2024-10-04T06:30+07:00"))
        kinds = Counter(n.occurrence.kind for n in queued.notices)
        assert kinds == {"brief": 5, "reminder": 5}
        await drain_all(OutboxSender(again.db, "telegram", second))
        assert len(second.sent) == 10
        assert not any("digest:2024-10-03" in n.key for n in queued.notices)
    finally:
        await again.close()


async def test_two_processes_sending_at_once_deliver_each_notice_once(
    app: App, database_url: str
) -> None:
    thon = await villages(app.db)
    await add_people(app.db, "leader", thon * 3)  # ~200 leaders
    other = await App.open(settings_for(database_url), migrate=False)
    record = Recorder()
    try:

        async def process(instance: App) -> None:
            await NoticeScheduler(instance).tick(SEPT_18)
            await drain_all(OutboxSender(instance.db, "telegram", record))

        await asyncio.gather(process(app), process(other), process(app), process(other))
    finally:
        await other.close()
    counts = Counter(chat for chat, _ in record.sent)
    assert len(counts) == len(thon) * 3 + 0
    assert set(counts.values()) == {1}


async def test_the_scheduler_catches_up_at_start_with_stable_job_ids(app: App) -> None:
    await add_people(app.db, "leader", (await villages(app.db))[:3])
    scheduler = NoticeScheduler(app, clock=lambda: SEPT_18)
    assert "mo-duc-2024:sweep" in scheduler.job_ids(SEPT_18)
    assert "mo-duc-2024:deadline:team-consolidation:2024-09-19" in scheduler.job_ids(SEPT_18)
    assert scheduler.job_ids(SEPT_18) == NoticeScheduler(app).job_ids(SEPT_18)
    scheduler.start()
    try:
        for _ in range(100):
            async with app.db.read() as conn:
                if (await outbox.counts(conn, "deadline:"))["pending"] == 3:
                    break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the start-up sweep queued nothing")
    finally:
        scheduler.stop()


# --- fan-out through the real Telegram channel ------------------------------------------------
async def test_fan_out_to_1000_leaders_through_telegram_with_429s(app: App) -> None:
    from bot.channels.telegram import TelegramChannel, build_application

    thon = await villages(app.db)
    codes = [thon[i % len(thon)] for i in range(1000)]
    await add_people(app.db, "leader", codes, start=100_000)
    async with FakeTelegram() as tg:
        channel = TelegramChannel(
            build_application(tg.token, base_url=tg.base_url, rate_limit=0),
            app.dispatcher.handle,
        )
        await channel.open()
        try:
            queued = await NoticeScheduler(app).tick(SEPT_18)
            assert queued.new == 1000
            tg.fail_next("sendMessage", 2, retry_after=1)
            sender = OutboxSender(app.db, "telegram", channel.send_reply)
            started = time.perf_counter()
            again = asyncio.get_running_loop().call_later(0.5, tg.fail_next, "sendMessage", 1)
            for _ in range(200):
                result = await sender.drain(limit=100)
                async with app.db.read() as conn:
                    if (await outbox.counts(conn, "deadline:"))["pending"] == 0:
                        break
                if not (result.sent or result.retried):
                    await asyncio.sleep(0.1)
            elapsed = time.perf_counter() - started
            again.cancel()
        finally:
            await channel.close()
    async with app.db.read() as conn:
        counts = await outbox.counts(conn, "deadline:")
    assert counts == {"sent": 1000, "failed": 0, "pending": 0}
    per_chat = Counter(s.chat_id for s in tg.sent)
    assert len(per_chat) == 1000 and set(per_chat.values()) == {1}
    print(f"fan-out to 1000 leaders: {elapsed:.1f} s")


# --- the CLI -------------------------------------------------------------------------------------
def test_notify_due_and_send_twice_sends_once(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'n.db'}"
    imported(url)

    async def seed() -> None:
        db = Database(url)
        try:
            thon = await villages(db, "duc-chanh")
            await add_people(db, "leader", thon[:2], channel="local")
            await add_people(db, "commune_officer", ["duc-chanh"], channel="local", start=10)
        finally:
            await db.close()

    asyncio.run(seed())
    due = json.loads(ok(bot(url, "notify", "due", "--now", "2024-09-18T07:30+07:00", "--json")))
    assert sorted(item["role"] for item in due) == ["commune_officer", "leader", "leader"]
    assert all(item["deadline"] == "team-consolidation" for item in due)
    first = bot(url, "notify", "send", "--now", "2024-09-18T07:30+07:00", "--json")
    assert json.loads(ok(first)) == {"sent": 3, "already_sent": 0, "failed": 0, "pending": 0}
    assert first.stderr.count("📨") == 3
    second = json.loads(ok(bot(url, "notify", "send", "--now", "2024-09-18T07:30+07:00", "--json")))
    assert second == {"sent": 0, "already_sent": 3, "failed": 0, "pending": 0}
    assert (
        json.loads(ok(bot(url, "notify", "due", "--now", "2024-09-18T07:30+07:00", "--json"))) == []
    )
    assert (
        json.loads(ok(bot(url, "notify", "due", "--now", "2024-09-18T22:00+07:00", "--json"))) == []
    )


async def test_the_scheduler_applies_the_retention_policy_daily(app: App) -> None:
    from datetime import timedelta

    from db.repos import help_requests

    scheduler = NoticeScheduler(app)
    assert "mo-duc-2024:retention" in scheduler.job_ids(SEPT_18)
    async with app.db.transaction() as conn:
        request = await help_requests.create(
            conn,
            request_key="old",
            now=SEPT_18 - timedelta(days=90),
            village_code="duc-chanh-thon-1",
            topic="vneid",
            contact="0905 123 456",
            resident_channel="local",
            resident_chat_id="r-old",
            resident_name="Bà Cũ",
        )
    done = await scheduler.apply_retention(SEPT_18)
    assert done["help_expired"] == 1
    async with app.db.read() as conn:
        found = await help_requests.get(conn, request)
    assert found is not None and (found.contact, found.resident_name) == ("", None)

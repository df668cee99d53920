"""The outbox sender on real SQLite and PostgreSQL: once per key, retries, leases, concurrency.

The channel is a small fake: a send function that records (chat_id, Reply) and can be told to
fail the way channels fail (flood wait, blocked chat, a passing network error).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from bot.app import App
from bot.outbox import DeliveryError, OutboxSender
from core.events import Choice, Reply
from db.engine import Database
from db.repos import outbox
from db.schema import outbox as outbox_table

CHANNEL = "local"


class FakeChannel:
    """Records what was sent; `fail(chat_id)` returns the error to raise for that chat, if any."""

    def __init__(self, fail: Callable[[str], DeliveryError | None] | None = None) -> None:
        self.sent: list[tuple[str, Reply]] = []
        self.tries: list[str] = []
        self.fail = fail or (lambda _chat_id: None)

    async def send(self, chat_id: str, reply: Reply) -> None:
        self.tries.append(chat_id)
        await asyncio.sleep(0)  # let a concurrent sender run in between, as real I/O would
        error = self.fail(chat_id)
        if error is not None:
            raise error
        self.sent.append((chat_id, reply))


def notice(n: int) -> Reply:
    return Reply(f"Thông báo {n}", ((Choice(f"a:take:{n}", "🙋 Tôi nhận"),),))


async def queue(app: App, key: str, chat_id: str, reply: Reply) -> bool:
    async with app.db.transaction() as conn:
        return await outbox.enqueue(
            conn,
            key=key,
            channel=CHANNEL,
            chat_id=chat_id,
            payload=reply.to_json(),
            now=datetime.now(UTC),
        )


async def rows(app: App) -> list[dict]:
    async with app.db.read() as conn:
        result = await conn.execute(sa.select(outbox_table).order_by(outbox_table.c.id))
        return [dict(row._mapping) for row in result]


def later(**delta: float) -> datetime:
    return datetime.now(UTC) + timedelta(**delta)


async def test_a_notice_is_sent_as_queued_with_its_buttons(app: App) -> None:
    channel = FakeChannel()
    assert await queue(app, "help:1:7", "c1", notice(1))
    result = await OutboxSender(app.db, CHANNEL, channel.send).drain()
    assert result.sent == 1
    assert channel.sent == [("c1", notice(1))]
    (row,) = await rows(app)
    assert row["sent_at"] is not None and row["attempts"] == 1 and row["failed_at"] is None


async def test_the_same_key_queued_twice_is_sent_once(app: App) -> None:
    channel = FakeChannel()
    assert await queue(app, "help:1:7", "c1", notice(1)) is True
    assert await queue(app, "help:1:7", "c1", notice(2)) is False
    sender = OutboxSender(app.db, CHANNEL, channel.send)
    await sender.drain()
    await sender.drain(now=later(days=1))
    assert await queue(app, "help:1:7", "c1", notice(3)) is False  # even after it was sent
    await sender.drain(now=later(days=2))
    assert channel.sent == [("c1", notice(1))]


async def test_other_channels_rows_are_left_alone(app: App) -> None:
    channel = FakeChannel()
    await queue(app, "k1", "c1", notice(1))
    result = await OutboxSender(app.db, "zalo", channel.send).drain()
    assert result.sent == 0 and channel.tries == []
    assert (await rows(app))[0]["attempts"] == 0


async def test_a_flood_wait_is_retried_after_the_time_the_channel_asked_for(app: App) -> None:
    failures = iter([DeliveryError("429 Too Many Requests", retry_after=0.2)])
    channel = FakeChannel(lambda _chat: next(failures, None))
    await queue(app, "k1", "c1", notice(1))
    sender = OutboxSender(app.db, CHANNEL, channel.send)
    before = datetime.now(UTC)

    result = await sender.drain()
    assert (result.sent, result.retried, result.failed) == (0, 1, 0)
    (row,) = await rows(app)
    assert row["sent_at"] is None and row["failed_at"] is None
    assert row["last_error"] == "429 Too Many Requests"
    assert row["claimed_until"] > before  # not before the time asked for

    assert (await sender.drain(now=before)).sent == 0  # too early: left alone
    assert channel.sent == []
    result = await sender.drain(now=later(seconds=5))
    assert result.sent == 1
    assert channel.sent == [("c1", notice(1))]
    (row,) = await rows(app)
    assert row["attempts"] == 2 and row["sent_at"] is not None


async def test_a_permanent_failure_is_recorded_and_never_retried(app: App) -> None:
    channel = FakeChannel(
        lambda chat: DeliveryError("403 bot was blocked", permanent=True) if chat == "c1" else None
    )
    await queue(app, "k1", "c1", notice(1))
    await queue(app, "k2", "c2", notice(2))
    sender = OutboxSender(app.db, CHANNEL, channel.send)
    result = await sender.drain()
    assert (result.sent, result.failed, result.retried) == (1, 1, 0)
    for day in range(1, 4):
        await sender.drain(now=later(days=day))
    assert channel.tries == ["c1", "c2"]
    blocked, delivered = await rows(app)
    assert blocked["failed_at"] is not None and blocked["sent_at"] is None
    assert blocked["attempts"] == 1
    assert "blocked" in blocked["last_error"]
    assert delivered["sent_at"] is not None
    async with app.db.read() as conn:
        assert await outbox.counts(conn, "k") == {"sent": 1, "failed": 1, "pending": 0}


async def test_a_passing_failure_backs_off_and_gives_up_after_max_attempts(app: App) -> None:
    channel = FakeChannel(lambda _chat: DeliveryError("connection reset"))
    await queue(app, "k1", "c1", notice(1))
    sender = OutboxSender(app.db, CHANNEL, channel.send)
    waits = []
    for attempt in range(1, outbox.MAX_ATTEMPTS + 1):
        tried_at = datetime.now(UTC)
        result = await sender.drain(now=later(days=attempt))
        (row,) = await rows(app)
        assert row["attempts"] == attempt
        if attempt < outbox.MAX_ATTEMPTS:
            assert result.retried == 1 and row["failed_at"] is None
            waits.append((row["claimed_until"] - tried_at).total_seconds())
        else:
            assert result.failed == 1 and row["failed_at"] is not None
    assert waits == sorted(waits) and waits[0] < waits[-1]  # waits grow
    for day in range(20, 23):
        await sender.drain(now=later(days=day))
    assert len(channel.tries) == outbox.MAX_ATTEMPTS
    assert channel.sent == []


async def test_two_senders_draining_together_send_each_row_exactly_once(
    app: App, database_url: str
) -> None:
    """Two processes' senders (two engines) on the same rows: SKIP LOCKED on PostgreSQL,
    one writer at a time on SQLite."""
    for n in range(40):
        await queue(app, f"k{n}", f"c{n}", notice(n))
    other_db = Database(database_url)
    channel_a, channel_b = FakeChannel(), FakeChannel()
    senders = [
        OutboxSender(app.db, CHANNEL, channel_a.send),
        OutboxSender(other_db, CHANNEL, channel_b.send),
    ]

    async def keep_draining(sender: OutboxSender) -> None:
        while (await sender.drain(limit=3)).sent:
            pass

    try:
        await asyncio.wait_for(asyncio.gather(*(keep_draining(s) for s in senders)), 60)
    finally:
        await other_db.close()
    sent = [chat for chat, _ in channel_a.sent + channel_b.sent]
    assert sorted(sent) == sorted(f"c{n}" for n in range(40))
    assert all(row["sent_at"] is not None and row["attempts"] == 1 for row in await rows(app))


async def test_rows_another_sender_is_claiming_are_skipped_not_waited_for(
    app: App, database_url: str
) -> None:
    if app.db.is_sqlite:
        pytest.skip("SQLite has one writer at a time: claims are serial there")
    for n in range(6):
        await queue(app, f"k{n}", f"c{n}", notice(n))
    other_db = Database(database_url)
    now = datetime.now(UTC)
    try:
        async with app.db.transaction() as first:
            mine = await outbox.claim(first, CHANNEL, now, limit=3)
            # The first claim is not committed yet: its rows are locked, not yet leased.
            async with other_db.transaction() as second:
                theirs = await asyncio.wait_for(outbox.claim(second, CHANNEL, now, limit=3), 5)
    finally:
        await other_db.close()
    assert [r.chat_id for r in mine] == ["c0", "c1", "c2"]
    assert [r.chat_id for r in theirs] == ["c3", "c4", "c5"]


async def test_a_claimed_row_is_not_taken_again_before_its_lease_ends(app: App) -> None:
    await queue(app, "k1", "c1", notice(1))
    now = datetime.now(UTC)
    async with app.db.transaction() as conn:
        assert len(await outbox.claim(conn, CHANNEL, now)) == 1
    async with app.db.transaction() as conn:
        assert await outbox.claim(conn, CHANNEL, now + timedelta(seconds=60)) == []
    # The sender died without sending: after the lease, another one sends it.
    channel = FakeChannel()
    await OutboxSender(app.db, CHANNEL, channel.send).drain(now=now + timedelta(minutes=3))
    assert channel.sent == [("c1", notice(1))]


async def test_a_long_flood_wait_does_not_make_the_rest_of_the_batch_sent_twice(
    app: App,
) -> None:
    """Time is compressed: the first sender's batch is claimed 119.5 s in the past, so its
    lease ends half a second from now, while it waits 1.5 s on a flood-wait."""
    flood = iter([DeliveryError("429 Too Many Requests", retry_after=1.5)])
    slow = FakeChannel(lambda chat: next(flood, None) if chat == "c0" else None)
    fast = FakeChannel()
    for n in range(3):
        await queue(app, f"k{n}", f"c{n}", notice(n))
    first = OutboxSender(app.db, CHANNEL, slow.send)
    second = OutboxSender(app.db, CHANNEL, fast.send)

    async def second_sender_later() -> None:
        await asyncio.sleep(0.8)
        await second.drain()

    await asyncio.gather(
        first.drain(now=datetime.now(UTC) - timedelta(seconds=119.5)), second_sender_later()
    )
    sent = [chat for chat, _ in slow.sent + fast.sent]
    assert sorted(sent) == ["c1", "c2"]


async def test_run_sends_at_once_when_woken_and_stops_when_asked(app: App) -> None:
    channel = FakeChannel()
    delivered = asyncio.Event()

    async def send(chat_id: str, reply: Reply) -> None:
        await channel.send(chat_id, reply)
        delivered.set()

    wakeup, stop = asyncio.Event(), asyncio.Event()
    sender = OutboxSender(app.db, CHANNEL, send, wakeup)
    task = asyncio.create_task(sender.run(stop, idle=60))
    await asyncio.sleep(0.2)  # idle now: nothing queued
    await queue(app, "k1", "c1", notice(1))
    wakeup.set()
    await asyncio.wait_for(delivered.wait(), 5)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert channel.sent == [("c1", notice(1))]


async def test_old_ledger_rows_finished_outbox_rows_and_questions_are_pruned(app: App) -> None:
    from datetime import timedelta

    from db.repos import outbox as outbox_repo
    from db.repos import questions, updates
    from handlers.services import retention

    now = datetime(2024, 12, 1, tzinfo=UTC)
    old, recent = now - timedelta(days=60), now - timedelta(days=10)
    async with app.db.transaction() as conn:
        for key, at in (("old", old), ("recent", recent)):
            await updates.record(conn, "local", "c", key, [], at)
            await outbox_repo.enqueue(
                conn,
                key=f"k-{key}",
                channel="local",
                chat_id="c",
                payload={"text": "x", "choices": []},
                now=at,
            )
        await outbox_repo.enqueue(
            conn,
            key="k-old-pending",
            channel="local",
            chat_id="c",
            payload={"text": "x", "choices": []},
            now=old,
        )
        for row in await outbox_repo.claim(conn, "local", now, limit=10):
            if row.key != "k-old-pending":
                await outbox_repo.mark_sent(conn, row.id, now)
        await questions.record(
            conn,
            at=now - timedelta(days=400),
            channel="local",
            role="resident",
            text="cũ",
            kind="none",
            guide_id=None,
            score=0.0,
        )
        await questions.record(
            conn,
            at=recent,
            channel="local",
            role="resident",
            text="mới",
            kind="none",
            guide_id=None,
            score=0.0,
        )
        pruned = await retention.prune(conn, now)
    assert pruned == {
        "ledger": 1,
        "outbox": 1,
        "questions": 1,
        "conversations": 0,
        "invites": 0,
        "help_anonymised": 0,
        "help_expired": 0,
        "offers": 0,
    }
    async with app.db.read() as conn:
        assert await updates.replies_of(conn, "local", "c", "recent") == []
        assert await updates.replies_of(conn, "local", "c", "old") is None
        left = [q["text"] for q in await questions.unanswered(conn, None)]
    assert left == ["mới"]

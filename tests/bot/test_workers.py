"""Several workers, one PostgreSQL database: two real `python -m bot run` processes in webhook
mode behind a round-robin proxy (tests/auxil/rr_proxy.py), one of them killed mid-burst.

The test plays Telegram: it posts each update to the proxy and, like Telegram, posts it again
until it is answered 200. Every answered report must be stored exactly once, conversations
must go on whichever worker gets the next step, the outbox must be sent once across workers,
and `notify send` started twice at the same instant must send each notice once.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

from bench.fake_telegram import FakeTelegram
from bench.proxy import RoundRobin
from bench.workers import free_port, wait_ready, worker_settings
from bot.app import App
from db.repos import outbox, people, units
from db.schema import unit_stats, visits
from handlers.services import invites
from tests.auxil.process import operator_env, start_bot
from tests.conftest import settings_for

ROOT = Path(__file__).resolve().parents[2]
VILLAGES = ["duc-chanh-thon-1", "duc-chanh-thon-2", "duc-hiep-thon-1"]
SECRET = "workers-test-secret-0123456789"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


async def _start_worker(tg: FakeTelegram, database_url: str, port: int) -> Any:
    return await start_bot(operator_env(**worker_settings(tg, database_url, port, SECRET)))


async def _stop(process: Any) -> str:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()
    return (await process.stderr.read()).decode(errors="replace")


async def _register(app: App, users: list[int]) -> None:
    now = datetime.now(UTC)
    async with app.db.transaction() as conn:
        for index, user in enumerate(users):
            invite = await invites.create(
                conn,
                inviter=None,
                role="member",
                unit_code=VILLAGES[index % len(VILLAGES)],
                uses=1,
                expires_in=timedelta(days=1),
                now=now,
            )
            await invites.redeem(
                conn,
                code=invite.code,
                channel="telegram",
                external_id=str(user),
                chat_id=str(user),
                display_name=f"Thành viên {index}",
                current=None,
                now=now,
            )


class Platform:
    """Telegram's side: updates are made by the fake server, pushed through the proxy."""

    def __init__(self, tg: FakeTelegram, session: aiohttp.ClientSession, url: str) -> None:
        self.tg, self.session, self.url = tg, session, url
        self.acknowledged: list[int] = []
        self.retries = 0

    def _take(self, update_id: int) -> dict[str, Any]:
        update = next(u for u in self.tg.pending if u["update_id"] == update_id)
        self.tg.pending.remove(update)
        return update

    async def push(self, update_id: int) -> None:
        """Post until answered 200 (Telegram retries an update that was not)."""
        update = self._take(update_id)
        for _attempt in range(200):
            try:
                async with self.session.post(
                    self.url + "/webhook/telegram", json=update, headers={SECRET_HEADER: SECRET}
                ) as response:
                    if response.status == 200:
                        self.acknowledged.append(update_id)
                        return
            except aiohttp.ClientError:
                pass
            self.retries += 1
            await asyncio.sleep(0.05)
        raise AssertionError(f"update {update_id} was never acknowledged")

    async def says(self, user: int, text: str) -> int:
        update_id = self.tg.user_says(user, text)
        await self.push(update_id)
        return update_id

    async def presses(self, user: int, label: str) -> None:
        await self.push(self.tg.user_presses(user, label))


async def test_two_workers_behind_a_proxy_lose_and_double_nothing(
    app: App, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("several worker processes share one PostgreSQL database")
    users = [7100 + index for index in range(12)]
    await _register(app, users)
    ports = [free_port(), free_port()]
    upstreams = [f"http://127.0.0.1:{port}" for port in ports]
    async with (
        FakeTelegram() as tg,
        RoundRobin(upstreams) as proxy,
        aiohttp.ClientSession() as session,
    ):
        workers = [await _start_worker(tg, database_url, port) for port in ports]
        logs: list[str] = []
        try:
            for upstream in upstreams:
                await wait_ready(session, upstream)
            platform = Platform(tg, session, proxy.url)

            # 1. A guided report per member, every step through the proxy: consecutive steps
            # land on different workers, and the conversation goes on from the database.
            async def guided(user: int) -> None:
                await platform.says(user, "/baocao")
                await platform.says(user, f"Hộ dẫn {user}")
                await platform.presses(user, "Bỏ qua")
                await platform.presses(user, "Thanh toán online")
                await platform.presses(user, "Xong")
                await platform.presses(user, "Có")
                await platform.presses(user, "Lưu")
                await tg.wait_text(user, "Đã lưu báo cáo hộ")

            await asyncio.gather(*(guided(user) for user in users))
            assert min(proxy.served.values()) > len(users)  # both workers took steps

            # 2. A burst of quick reports from every member; one worker is killed mid-burst.
            per_user = 8
            quick: list[int] = []
            third = asyncio.Event()

            async def burst(user: int) -> None:
                for number in range(per_user):
                    text = f"/bc Hộ nhanh {user}-{number}; xóm {number}; dvc,tt; dk2=1"
                    quick.append(await platform.says(user, text))
                    if len(quick) >= len(users) * per_user // 3:
                        third.set()

            async def killer() -> None:
                await third.wait()
                workers[0].send_signal(signal.SIGKILL)

            await asyncio.gather(killer(), *(burst(user) for user in users))
            await workers[0].wait()
            assert len(quick) == len(users) * per_user
            assert proxy.failed >= 1  # requests did hit the dead worker, and were retried

            async with app.db.read() as conn:
                keys = Counter(
                    (
                        await conn.execute(
                            sa.select(visits.c.request_key).where(visits.c.deleted_at.is_(None))
                        )
                    ).scalars()
                )
                reports = (
                    await conn.execute(
                        sa.select(unit_stats.c.reports).where(unit_stats.c.unit_code == "mo-duc")
                    )
                ).scalar_one()
            doubled = {key: n for key, n in keys.items() if n > 1}
            assert doubled == {}
            missing = [u for u in quick if f"telegram:{u}" not in keys]
            assert missing == []
            assert len(keys) == len(users) * (per_user + 1)
            assert reports == len(keys)  # the aggregates counted each report once
            for user in users:  # every acknowledged quick report was answered
                saved = [t for t in tg.texts_to(user) if "Đã lưu" in t and "Hộ nhanh" in t]
                assert len({t.split("Hộ nhanh")[1][:12] for t in saved}) == per_user

            # 3. The outbox, drained by the surviving worker and a fresh one side by side.
            workers[0] = await _start_worker(tg, database_url, ports[0])
            await wait_ready(session, upstreams[0])
            now = datetime.now(UTC)
            async with app.db.transaction() as conn:
                for user in users:
                    for number in range(10):
                        await outbox.enqueue(
                            conn,
                            key=f"workers-test:{user}:{number}",
                            channel="telegram",
                            chat_id=str(user),
                            payload={"text": f"Tin nhắn hàng đợi số {number}", "choices": []},
                            now=now,
                        )
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60
            while loop.time() < deadline:
                async with app.db.read() as conn:
                    left = await outbox.counts(conn, "workers-test:")
                if left["pending"] == 0:
                    break
                await asyncio.sleep(0.2)
            assert left == {"sent": len(users) * 10, "failed": 0, "pending": 0}
            for user in users:
                queued = [t for t in tg.texts_to(user) if t.startswith("Tin nhắn hàng đợi")]
                assert sorted(queued) == sorted(f"Tin nhắn hàng đợi số {n}" for n in range(10))
        finally:
            for worker in workers:
                logs.append(await _stop(worker))
    for log in logs[1:]:  # the killed worker's log may end mid-line
        assert "Traceback" not in log, log


async def _notify_send(tg: FakeTelegram, database_url: str, now: str) -> Any:
    env = dict(
        os.environ,
        TELEGRAM_TOKEN=tg.token,
        TELEGRAM_BASE_URL=tg.base_url,
        TELEGRAM_RATE_LIMIT="0",
        DATABASE_URL=database_url,
        LOG_LEVEL="WARNING",
    )
    return await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "bot", "notify", "send", "--now", now, "--json"),
        cwd=ROOT,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _leaders(app: App, count: int, start: int) -> list[int]:
    now = datetime.now(UTC)
    async with app.db.read() as conn:
        thon = [u.code for u in await units.all_units(conn) if u.kind == "village"]
    chats = []
    async with app.db.transaction() as conn:
        for number in range(start, start + count):
            await people.create(
                conn,
                role="leader",
                unit_code=thon[number % len(thon)],
                display_name=f"Tổ trưởng {number}",
                channel="telegram",
                external_id=str(number),
                chat_id=str(number),
                now=now,
            )
            chats.append(number)
    return chats


async def test_notify_send_from_two_processes_at_once_sends_each_notice_once(
    app: App, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("two processes sending at once is the PostgreSQL deployment")
    chats = await _leaders(app, 150, start=300_000)
    async with FakeTelegram() as tg:
        processes = [await _notify_send(tg, database_url, "2024-09-18T07:30+07:00") for _ in "ab"]
        outputs = [await process.communicate() for process in processes]
    for process, (_out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err.decode()
        assert "Traceback" not in err.decode()
    results = [json.loads(out) for out, _err in outputs]
    per_chat = Counter(sent.chat_id for sent in tg.sent if sent.method == "sendMessage")
    assert set(per_chat) == set(chats)
    assert set(per_chat.values()) == {1}  # each leader's reminder went exactly once
    assert sum(r["failed"] for r in results) == 0
    assert all(r["pending"] == 0 for r in results)
    async with app.db.read() as conn:
        assert (await outbox.counts(conn, "deadline:")) == {
            "sent": len(chats),
            "failed": 0,
            "pending": 0,
        }


async def test_the_scheduler_of_several_workers_queues_each_notice_once(
    app: App, database_url: str
) -> None:
    """Every worker runs the plan's scheduler; ticks at the same instant queue once."""
    from bot.notify import NoticeScheduler

    chats = await _leaders(app, 60, start=400_000)
    others = [await App.open(settings_for(database_url)) for _ in range(2)]
    try:
        moment = datetime.fromisoformat("2024-09-18T07:30+07:00")
        ticks = await asyncio.gather(
            *(NoticeScheduler(worker).tick(moment) for worker in [app, *others])
        )
    finally:
        for other in others:
            await other.close()
    assert sum(tick.new for tick in ticks) == len(chats)
    async with app.db.read() as conn:
        counts = await outbox.counts(conn, "deadline:")
    assert counts == {"sent": 0, "failed": 0, "pending": len(chats)}

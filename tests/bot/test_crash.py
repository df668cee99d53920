"""Kill the real bot process mid-flow and between commit and acknowledgement: nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime, timedelta

from bench.fake_telegram import FakeTelegram
from bot.app import App
from handlers.services import invites, stats
from tests.auxil.process import operator_env, start_bot

VILLAGE = "duc-chanh-thon-1"
USER = 6001


async def _start_bot(fake: FakeTelegram, database_url: str) -> asyncio.subprocess.Process:
    return await start_bot(
        operator_env(
            TELEGRAM_TOKEN=fake.token,
            TELEGRAM_BASE_URL=fake.base_url,
            TELEGRAM_RATE_LIMIT="0",
            DATABASE_URL=database_url,
            LOG_LEVEL="WARNING",
        )
    )


async def _kill(process: asyncio.subprocess.Process) -> None:
    process.send_signal(signal.SIGKILL)
    await process.wait()


async def _reports(app: App) -> int:
    async with app.db.read() as conn:
        return (await stats.for_unit(conn, app.services.plan, VILLAGE))["reports"]


async def test_killed_bot_loses_nothing_and_doubles_nothing(app: App, database_url: str) -> None:
    async with app.db.transaction() as conn:
        invite = await invites.create(
            conn,
            inviter=None,
            role="member",
            unit_code=VILLAGE,
            uses=1,
            expires_in=timedelta(days=7),
            now=datetime.now(UTC),
        )
    async with FakeTelegram() as tg:
        bot = await _start_bot(tg, database_url)
        try:
            await tg.say_and_wait(USER, f"/start {invite.code}", replies=2)
            await tg.press_and_wait(USER, "Hội Phụ nữ", replies=2)
            await tg.say_and_wait(USER, "/baocao")
            await tg.say_and_wait(USER, "Võ Thị Em")
            # 1. Killed mid-flow: the conversation survives in the database.
            await _kill(bot)
            bot = await _start_bot(tg, database_url)
            # The last update may come again if it was not yet acknowledged (its stored reply
            # is re-sent); then the next step continues from the saved state.
            tg.user_presses(USER, "Bỏ qua")
            await tg.wait_text(USER, "đã hướng dẫn những gì")
            await tg.press_and_wait(USER, "Thanh toán online")
            await tg.press_and_wait(USER, "Xong")
            await tg.press_and_wait(USER, "Có")
            # 2. Killed after the report committed but before the update was acknowledged:
            # sending the reply hangs, so the process dies between commit and offset.
            tg.hold_send = asyncio.Event()
            sent_before = len(tg.texts_to(USER))
            tg.user_presses(USER, "Lưu")
            for _ in range(100):
                if await _reports(app) == 1:
                    break
                await asyncio.sleep(0.1)
            assert await _reports(app) == 1
            await _kill(bot)
            tg.hold_send.set()  # let the dead process's pending request finish on the server
            tg.hold_send = None
            bot = await _start_bot(tg, database_url)
            # Telegram delivers the unacknowledged "Lưu" again: the stored reply is sent, once more.
            await tg.wait_text(USER, "Đã lưu báo cáo hộ")
            assert len(tg.texts_to(USER)) >= sent_before + 1
            assert await _reports(app) == 1
            await tg.say_and_wait(USER, "/bc Đặng Văn Phúc; ; dvc")
            assert await _reports(app) == 2
        finally:
            if bot.returncode is None:
                bot.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(bot.wait(), 10)
                except TimeoutError:
                    await _kill(bot)
            assert bot.stderr is not None
            errors = (await bot.stderr.read()).decode()
            assert "Traceback" not in errors, errors

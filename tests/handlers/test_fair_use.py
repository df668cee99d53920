"""Fair use: one person's flood gets one "please slow down", then silence; help requests capped.

The limit is checked by the real dispatcher before any database work; the clock is a settable
one, so the window is exact. Help requests go through the real flow and the outbox.
"""

from __future__ import annotations

import sqlalchemy as sa

from bot.app import App, fair_use_limits
from db.schema import help_requests as help_requests_table
from db.schema import outbox as outbox_table
from db.schema import processed_updates
from handlers import helpdesk
from handlers.fairuse import FairUse, Limits, Verdict
from handlers.services import helpdesk as helpdesk_rules
from tests.auxil.chat import Chat, Clock, join
from tests.conftest import settings_for

VILLAGE = "duc-chanh-thon-1"
SLOW_DOWN = "Bạn gửi tin nhanh quá"


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_window_allows_the_limit_then_one_warning_then_silence_until_it_passes() -> None:
    ticks = Ticks()
    limiter = FairUse(Limits(messages=3, window=60, metered_messages=0), clock=ticks)
    verdicts = [limiter.check("telegram", "1") for _ in range(6)]
    assert verdicts == [Verdict.ALLOW] * 3 + [Verdict.SLOW_DOWN] + [Verdict.DROP] * 2
    assert limiter.check("telegram", "2") is Verdict.ALLOW  # someone else is not affected
    ticks.now += 59
    assert limiter.check("telegram", "1") is Verdict.DROP
    ticks.now += 1
    assert limiter.check("telegram", "1") is Verdict.ALLOW
    assert [limiter.check("telegram", "1") for _ in range(3)] == [
        Verdict.ALLOW,
        Verdict.ALLOW,
        Verdict.SLOW_DOWN,
    ]


def test_unregistered_chats_on_metered_channels_get_the_tighter_limit() -> None:
    limiter = FairUse(Limits(messages=5, window=60, metered_messages=2), clock=Ticks())
    assert limiter.limit_for("zalo", "stranger") == 2
    assert limiter.limit_for("telegram", "stranger") == 5
    limiter.registered("zalo", "member")
    assert limiter.limit_for("zalo", "member") == 5


def test_limits_come_from_the_settings() -> None:
    settings = settings_for(
        "sqlite+aiosqlite://",
        fair_use_messages=7,
        fair_use_window=30,
        fair_use_metered_messages=2,
        fair_use_metered_channels="zalo, zalo_oa",
    )
    assert fair_use_limits(settings) == Limits(7, 30.0, 2, frozenset({"zalo", "zalo_oa"}))


def test_memory_stays_bounded_under_many_accounts() -> None:
    ticks = Ticks()
    limiter = FairUse(Limits(messages=2, window=60), clock=ticks, max_accounts=100)
    for user in range(1000):
        limiter.check("zalo", str(user))
    assert len(limiter._accounts) <= 100


async def test_a_flood_through_the_dispatcher_gets_the_limit_and_one_warning_and_writes_nothing_more(
    app: App,
) -> None:
    ticks = Ticks()
    app.dispatcher.fair_use = FairUse(
        Limits(messages=5, window=60, metered_messages=0), clock=ticks
    )
    flooder = Chat(app, "flooder")
    answered = [await flooder.send("cảm ơn") for _ in range(30)]
    texts = [r.text for replies in answered for r in replies]
    assert len(texts) == 6
    assert texts[-1].startswith("Bạn gửi tin nhanh quá") and "60 giây" in texts[-1]
    async with app.db.read() as conn:
        handled = await conn.execute(sa.select(sa.func.count()).select_from(processed_updates))
        assert handled.scalar_one() == 5  # the rest never reached the database
    other = Chat(app, "other")
    assert (await other.send("cảm ơn"))[0].text.startswith("Dạ, không có chi")
    ticks.now += 60
    assert (await flooder.send("cảm ơn"))[0].text.startswith("Dạ, không có chi")


# --- help requests ---------------------------------------------------------------------------
async def ask(resident: Chat) -> None:
    await resident.send("/lienhe")
    await resident.press("Đức Chánh")
    await resident.press("Thôn 1")
    await resident.press("Hẹn người đến nhà")
    if not resident.screen[-1].choices:
        return  # refused at once: a cap
    await resident.press("VNeID")
    await resident.send("0905 123 456")
    await resident.press("Đồng ý")


async def counts(app: App) -> tuple[int, int]:
    async with app.db.read() as conn:
        requests = await conn.execute(sa.select(sa.func.count()).select_from(help_requests_table))
        notices = await conn.execute(
            sa.select(sa.func.count())
            .select_from(outbox_table)
            .where(outbox_table.c.key.like("help:%"))
        )
        return requests.scalar_one(), notices.scalar_one()


async def test_ten_help_requests_from_one_chat_create_the_cap_and_its_notices(app: App) -> None:
    clock = Clock()
    team = [await join(app, "member", VILLAGE, f"m{i}", clock=clock) for i in range(3)]
    resident = Chat(app, "resident", clock=clock, name="Bà Năm")
    for _ in range(10):
        await ask(resident)
    cap = helpdesk_rules.MAX_OPEN_PER_CHAT_PER_DAY
    assert await counts(app) == (cap, cap * len(team))
    assert "Hôm nay bạn đã gửi 2 yêu cầu" in resident.text
    # The next day (Vietnam time) the resident may ask again.
    clock.advance(days=1)
    await ask(resident)
    assert await counts(app) == (cap + 1, (cap + 1) * len(team))


async def test_a_village_takes_a_capped_number_of_requests_a_day(app: App) -> None:
    clock = Clock()
    await join(app, "member", VILLAGE, "m", clock=clock)
    cap = helpdesk_rules.MAX_OPEN_PER_VILLAGE_PER_DAY
    for number in range(cap // 2 + 1):
        resident = Chat(app, f"r{number}", clock=clock)
        await ask(resident)
        await ask(resident)
    requests, notices = await counts(app)
    assert (requests, notices) == (cap, cap)
    assert "đã có nhiều yêu cầu đang chờ" in resident.text


async def test_open_requests_are_paged_with_next_and_previous(app: App) -> None:
    clock = Clock()
    member = await join(app, "member", VILLAGE, "m", clock=clock)
    await member.press("Giáo viên")
    for number in range(6):
        resident = Chat(app, f"r{number}", clock=clock, name=f"Người {number:02d}")
        await ask(resident)
        await ask(resident)
    page = await member.send("/yeucau")
    size = helpdesk.PAGE_SIZE
    assert len(page) == size + 1 and "Trang 1/3" in page[-1].text
    assert [c.label for c in page[-1].flat_choices()] == ["Trang sau ▶"]
    page = await member.press("Trang sau")
    assert len(page) == size + 1 and "Trang 2/3" in page[-1].text
    assert [c.label for c in page[-1].flat_choices()] == ["◀ Trang trước", "Trang sau ▶"]
    page = await member.press("Trang sau")
    assert len(page) == 12 - 2 * size + 1 and "Trang 3/3" in page[-1].text
    page = await member.press("Trang trước")
    assert "Trang 2/3" in page[-1].text
    # Every request on a page has its own "Tôi nhận", and it works.
    taken = await member.press_data(page[0].flat_choices()[0].data)
    assert "Người 02" in taken[0].text

"""The Zalo Official Account channel (bot/channels/zalo_oa.py), opened from settings through the
table of channels, behind the real webhook server, against a fake OA platform over HTTP that
enforces signatures, token expiry and rotation, and the messaging window."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import re
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

from bot.app import App
from bot.channels import registry
from bot.channels.base import TokenRefused
from bot.channels.zalo_oa import (
    BUTTON_PREFIX,
    TokenStore,
    ZaloOAChannel,
    messages_for,
    seed_digest,
)
from bot.outbox import OutboxSender
from bot.webhook import Endpoints, Hook, WebhookServer
from core.events import Choice, Reply
from db.repos import oa_tokens, outbox, people
from db.schema import processed_updates, visits
from handlers.services import accounts, invites, stats
from tests.auxil.fake_zalo_oa import FakeZaloOA, now_ms, sign
from tests.auxil.process import operator_env, start_bot
from tests.bot.test_channels import _free_port
from tests.bot.test_notify import drain_all
from tests.conftest import settings_for

OA = "3886132808788086450"
OA2 = "4886132808788086451"
COMMUNE = "duc-chanh"
VILLAGE = "duc-chanh-thon-1"
RESIDENT, MEMBER = "2468458835296197922", "2468458835296197923"


@dataclass
class Served:
    app: App
    fake: FakeZaloOA
    live: registry.Live
    url: str

    @property
    def channel(self) -> ZaloOAChannel:
        assert isinstance(self.live.channel, ZaloOAChannel)
        return self.live.channel

    async def say(self, user: str, text: str, replies: int = 1, oa: str = OA) -> list[str]:
        before = len(self.fake.texts_to(user, oa))
        status = await self.fake.post(self.url, self.fake.text_event(oa, user, text))
        assert status == 200
        await self.wait(user, before + replies, oa)
        return self.fake.texts_to(user, oa)[before:]

    async def press(self, user: str, label: str, oa: str = OA) -> list[str]:
        """Press the button whose title holds ``label`` on the last message with buttons."""
        last = [m for m in self.fake.sent if m["user_id"] == user and m["buttons"]][-1]
        button = next(b for b in last["buttons"] if label in b["title"])
        return await self.say(user, button["payload"], oa=oa)

    async def wait(self, user: str, count: int, oa: str = OA) -> list[str]:
        for _ in range(500):
            texts = self.fake.texts_to(user, oa)
            if len(texts) >= count:
                await asyncio.sleep(0.05)
                return texts[count - 1 :] if count else []
            await asyncio.sleep(0.02)
        raise AssertionError(f"{user} got {self.fake.texts_to(user)[-3:]}")


def oa_settings(app: App, fake: FakeZaloOA, refresh: str, **more: Any) -> Any:
    return settings_for(
        app.settings.database_url,
        zalo_oa_app_id=fake.app_id,
        zalo_oa_app_secret=fake.app_secret,
        zalo_oa_secret_key=fake.oa_secret,
        zalo_oa_id=OA,
        zalo_oa_unit=COMMUNE,
        zalo_oa_refresh_token=refresh,
        zalo_oa_webhook_url="https://bot.example.vn",
        zalo_oa_api_url=fake.base_url,
        zalo_oa_oauth_url=fake.base_url,
        **more,
    )


@pytest.fixture
async def served(app: App) -> AsyncIterator[Served]:
    async with FakeZaloOA() as fake:
        refresh = fake.add_oa(OA, "UBND xã Đức Chánh")
        settings = oa_settings(app, fake, refresh)
        with_settings = dataclasses.replace(app, settings=settings)
        rows = [row for row in registry.served(settings) if row.name == "zalo_oa"]
        assert len(rows) == 1
        opened = await registry.open_channels(with_settings, rows)
        live = opened.live["zalo_oa"]
        secrets = registry.webhook_secrets(settings)
        server = WebhookServer(Endpoints([Hook(live.channel, secrets["zalo_oa"])]), "127.0.0.1:0")  # type: ignore[arg-type]
        await server.start()
        stop = asyncio.Event()
        sender = asyncio.create_task(live.sender.run(stop, idle=0.1))
        url = f"http://127.0.0.1:{server.bound_port}/webhook/zalo_oa"
        yield Served(app, fake, live, url)
        stop.set()
        await sender
        await server.stop()
        await opened.close()


async def _count(app: App, table: sa.Table) -> int:
    async with app.db.read() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one())


async def _invite(app: App, role: str = "member") -> str:
    async with app.db.transaction() as conn:
        invite = await invites.create(
            conn,
            inviter=None,
            role=role,
            unit_code=VILLAGE,
            uses=1,
            expires_in=timedelta(days=7),
            now=datetime.now(UTC),
        )
    return invite.code


def option(text: str, label: str) -> str:
    match = re.search(rf"^(\d+)\. .*{re.escape(label)}", text, flags=re.MULTILINE)
    assert match, f"{label!r} not offered in:\n{text}"
    return match.group(1)


# --- the scenario of the issue ---------------------------------------------------------------
async def test_a_communes_oa_answers_a_resident_and_a_members_report(served: Served) -> None:
    fake, app = served.fake, served.app
    # A resident follows the OA: welcomed.
    status = await fake.post(served.url, fake.follow_event(OA, RESIDENT))
    assert status == 200
    welcome = await served.wait(RESIDENT, 1)
    assert "Xin chào" in welcome[0]
    # Their question is answered with the guide's first step; "Tiếp" is a button and a number.
    answer = await served.say(RESIDENT, "lam sao kich hoat vneid")
    assert "Kích hoạt tài khoản VNeID" in answer[0] and "Bước 1/" in answer[0]
    step2 = await served.press(RESIDENT, "Tiếp")
    assert "Bước 2/" in step2[0]

    # A member joins with an invite code and files a report with the quick form.
    code = await _invite(app)
    joined = await served.say(MEMBER, f"dangky {code}", replies=2)
    assert "Thành viên Tổ" in joined[0]
    await served.say(MEMBER, option(joined[1], "Giáo viên"), replies=2)
    quick = await served.say(MEMBER, "/bc Lê Thị Hoa; thôn 1; dvc,tt,atm; dk2=2 kh=1 thanhthao=1")
    assert "Đã lưu" in quick[0]
    async with app.db.read() as conn:
        figures = await stats.for_unit(conn, app.services.plan, VILLAGE)
        member = await people.by_account(conn, "zalo_oa", f"{OA}:{MEMBER}")
        tokens = await oa_tokens.get(conn, OA)
    assert figures["reports"] == 1
    assert member is not None and member.unit_code == VILLAGE

    # One refresh at the first send; the rotated refresh token is the one stored.
    assert len(fake.refreshes) == 1
    assert tokens is not None and tokens.refresh_token in fake.oas[OA].refresh_tokens
    for message in fake.sent:
        assert 1 <= len(message["text"]) <= 2000 and "<b>" not in message["text"]
        assert len(message["buttons"]) <= 5
        assert message["api"] == "v3"


async def test_forged_altered_foreign_and_stale_webhooks_change_nothing(served: Served) -> None:
    fake, app = served.fake, served.app
    event = fake.text_event(OA, RESIDENT, "menu")
    body = json.dumps(event).encode()
    assert await fake.post(served.url, event, secret="not-the-oa-secret") == 403
    # Signed, then altered on the way.
    good = sign(fake.app_id, body, event["timestamp"], fake.oa_secret)
    altered = body.replace(b"menu", b"huy!")
    assert await fake.post(served.url, event, signature=good, body=altered) == 403
    # Another app's event, signed with our secret.
    other = {**fake.text_event(OA, RESIDENT, "menu"), "app_id": "999"}
    other_body = json.dumps(other).encode()
    mac = sign("999", other_body, other["timestamp"], fake.oa_secret)
    assert await fake.post(served.url, other, signature=mac, body=other_body) == 403
    # A genuine body replayed after the retry period.
    old = {**fake.text_event(OA, RESIDENT, "menu"), "timestamp": str(now_ms() - 4 * 3600_000)}
    assert await fake.post(served.url, old) == 403
    await asyncio.sleep(0.2)
    assert await _count(app, processed_updates) == 0
    assert fake.sent == [] and fake.refreshes == []


async def test_a_redelivered_event_is_handled_and_answered_once(served: Served) -> None:
    fake, app = served.fake, served.app
    code = await _invite(app)
    joined = await served.say(MEMBER, f"dangky {code}", replies=2)
    await served.say(MEMBER, option(joined[1], "Khác"), replies=2)
    event = fake.text_event(OA, MEMBER, "/bc Trần Văn Bình; ; dvc; kh=1")
    assert await fake.post(served.url, event) == 200
    answered = len(await served.wait(MEMBER, len(fake.texts_to(MEMBER)) + 1)) and len(
        fake.texts_to(MEMBER)
    )
    assert await fake.post(served.url, event) == 200  # Zalo retries the same body
    await asyncio.sleep(0.3)
    assert len(fake.texts_to(MEMBER)) == answered
    assert await _count(app, visits) == 1


# --- tokens ------------------------------------------------------------------------------------
async def test_an_expired_access_token_is_refreshed_once_and_the_send_retried(
    served: Served,
) -> None:
    fake = served.fake
    await served.say(RESIDENT, "menu")
    fake.expire_access_tokens()
    again = await served.say(RESIDENT, "menu")
    assert again
    assert len(fake.refreshes) == 2 and fake.refused_refreshes == 0


async def test_a_restart_uses_the_rotated_token_and_a_new_seed_replaces_it(app: App) -> None:
    async with FakeZaloOA() as fake:
        seed = fake.add_oa(OA)
        settings = oa_settings(app, fake, seed)
        with_settings = dataclasses.replace(app, settings=settings)
        row = next(r for r in registry.CHANNELS if r.name == "zalo_oa")
        for _restart in range(2):
            live = await row.open(with_settings)
            try:
                assert await live.channel.whoami() == "Zalo OA UBND xã Thử"
                fake.expire_access_tokens()
                assert await live.channel.whoami() == "Zalo OA UBND xã Thử"
            finally:
                await live.close()
        # Three refreshes (the restart reused the stored access token), each with the token the
        # one before it returned; the spent seed in the settings was never sent again.
        assert len(fake.refreshes) == 3 and fake.refreshes[0] == seed
        assert fake.refused_refreshes == 0
        # The commune grants access again: the new token in the settings replaces the stored one.
        fresh = fake.add_oa(OA)
        live = await row.open(dataclasses.replace(app, settings=oa_settings(app, fake, fresh)))
        try:
            await live.channel.whoami()
        finally:
            await live.close()
        assert fake.refreshes[-1] == fresh and fake.refused_refreshes == 0


async def test_two_workers_refreshing_at_once_spend_the_refresh_token_once(app: App) -> None:
    async with FakeZaloOA() as fake:
        seed = fake.add_oa(OA)
        settings = oa_settings(app, fake, seed)
        row = next(r for r in registry.CHANNELS if r.name == "zalo_oa")
        first = await row.open(dataclasses.replace(app, settings=settings))
        second = await row.open(dataclasses.replace(app, settings=settings))
        try:
            one, two = first.channel, second.channel
            assert isinstance(one, ZaloOAChannel) and isinstance(two, ZaloOAChannel)
            tokens = await asyncio.gather(one.tokens[OA].token(), two.tokens[OA].token())
            assert tokens[0] == tokens[1]
            assert len(fake.refreshes) == 1 and fake.refused_refreshes == 0
            # Both find the token refused (expired early): still one refresh between them.
            fake.expire_access_tokens()
            spent = tokens[0]
            renewed = await asyncio.gather(
                one.tokens[OA].refresh(spent=spent), two.tokens[OA].refresh(spent=spent)
            )
            assert renewed[0] == renewed[1] != spent
            assert len(fake.refreshes) == 2 and fake.refused_refreshes == 0
        finally:
            await first.close()
            await second.close()


async def test_a_refused_refresh_token_says_what_to_do_without_quoting_it(app: App) -> None:
    async with FakeZaloOA() as fake:
        fake.add_oa(OA)
        settings = oa_settings(app, fake, "rt-made-up-token")
        row = next(r for r in registry.CHANNELS if r.name == "zalo_oa")
        live = await row.open(dataclasses.replace(app, settings=settings))
        try:
            with pytest.raises(TokenRefused) as caught:
                await live.channel.whoami()
        finally:
            await live.close()
    assert "ZALO_OA_REFRESH_TOKEN" in str(caught.value)
    assert "rt-made-up-token" not in str(caught.value)


# --- the messaging window ----------------------------------------------------------------------
async def _notice(app: App, chat_id: str, key: str, text: str, *, urgent: bool = True) -> None:
    async with app.db.transaction() as conn:
        await outbox.enqueue(
            conn,
            key=key,
            channel="zalo_oa",
            chat_id=chat_id,
            payload=Reply(text).to_json(),
            now=datetime.now(UTC),
            urgent=urgent,
        )


async def _last_error(app: App, key: str) -> tuple[str | None, bool, bool]:
    from db.schema import outbox as table

    async with app.db.read() as conn:
        row = (await conn.execute(sa.select(table).where(table.c.key == key))).one()
    return row.last_error, row.sent_at is not None, row.failed_at is not None


async def test_a_notice_outside_the_window_is_held_then_sent_when_the_person_writes(
    served: Served,
) -> None:
    fake, app = served.fake, served.app
    await served.say(RESIDENT, "menu")
    fake.age_interaction(OA, RESIDENT, days=8)  # Zalo: last interaction 8 days ago
    await _notice(app, f"{OA}:{RESIDENT}", "notice:1", "Lịch tiêm chủng tuần sau")
    for _ in range(100):
        error, sent, failed = await _last_error(app, "notice:1")
        if error:
            break
        await asyncio.sleep(0.05)
    assert error is not None and error.startswith("held: ") and not sent and not failed
    assert "Lịch tiêm chủng tuần sau" not in fake.texts_to(RESIDENT)
    async with app.db.read() as conn:
        assert (await outbox.outcomes(conn, "notice:"))["held"] == 1
    # The person writes again: the held notice goes at once.
    await served.say(RESIDENT, "menu")
    for _ in range(100):
        if "Lịch tiêm chủng tuần sau" in fake.texts_to(RESIDENT):
            break
        await asyncio.sleep(0.05)
    assert "Lịch tiêm chủng tuần sau" in fake.texts_to(RESIDENT)


async def test_outside_the_window_a_notice_goes_to_the_persons_other_chat(app: App) -> None:
    now = datetime.now(UTC)
    async with app.db.transaction() as conn:
        person = await people.create(
            conn,
            role="member",
            unit_code=VILLAGE,
            display_name="Chị Lan",
            channel="zalo_oa",
            external_id=f"{OA}:{MEMBER}",
            chat_id=f"{OA}:{MEMBER}",
            now=now,
        )
        await people.link_account(
            conn, channel="telegram", external_id="77", chat_id="77", person_id=person.id, now=now
        )
    async with FakeZaloOA() as fake:
        seed = fake.add_oa(OA)
        live = await next(r for r in registry.CHANNELS if r.name == "zalo_oa").open(
            dataclasses.replace(app, settings=oa_settings(app, fake, seed))
        )
        try:
            await _notice(app, f"{OA}:{MEMBER}", "brief:1", "Nhắc báo cáo tuần")
            await drain_all(live.sender)  # the fake never saw this person: -230
        finally:
            await live.close()
        assert fake.sent == []
    error, sent, failed = await _last_error(app, "brief:1")
    assert error is not None and error.startswith("routed: telegram") and failed and not sent
    async with app.db.read() as conn:
        copy = await outbox.claim(conn, "telegram", datetime.now(UTC))
        assert (await outbox.outcomes(conn, "brief:"))["routed"] == 1
    assert [(row.key, row.chat_id) for row in copy] == [("brief:1>telegram", "77")]


async def test_a_held_notice_becomes_undeliverable_after_the_last_attempt(app: App) -> None:
    sent: list[str] = []

    async def outside(chat_id: str, reply: Reply) -> None:
        from bot.channels.base import OutsideWindow

        sent.append(chat_id)
        raise OutsideWindow("outside the Zalo OA window (-230)")

    await _notice(app, f"{OA}:{RESIDENT}", "digest:1", "Bản tin")
    sender = OutboxSender(app.db, "zalo_oa", outside)
    later = datetime.now(UTC)
    for _ in range(outbox.MAX_ATTEMPTS):
        await sender.drain(now=later)
        later += timedelta(days=1, minutes=1)
    error, was_sent, failed = await _last_error(app, "digest:1")
    assert len(sent) == outbox.MAX_ATTEMPTS
    assert error == "undeliverable: outside the Zalo OA window (-230)" and failed and not was_sent


async def test_a_government_oa_is_answered_through_the_v2_api(app: App) -> None:
    async with FakeZaloOA() as fake:
        seed = fake.add_oa(OA, government=True)
        live = await next(r for r in registry.CHANNELS if r.name == "zalo_oa").open(
            dataclasses.replace(app, settings=oa_settings(app, fake, seed))
        )
        try:
            fake.age_interaction(OA, RESIDENT, days=0)
            await live.channel.send_reply(f"{OA}:{RESIDENT}", Reply("Xin chào"))
            await live.channel.send_reply(f"{OA}:{RESIDENT}", Reply("Lần nữa"))
        finally:
            await live.close()
    assert [(m["api"], m["text"]) for m in fake.sent] == [("v2", "Xin chào"), ("v2", "Lần nữa")]


def test_buttons_only_where_there_are_five_options_or_fewer_with_numbers_always() -> None:
    few = Reply(
        "Chọn", ((Choice("v1:a", "Tiếp theo của hướng dẫn rất dài"), Choice("v1:b", "Xong")),)
    )
    [message] = messages_for(few)
    assert message["text"] == "Chọn\n\n1. Tiếp theo của hướng dẫn rất dài\n2. Xong"
    buttons = message["attachment"]["payload"]["buttons"]
    assert [b["payload"] for b in buttons] == [BUTTON_PREFIX + "v1:a", BUTTON_PREFIX + "v1:b"]
    assert [b["title"] for b in buttons] == ["1. Tiếp theo của hư…", "2. Xong"]
    assert {b["type"] for b in buttons} == {"oa.query.hide"}
    many = Reply("Chọn", tuple((Choice(f"v1:{n}", f"Mục {n}"),) for n in range(6)))
    assert "attachment" not in messages_for(many)[0]
    long = messages_for(Reply("x" * 4500, ((Choice("v1:a", "A"),),)))
    assert [len(m["text"]) <= 2000 for m in long] == [True, True, True]
    assert "attachment" in long[-1] and "attachment" not in long[0]


async def test_the_token_store_reads_the_stored_pair_before_refreshing(app: App) -> None:
    async with FakeZaloOA() as fake:
        seed = fake.add_oa(OA)
        import httpx

        from bot.channels.zalo_oa_api import ZaloOAApi

        async with httpx.AsyncClient() as http:
            api = ZaloOAApi(
                app_id=fake.app_id,
                app_secret=fake.app_secret,
                client=http,
                api_url=fake.base_url,
                oauth_url=fake.base_url,
            )
            store = TokenStore(app.db, api, OA)
            await store.seed(seed)
            first = await store.token()
            other = TokenStore(app.db, api, OA)  # another worker, same database
            assert await other.token() == first
    assert len(fake.refreshes) == 1


# --- several OAs in one process ----------------------------------------------------------------
@contextlib.asynccontextmanager
async def two_oas(
    app: App, fake: FakeZaloOA, **more: Any
) -> AsyncIterator[tuple[Served, tuple[str, str]]]:
    """The OAs of Đức Chánh and Đức Hiệp served by one app (the second's token stored as
    `python -m bot zalo-oa token` does); yields them and the two seeded refresh tokens."""
    first = fake.add_oa(OA, "UBND xã Đức Chánh")
    second = fake.add_oa(OA2, "UBND xã Đức Hiệp")
    settings = oa_settings(app, fake, first, zalo_oa_accounts=f"{OA2}=duc-hiep", **more)
    async with app.db.transaction() as conn:
        await oa_tokens.seed(conn, OA2, second, seed_digest(second), datetime.now(UTC))
    opened = await registry.open_channels(
        dataclasses.replace(app, settings=settings),
        [r for r in registry.CHANNELS if r.name == "zalo_oa"],
    )
    live = opened.live["zalo_oa"]
    server = WebhookServer(Endpoints([Hook(live.channel, fake.oa_secret)]), "127.0.0.1:0")  # type: ignore[arg-type]
    await server.start()
    try:
        url = f"http://127.0.0.1:{server.bound_port}/webhook/zalo_oa"
        yield Served(app, fake, live, url), (first, second)
    finally:
        await server.stop()
        await opened.close()


async def test_two_oas_bound_to_two_communes_serve_their_own_people(app: App) -> None:
    async with FakeZaloOA() as fake, two_oas(app, fake) as (served, seeds):
        live = served.live
        # The same Zalo user id on each OA is two chats; each OA answers its own commune.
        here = await served.say(RESIDENT, "/lienhe", oa=OA)
        there = await served.say(RESIDENT, "/lienhe", oa=OA2)
        assert here[0].startswith("Thôn, tổ dân phố nào ạ?") and "Đức Chánh" not in here[0]
        assert there[0].startswith("Thôn, tổ dân phố nào ạ?")
        follow = await served.say(RESIDENT, "/theodoi", oa=OA2)
        assert "nhận thông báo của cả Xã Đức Hiệp" in follow[0]
        # A notice to the chat on the second OA leaves through the second OA.
        await _notice(app, f"{OA2}:{RESIDENT}", "notice:2", "Thông báo của xã Đức Hiệp")
        await drain_all(live.sender)
    assert [m["oa_id"] for m in fake.sent if m["text"] == "Thông báo của xã Đức Hiệp"] == [OA2]
    # Use is counted per OA (`python -m bot zalo-oa status`).
    from db.repos import usage

    long_ago = datetime(2000, 1, 1, tzinfo=UTC)
    async with app.db.read() as conn:
        here_use = await usage.since(conn, "zalo_oa", long_ago, chat_prefix=f"{OA}:")
        there_use = await usage.since(conn, "zalo_oa", long_ago, chat_prefix=f"{OA2}:")
    assert (here_use.answered, here_use.proactive) == (1, 0)
    assert (there_use.answered, there_use.proactive) == (2, 1)
    assert {m["oa_id"] for m in fake.sent} == {OA, OA2}
    assert sorted(fake.refreshes) == sorted(seeds)


async def test_each_oa_is_metered_on_its_own_and_a_full_one_holds_only_its_notices(
    app: App,
) -> None:
    async with app.db.transaction() as conn:  # an admin on the local chat, told when one is full
        await accounts.grant_admin(
            conn,
            channel="local",
            external_id="admin-oa",
            root_unit=app.services.plan.root_unit,
            now=datetime.now(UTC),
        )
    async with FakeZaloOA() as fake, two_oas(app, fake, zalo_oa_monthly_quota=4) as (served, _):
        live = served.live
        for text in ("menu", "xin chào", "cảm ơn", "menu"):  # the first OA's 4 of 4
            await served.say(RESIDENT, text, oa=OA)
        await served.say(RESIDENT, "menu", oa=OA2)  # the second OA: 1 of 4
        for chat, key, text in (
            (f"{OA}:{RESIDENT}", "digest:oa1", "Bản tin xã Đức Chánh"),
            (f"{OA2}:{RESIDENT}", "digest:oa2", "Bản tin xã Đức Hiệp"),
        ):
            await _notice(app, chat, key, text, urgent=False)
        await _notice(app, f"{OA}:{RESIDENT}", "help:oa1", "Cần giúp ở Đức Chánh")  # urgent
        await drain_all(live.sender)
    to_first = [m["text"] for m in fake.sent if m["oa_id"] == OA]
    to_second = [m["text"] for m in fake.sent if m["oa_id"] == OA2]
    assert "Bản tin xã Đức Chánh" not in to_first  # held: the first OA is full
    assert to_first[-1] == "Cần giúp ở Đức Chánh"  # urgent: still goes
    assert to_second[-1] == "Bản tin xã Đức Hiệp"  # the second OA has room
    async with app.db.read() as conn:
        from db.schema import outbox as table

        rows = await conn.execute(
            sa.select(table.c.key, table.c.chat_id, table.c.payload).where(
                table.c.key.startswith("quota:")
            )
        )
        warnings = [(row.key, row.chat_id, row.payload["text"]) for row in rows]
    assert len(warnings) == 1
    key, chat, text = warnings[0]
    assert key.startswith(f"quota:zalo_oa/{OA}:") and chat == "admin-oa"
    assert "OA Zalo của Xã Đức Chánh đã dùng khoảng 4/4 tin nhắn" in text
    assert "ZALO_OA_MONTHLY_QUOTA" in text and "người trò chuyện" not in text


# --- `python -m bot run` with the OA configured from the environment ---------------------------
async def test_run_serves_the_oa_configured_from_the_environment(tmp_path: Path) -> None:
    """The issue's scenario end to end: a real `bot run` process, settings from the
    environment, signed webhooks, rotating tokens; a forged event changes nothing."""
    port = _free_port()
    database = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    prepared = await App.open(settings_for(database))
    try:
        await prepared.load_sample_units_if_empty()
        code = await _invite(prepared)
    finally:
        await prepared.close()
    environment = operator_env()
    async with FakeZaloOA() as fake:
        seed = fake.add_oa(OA, "UBND xã Đức Chánh")
        environment.update(
            DATABASE_URL=database,
            ZALO_OA_APP_ID=fake.app_id,
            ZALO_OA_APP_SECRET=fake.app_secret,
            ZALO_OA_SECRET_KEY=fake.oa_secret,
            ZALO_OA_ID=OA,
            ZALO_OA_UNIT=COMMUNE,
            ZALO_OA_REFRESH_TOKEN=seed,
            ZALO_OA_WEBHOOK_URL="https://bot.example.vn",
            ZALO_OA_API_URL=fake.base_url,
            ZALO_OA_OAUTH_URL=fake.base_url,
            WEBHOOK_LISTEN=f"127.0.0.1:{port}",
            FAIR_USE_MESSAGES="0",
        )
        process = await start_bot(environment)
        url = f"http://127.0.0.1:{port}/webhook/zalo_oa"
        served = Served(prepared, fake, None, url)  # type: ignore[arg-type]
        try:
            forged = fake.text_event(OA, RESIDENT, "menu")
            status = 0
            for _ in range(300):  # the bot starts, then listens
                await asyncio.sleep(0.1)
                try:
                    status = await fake.post(url, forged, secret="forged-secret")
                    break
                except aiohttp.ClientConnectionError:
                    continue
            assert status == 403
            answer = await served.say(RESIDENT, "lam sao kich hoat vneid")
            assert "Kích hoạt tài khoản VNeID" in answer[0]
            joined = await served.say(MEMBER, f"dangky {code}", replies=2)
            await served.say(MEMBER, option(joined[1], "Giáo viên"), replies=2)
            quick = await served.say(MEMBER, "/bc Lê Thị Hoa; thôn 1; dvc,tt; kh=1 thanhthao=1")
            assert "Đã lưu" in quick[0]
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(process.communicate(), 30)
    log = stderr.decode()
    assert process.returncode == 0, log
    assert "https://bot.example.vn/webhook/zalo_oa" in log  # where to set it in the console
    for secret in (fake.app_secret, fake.oa_secret, seed):
        assert secret not in log
    assert len(fake.texts_to(RESIDENT)) == 1  # the answer; the forged "menu" got none
    assert len(fake.refreshes) == 1 and fake.refused_refreshes == 0


async def test_signatures_accept_both_documented_readings_and_nothing_else(app: App) -> None:
    import httpx

    from bot.channels.zalo_oa import Account, signature
    from bot.channels.zalo_oa_api import ZaloOAApi

    async with httpx.AsyncClient() as http:
        api = ZaloOAApi(app_id="111", app_secret="app-secret", client=http)
        channel = ZaloOAChannel(
            api, app.dispatcher.handle, app.db, [Account(OA)], secrets=["oa-key", "app-secret"]
        )
        strict = ZaloOAChannel(
            api, app.dispatcher.handle, app.db, [Account(OA)], secrets=["oa-key"]
        )

        def signed(first: str, secret: str, stamp: str) -> tuple[bytes, dict[str, str]]:
            body = json.dumps(
                {"app_id": "111", "event_name": "follow", "oa_id": OA, "timestamp": stamp}
            ).encode()
            return body, {"X-ZEvent-Signature": "mac=" + signature(first, body, stamp, secret)}

        ms, seconds = str(now_ms()), str(now_ms() // 1000)
        assert channel.signature_matches(*signed("111", "oa-key", ms))
        assert channel.signature_matches(*signed(OA, "oa-key", ms))  # the OA id first
        assert channel.signature_matches(*signed("111", "app-secret", ms))  # the app secret
        assert not strict.signature_matches(*signed("111", "app-secret", ms))
        assert channel.signature_matches(*signed("111", "oa-key", seconds))  # seconds, not ms
        assert not channel.signature_matches(*signed("999", "oa-key", ms))
        assert not channel.signature_matches(*signed("111", "guess", ms))
        body, headers = signed("111", "oa-key", ms)
        assert not channel.signature_matches(
            body, {"X-ZEvent-Signature": headers["X-ZEvent-Signature"][4:]}
        )
        assert not channel.secret_matches("", {})

"""The officials' dashboard over real HTTP, on both databases: signing in through the chat,
scope (the same as /thongke and /xuat), the API, the export, invites with QR codes."""

from __future__ import annotations

import io
import re

import openpyxl
import pytest
import sqlalchemy as sa
from yarl import URL

from bot.app import App
from db.repos import people
from db.schema import web_logins, web_sessions
from handlers.services import helpdesk, people_admin
from tests.auxil.chat import Chat, Clock, join
from tests.auxil.cli import run_cli
from tests.auxil.web import browser, link_from, serving, sign_in

VILLAGE, VILLAGE_2 = "duc-chanh-thon-1", "duc-chanh-thon-2"
COMMUNE, OTHER_COMMUNE, DISTRICT = "duc-chanh", "duc-loi", "mo-duc"
OTHER_VILLAGE = "duc-loi-thon-1"


async def reports(app: App, clock: Clock) -> None:
    """Village 1: An reports two households today; village 2: Cường one; Bình never."""
    an = await join(app, "member", VILLAGE, "an", clock=clock)
    await an.send("/bc Hộ Một; xóm Đông; dvc,tt; dk2=2 kh=1 thanhthao=1")
    await an.send("/bc Hộ Hai; xóm Đông; dvc; dk2=1")
    cuong = await join(app, "member", VILLAGE_2, "cuong", clock=clock)
    await cuong.send("/bc Nhà Ba; ; dvc,mua,tt,atm,dp; thanhthao=1")
    await join(app, "member", VILLAGE, "binh", clock=clock)


# --- signing in -----------------------------------------------------------------------------------
async def test_a_link_signs_in_once_and_only_its_hash_is_stored(app: App) -> None:
    clock = Clock()
    officer = await join(app, "commune_officer", COMMUNE, "officer", clock=clock)
    async with serving(app, clock) as base, browser() as client:
        link = await link_from(officer)
        assert link.startswith(f"{base}/login/")
        assert "10 phút" in officer.text
        token = link.rsplit("/", 1)[1]
        async with app.db.read() as conn:
            stored = (await conn.execute(sa.select(web_logins.c.token_hash))).scalars().all()
        assert len(stored) == 1 and token not in stored[0]

        # Opening the link (as a chat app's preview does) uses nothing up.
        for _ in range(2):
            async with client.get(link) as page:
                assert page.status == 200
                assert "Vào bảng theo dõi" in await page.text()
        async with client.post(link, allow_redirects=False) as done:
            assert done.status == 303 and done.headers["Location"] == "/"
            cookie = done.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
        assert "Max-Age=604800" in cookie
        async with client.get(f"{base}/") as home:
            assert home.status == 200
            assert "Xã Đức Chánh" in await home.text()
        async with app.db.read() as conn:
            sessions = (await conn.execute(sa.select(web_sessions.c.token_hash))).scalars().all()
        held = client.cookie_jar.filter_cookies(URL(base))["tcn_phien"].value
        assert len(sessions) == 1 and held not in sessions[0]

        # A used link, in this browser or another, shows the same page and nothing else.
        async with browser() as other:
            for method in (other.get, other.post):
                async with method(link, allow_redirects=False) as again:
                    assert again.status == 410
                    text = await again.text()
                    assert "/web" in text and "Đức Chánh" not in text
                    assert "Set-Cookie" not in again.headers


async def test_a_link_expires_after_ten_minutes(app: App) -> None:
    clock = Clock()
    leader = await join(app, "leader", VILLAGE, "leader", clock=clock)
    async with serving(app, clock), browser() as client:
        link = await link_from(leader)
        clock.advance(minutes=10, seconds=1)
        async with client.post(link, allow_redirects=False) as late:
            assert late.status == 410
            assert "gõ <b>/web</b>" in await late.text()
        async with client.get(link.rsplit("/", 1)[0] + "/not-a-token") as unknown:
            assert unknown.status == 410


async def test_a_session_lasts_seven_days(app: App) -> None:
    clock = Clock()
    leader = await join(app, "leader", VILLAGE, "leader", clock=clock)
    async with serving(app, clock) as base, browser() as client:
        await sign_in(client, leader)
        clock.advance(days=6, hours=23)
        async with client.get(f"{base}/", allow_redirects=False) as still:
            assert still.status == 200
        clock.advance(hours=2)
        async with client.get(f"{base}/", allow_redirects=False) as gone:
            assert gone.status == 303 and gone.headers["Location"] == "/dang-nhap"


async def test_web_is_for_leaders_officers_and_admins(app: App) -> None:
    clock = Clock()
    member = await join(app, "member", VILLAGE, "member", clock=clock)
    await member.send("/web")
    assert "/login/" not in member.text
    resident = Chat(app, "resident", clock=clock)
    await resident.send("/web")
    assert "/login/" not in resident.text
    leader = await join(app, "leader", VILLAGE, "leader", clock=clock)
    await leader.send("/web")
    assert "WEB_BASE_URL" in leader.text  # no dashboard on this server: it says so


async def test_web_tatca_and_the_button_end_every_session(app: App) -> None:
    clock = Clock()
    officer = await join(app, "commune_officer", COMMUNE, "officer", clock=clock)
    async with serving(app, clock) as base, browser() as phone, browser() as office:
        await sign_in(phone, officer)
        await sign_in(office, officer)
        unused = await link_from(officer)
        await officer.send("/web tatca")
        assert "2 trình duyệt" in officer.text
        for client in (phone, office):
            async with client.get(f"{base}/", allow_redirects=False) as page:
                assert page.status == 303
        async with phone.post(unused, allow_redirects=False) as voided:
            assert voided.status == 410

        await sign_in(phone, officer)
        await officer.press("Đăng xuất mọi nơi")
        assert "1 trình duyệt" in officer.text
        async with phone.get(f"{base}/", allow_redirects=False) as page:
            assert page.status == 303


async def test_a_removed_leader_loses_the_web_at_once(app: App) -> None:
    clock = Clock()
    officer = await join(app, "commune_officer", COMMUNE, "officer", clock=clock)
    leader = await join(app, "leader", VILLAGE, "leader", clock=clock)
    async with serving(app, clock) as base, browser() as client:
        await sign_in(client, leader)
        async with app.db.transaction() as conn:
            actor = await people.by_account(conn, officer.channel, officer.user)
            target = await people.by_account(conn, leader.channel, leader.user)
            assert actor is not None and target is not None
            await people_admin.remove(conn, actor, target, clock.now)
        async with client.get(f"{base}/", allow_redirects=False) as page:
            assert page.status == 303


async def test_behind_https_the_cookie_is_secure(app: App) -> None:
    clock = Clock()
    leader = await join(app, "leader", VILLAGE, "leader", clock=clock)
    async with (
        serving(app, clock, public="https://bot.example.vn") as base,
        browser() as client,
    ):
        cookie = await sign_in(client, leader, base)
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


# --- without a session ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        "/",
        f"/u/{COMMUNE}",
        f"/export.xlsx?unit={COMMUNE}",
        "/invite",
        "/invite/ABCD2345",
    ],
)
async def test_without_a_session_pages_say_to_type_web(app: App, path: str) -> None:
    clock = Clock()
    await reports(app, clock)
    async with serving(app, clock) as base, browser() as client:
        async with client.get(f"{base}{path}", allow_redirects=False) as page:
            assert page.status == 303 and page.headers["Location"] == "/dang-nhap"
        async with client.get(f"{base}{path}") as followed:
            assert followed.status == 401
            text = await followed.text()
            assert "/web" in text and "Đức Chánh" not in text


async def test_without_a_session_the_api_and_the_forms_reveal_nothing(app: App) -> None:
    clock = Clock()
    await reports(app, clock)
    async with serving(app, clock) as base, browser() as client:
        async with client.get(f"{base}/api/stats/{COMMUNE}.json") as api:
            assert api.status == 401
            assert await api.json() == {"error": "sign in first"}
        for path in ("/invite", "/logout"):
            async with client.post(f"{base}{path}", data={}, allow_redirects=False) as form:
                assert form.status == 303 and form.headers["Location"] == "/dang-nhap"
        client.cookie_jar.update_cookies({"tcn_phien": "forged"})
        async with client.get(f"{base}/", allow_redirects=False) as forged:
            assert forged.status == 303


# --- scope ----------------------------------------------------------------------------------------
SCOPES = {
    # (role, unit): (paths answered 200, paths answered 403)
    ("commune_officer", COMMUNE): ([COMMUNE, VILLAGE], [OTHER_COMMUNE, OTHER_VILLAGE, DISTRICT]),
    ("leader", VILLAGE): ([VILLAGE], [VILLAGE_2, COMMUNE, DISTRICT]),
    ("district_officer", DISTRICT): ([DISTRICT, OTHER_COMMUNE, VILLAGE], []),
}


@pytest.mark.parametrize("who", list(SCOPES))
async def test_each_route_answers_within_scope_only(app: App, who: tuple[str, str]) -> None:
    clock = Clock()
    await reports(app, clock)
    role, unit = who
    allowed, refused = SCOPES[who]
    chat = await join(app, role, unit, "official", clock=clock)
    async with serving(app, clock) as base, browser() as client:
        await sign_in(client, chat)
        for code in allowed:
            for path in (f"/u/{code}", f"/api/stats/{code}.json", f"/export.xlsx?unit={code}"):
                async with client.get(f"{base}{path}") as ok:
                    assert ok.status == 200, path
        for code in [*refused, "no-such-unit"]:
            for path in (f"/u/{code}", f"/export.xlsx?unit={code}"):
                async with client.get(f"{base}{path}") as no:
                    assert no.status == 403, path
                    text = await no.text()
                    assert "không xem được" in text and "hộ" not in text.split("<main>")[1]
            async with client.get(f"{base}/api/stats/{code}.json") as api:
                assert api.status == 403 and await api.json() == {"error": "forbidden"}


async def test_the_api_is_exactly_what_stats_json_prints(
    app: App, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = Clock()
    await reports(app, clock)
    officer = await join(app, "commune_officer", COMMUNE, "officer", clock=clock)
    async with serving(app, clock) as base, browser() as client:
        await sign_in(client, officer)
        for code in (COMMUNE, VILLAGE):
            printed = await run_cli(app, capsys, "stats", "--unit", code, "--json")
            async with client.get(f"{base}/api/stats/{code}.json") as api:
                assert api.content_type == "application/json"
                assert await api.text() == printed.rstrip("\n")


async def _sheet(content: bytes, title: str) -> list[list[object]]:
    book = openpyxl.load_workbook(io.BytesIO(content), read_only=True)
    return [list(row) for row in book[title].iter_rows(values_only=True)]


async def test_the_export_is_the_xuat_workbook_with_names_only_where_xuat_shows_them(
    app: App,
) -> None:
    clock = Clock()
    await reports(app, clock)
    officer = await join(app, "commune_officer", COMMUNE, "officer", clock=clock)
    leader = await join(app, "leader", VILLAGE, "leader", clock=clock)
    title = app.services.texts.render("digest.xlsx.sheet.households")
    async with serving(app, clock) as base:
        async with browser() as client:
            await sign_in(client, officer)
            async with client.get(f"{base}/export.xlsx?unit={COMMUNE}") as file:
                assert file.status == 200
                assert f"so-lieu-{COMMUNE}-2024-10-03.xlsx" in file.headers["Content-Disposition"]
                rows = await _sheet(await file.read(), title)
        assert len(rows) == 4  # a header and three households, by number
        assert "Hộ Một" not in str(rows)
        async with browser() as client:
            await sign_in(client, leader)
            async with client.get(f"{base}/export.xlsx") as file:
                rows = await _sheet(await file.read(), title)
        assert "Hộ Một" in str(rows) and "Nhà Ba" not in str(rows)


# --- the area page --------------------------------------------------------------------------------
async def test_the_area_page_shows_targets_children_trend_quiet_members_and_requests(
    app: App,
) -> None:
    clock = Clock()
    await reports(app, clock)
    async with app.db.transaction() as conn:
        await helpdesk.create(
            conn,
            request_key="r1",
            now=clock.now,
            village_code=VILLAGE_2,
            topic="other",
            contact="0905 123 456",
            chat=("local", "resident"),
            resident_name="Bà Tư",
        )
    officer = await join(app, "commune_officer", COMMUNE, "officer", clock=clock)
    async with serving(app, clock) as base, browser() as client:
        await sign_in(client, officer)
        async with client.get(f"{base}/") as page:
            html = await page.text()
            assert page.headers["Cache-Control"] == "no-store"
            assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
        # Every target of the plan, its value as /thongke renders it, today's change.
        for target in app.services.plan.targets:
            assert target.label in html
        assert "3 / " in html  # households visited in the commune
        assert "Hôm nay +3" in html  # households_dvc_payment today
        # The villages, each linked; the chart; members without a report (names, masked).
        assert f'href="/u/{VILLAGE}"' in html and f'href="/u/{VILLAGE_2}"' in html
        assert "<svg" in html and "<script" not in html
        assert "chưa báo cáo trong 3 ngày: 1" in html
        # The open request: village and topic, no contact, no name.
        assert "Yêu cầu hướng dẫn tại nhà đang chờ: 1" in html
        assert "0905" not in html and "Bà Tư" not in html
        assert "http://" not in html.replace(base, "").replace("http://www.w3.org", "")

        # Sorting by households visited, highest first, then lowest first.
        async with client.get(f"{base}/?sort=visited&dir=desc") as page:
            down = await page.text()
        async with client.get(f"{base}/?sort=visited&dir=asc") as page:
            up = await page.text()
        first_down = re.findall(r'<td><a href="/u/([^"]+)"', down)
        first_up = re.findall(r'<td><a href="/u/([^"]+)"', up)
        assert first_down[0] == VILLAGE and first_up[-1] == VILLAGE

        # A village: its own page; yesterday's report counts in 7 days, not in 1.
        clock.advance(days=1)
        async with client.get(f"{base}/u/{VILLAGE}?days=1") as page:
            one_day = await page.text()
        async with client.get(f"{base}/u/{VILLAGE}?days=7") as page:
            week = await page.text()
        assert "chưa báo cáo trong 1 ngày: 2" in one_day
        assert "chưa báo cáo trong 7 ngày: 1" in week


# --- invites ----------------------------------------------------------------------------------------
async def _csrf(client: object, base: str) -> str:
    async with client.get(f"{base}/invite") as form:  # type: ignore[attr-defined]
        assert form.status == 200
        found = re.search(r'name="csrf" value="([0-9a-f]+)"', await form.text())
    assert found
    return found[1]


async def test_an_invite_made_on_the_web_prints_a_qr_and_works_in_the_chat(app: App) -> None:
    clock = Clock()
    app.services.telegram_username = "tocongnghe_bot"
    app.settings.zalo_bot_link = "https://zalo.me/1234567890"
    officer = await join(app, "commune_officer", COMMUNE, "officer", clock=clock)
    async with serving(app, clock) as base, browser() as client:
        await sign_in(client, officer)
        csrf = await _csrf(client, base)
        form = {"csrf": csrf, "role": "leader", "unit": VILLAGE_2, "uses": "5"}
        async with client.post(f"{base}/invite", data=form, allow_redirects=False) as made:
            assert made.status == 303
            where = made.headers["Location"]
        code = where.rsplit("/", 1)[1]
        async with client.get(f"{base}{where}") as printed:
            html = await printed.text()
        assert code in html and f"dangky {code}" in html
        assert html.count("<svg") == 2  # Telegram's deep link and the Zalo bot
        assert f"https://t.me/tocongnghe_bot?start={code}" in html

        # Another officer of the same commune cannot open it.
        other = await join(app, "commune_officer", COMMUNE, "other", clock=clock)
        async with browser() as theirs:
            await sign_in(theirs, other)
            async with theirs.get(f"{base}{where}") as page:
                assert page.status == 403

    newcomer = Chat(app, "newcomer", clock=clock)
    await newcomer.send(f"/start {code}")
    await newcomer.send("/web")
    assert "WEB_BASE_URL" in newcomer.text  # a leader now: /web is theirs (no base URL here)


@pytest.mark.parametrize(
    "change",
    [
        {"csrf": ""},
        {"csrf": "0" * 64},
        {"role": "district_officer", "unit": DISTRICT},  # above what /moi offers
        {"role": "admin"},
        {"unit": OTHER_VILLAGE},  # outside the area
        {"unit": COMMUNE},  # a leader belongs to a village
        {"uses": "200"},  # not an offered number
    ],
)
async def test_an_invite_form_is_refused_outside_the_moi_rules(
    app: App, change: dict[str, str]
) -> None:
    clock = Clock()
    officer = await join(app, "commune_officer", COMMUNE, "officer", clock=clock)
    async with serving(app, clock) as base, browser() as client:
        await sign_in(client, officer)
        form = {"csrf": await _csrf(client, base), "role": "leader", "unit": VILLAGE, "uses": "1"}
        async with client.post(
            f"{base}/invite", data={**form, **change}, allow_redirects=False
        ) as refused:
            assert refused.status == 403
    async with app.db.read() as conn:
        made = await conn.execute(
            sa.text("SELECT count(*) FROM invites WHERE created_by IS NOT NULL")
        )
        assert made.scalar_one() == 0


async def test_a_form_from_another_site_is_refused(app: App) -> None:
    clock = Clock()
    officer = await join(app, "commune_officer", COMMUNE, "officer", clock=clock)
    async with serving(app, clock) as base, browser() as client:
        await sign_in(client, officer)
        form = {"csrf": await _csrf(client, base), "role": "leader", "unit": VILLAGE, "uses": "1"}
        async with client.post(
            f"{base}/invite",
            data=form,
            headers={"Origin": "https://evil.example"},
            allow_redirects=False,
        ) as refused:
            assert refused.status == 403
        async with client.post(
            f"{base}/logout",
            data={"csrf": form["csrf"], "all": "1"},
            headers={"Origin": "https://evil.example"},
        ) as refused:
            assert refused.status == 403
        async with client.post(f"{base}/logout", data={"csrf": form["csrf"]}) as out:
            assert out.status == 200 and "Đã đăng xuất" in await out.text()
        async with client.get(f"{base}/", allow_redirects=False) as page:
            assert page.status == 303


async def test_members_see_no_invite_form_and_leaders_only_their_village(app: App) -> None:
    clock = Clock()
    leader = await join(app, "leader", VILLAGE, "leader", clock=clock)
    async with serving(app, clock) as base, browser() as client:
        await sign_in(client, leader)
        async with client.get(f"{base}/invite") as form:
            html = await form.text()
        assert f'value="{VILLAGE}"' in html and f'value="{VILLAGE_2}"' not in html
        assert 'value="commune_officer"' not in html

"""Issue 11 item 4: a commune officer sends the commune's villages as a CSV or XLSX file in
`/thon nhap`; it is checked and previewed like a pasted list, and kept only after "Lưu".

Over the real Telegram channel and a fake Bot API (getFile + the file URL), the Zalo OA
channel's file URL over real HTTP, and the local chat's `!tep PATH`."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from aiohttp import web
from openpyxl import Workbook

from bench.fake_telegram import FakeTelegram
from bot.app import App
from bot.channels import zalo_oa
from bot.channels.local import file_attachment
from bot.channels.telegram import TelegramChannel, build_application
from core import files
from core.events import Attachment
from db.repos import units
from db.schema import audit_log
from handlers.services import invites
from tests.auxil.chat import Chat, Clock, join
from tests.bot.test_zalo_oa import OA, Served, served

__all__ = ["served"]  # the Zalo OA fixture, used here as in test_zalo_oa.py

COMMUNE = "duc-chanh"
OFFICER, MEMBER = 6001, 6002


@pytest.fixture
async def telegram(app: App) -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        channel = TelegramChannel(
            build_application(fake.token, base_url=fake.base_url, rate_limit=0),
            app.dispatcher.handle,
        )
        await channel.open()
        stop = asyncio.Event()
        task = asyncio.create_task(channel.poll(stop, poll_timeout=1))
        yield fake
        stop.set()
        await asyncio.wait_for(task, 5)
        await channel.close()


async def _register(app: App, tg: FakeTelegram, user: int, role: str, unit: str) -> None:
    async with app.db.transaction() as conn:
        invite = await invites.create(
            conn,
            inviter=None,
            role=role,
            unit_code=unit,
            uses=1,
            expires_in=timedelta(days=7),
            now=datetime.now(UTC),
        )
    await tg.say_and_wait(user, f"/start {invite.code}")
    await tg.wait_text(user, "Chào mừng")
    await tg.wait_for(user, 2)  # the welcome and the menu (or the member's position question)
    if role == "member":
        await tg.press_and_wait(user, "Giáo viên", replies=2)


async def _villages(app: App) -> dict[str, int | None]:
    async with app.db.read() as conn:
        return {v.name: v.households for v in await units.children(conn, COMMUNE)}


async def _audited(app: App) -> list[str]:
    async with app.db.read() as conn:
        rows = await conn.execute(sa.select(audit_log.c.action))
        return [row.action for row in rows]


def _xlsx(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


CSV_OK = "Tên thôn/TDP;Số hộ (2026)\nThôn Mới Một;210\nTổ dân phố 9;\n".encode()


async def test_a_commune_officer_sends_a_csv_then_an_xlsx(app: App, telegram: FakeTelegram) -> None:
    tg = telegram
    await _register(app, tg, OFFICER, "commune_officer", COMMUNE)
    before = await _villages(app)
    first = next(iter(before))
    await tg.say_and_wait(OFFICER, "/thon nhap")
    assert "gửi tệp Excel (.xlsx) hay .csv" in tg.texts_to(OFFICER)[-1]

    preview = await tg.send_file_and_wait(OFFICER, "danh-sach-thon.csv", CSV_OK)
    assert "getFile" in tg.calls and "file" in tg.calls
    assert "Thêm 2 thôn, tổ dân phố:\n+ Thôn Mới Một – 210 hộ\n+ Tổ dân phố 9" in preview[0]
    assert await _villages(app) == before  # only a preview
    saved = await tg.press_and_wait(OFFICER, "Lưu")
    assert "thêm 2, cập nhật số hộ 0" in saved[-1]
    after = await _villages(app)
    assert after["Thôn Mới Một"] == 210 and after["Tổ dân phố 9"] is None
    assert (await _audited(app)).count("village_add") == 2

    # An XLSX: headers in another order, a code column to update an existing village.
    async with app.db.read() as conn:
        code = next(v.code for v in await units.children(conn, COMMUNE) if v.name == first)
    sheet = _xlsx(
        [
            ["Số hộ", "Tên thôn", "Mã", "Mã hành chính"],
            [333, first, code, None],
            [45, "Làng Xanh", None, "21364"],
        ]
    )
    await tg.say_and_wait(OFFICER, "/thon nhap")
    preview = await tg.send_file_and_wait(OFFICER, "thon.xlsx", sheet)
    assert "+ Làng Xanh – 45 hộ" in preview[0]
    assert f"~ {first}: " in preview[0] and "→ 333 hộ" in preview[0]
    await tg.press_and_wait(OFFICER, "Lưu")
    after = await _villages(app)
    assert after[first] == 333 and after["Làng Xanh"] == 45
    async with app.db.read() as conn:
        added = [v for v in await units.children(conn, COMMUNE) if v.name == "Làng Xanh"]
    assert added[0].admin_code == "21364"
    assert (await _audited(app)).count("village_households") == 1


async def test_a_bad_file_names_its_rows_and_changes_nothing(
    app: App, telegram: FakeTelegram
) -> None:
    tg = telegram
    await _register(app, tg, OFFICER, "commune_officer", COMMUNE)
    before = await _villages(app)
    await tg.say_and_wait(OFFICER, "/thon nhap")
    bad = "Tên thôn,Số hộ\nThôn Tốt,10\nThôn Xấu,nhiều\n,5\nThôn Tốt,3\n".encode()
    answer = (await tg.send_file_and_wait(OFFICER, "thon.csv", bad))[0]
    assert "Tệp có 3 dòng chưa đúng, chưa lưu gì" in answer
    assert "Dòng 3: số hộ cần là một số" in answer
    assert "Dòng 4: tên thôn trống" in answer
    assert "Dòng 5: tên thôn trùng" in answer

    # A formula is never evaluated: its cell is read as text and refused.
    formula = _xlsx([["Tên thôn", "Số hộ"], ["Thôn Công Thức", "=100+20"]])
    answer = (await tg.send_file_and_wait(OFFICER, "thon.xlsx", formula))[0]
    assert "Dòng 2: số hộ cần là một số" in answer
    answer = (await tg.send_file_and_wait(OFFICER, "thon.xlsx", b"not a zip"))[0]
    assert "không đọc được tệp này" in answer
    answer = (await tg.send_file_and_wait(OFFICER, "thon.pdf", b"%PDF-1.4"))[0]
    assert "chỉ đọc được tệp .xlsx (Excel) hoặc .csv" in answer
    big = b"Thon A;1\n" * (files.MAX_BYTES // 9 + 10)
    answer = (await tg.send_file_and_wait(OFFICER, "thon.csv", big))[0]
    assert "Tệp lớn quá" in answer and "1000 KB" in answer
    unknown = "Tên,Số hộ,Mã\nThôn Lạ,5,khong-co-ma\n".encode()
    answer = (await tg.send_file_and_wait(OFFICER, "thon.csv", unknown))[0]
    assert "Dòng 2: cột mã không phải mã một thôn của xã này" in answer
    assert await _villages(app) == before
    assert "village_add" not in await _audited(app)
    # Still in the flow: the good file is then previewed.
    preview = await tg.send_file_and_wait(OFFICER, "thon.csv", CSV_OK)
    assert "Thêm 2 thôn" in preview[0]


async def test_a_member_cannot_send_villages(app: App, telegram: FakeTelegram) -> None:
    tg = telegram
    await _register(app, tg, MEMBER, "member", "duc-chanh-thon-1")
    before = await _villages(app)
    answer = await tg.say_and_wait(MEMBER, "/thon nhap")
    assert "Lệnh /thon không dành cho vai trò của bạn" in answer[0]
    await tg.send_file_and_wait(MEMBER, "thon.csv", CSV_OK)
    assert "Xem trước" not in tg.texts_to(MEMBER)[-1]
    assert "getFile" not in tg.calls  # never downloaded
    assert await _villages(app) == before


@pytest.fixture
async def file_server() -> AsyncIterator[str]:
    """Serves /ok.csv (a village list) and /big.csv (over the limit), as Zalo's file URLs."""

    async def serve(request: web.Request) -> web.Response:
        if request.match_info["name"] == "big.csv":
            return web.Response(body=b"x" * (files.MAX_BYTES + 10))
        return web.Response(body=CSV_OK)

    app = web.Application()
    app.router.add_get("/{name}", serve)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


def _oa_file_event(url: str, name: str) -> dict[str, object]:
    return {
        "event_name": "user_send_file",
        "timestamp": "1767225600000",
        "sender": {"id": "u-1"},
        "recipient": {"id": "oa-1"},
        "message": {
            "msg_id": f"m-{name}",
            "attachments": [{"type": "file", "payload": {"url": url, "name": name, "size": "50"}}],
        },
    }


async def test_a_zalo_oa_file_url_is_downloaded_capped(app: App, file_server: str) -> None:
    now = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
    event = zalo_oa.to_incoming(_oa_file_event(f"{file_server}/ok.csv", "thon.csv"), now=now)
    assert event is not None and event.attachment is not None
    assert event.attachment.file_name == "thon.csv" and event.attachment.fetch is not None
    assert await event.attachment.fetch(files.MAX_BYTES) == CSV_OK
    big = zalo_oa.to_incoming(_oa_file_event(f"{file_server}/big.csv", "b.csv"), now=now)
    assert big is not None and big.attachment is not None and big.attachment.fetch is not None
    with pytest.raises(files.FileTooBig):
        await big.attachment.fetch(files.MAX_BYTES)
    gone = zalo_oa.to_incoming(_oa_file_event("http://127.0.0.1:9/none.csv", "n.csv"), now=now)
    assert gone is not None and gone.attachment is not None and gone.attachment.fetch is not None
    with pytest.raises(files.FileUnavailable):
        await gone.attachment.fetch(files.MAX_BYTES)


async def test_a_commune_officer_sends_a_file_to_the_communes_oa(served: Served) -> None:
    fake, app = served.fake, served.app
    officer = "2468458835296197999"
    async with app.db.transaction() as conn:
        invite = await invites.create(
            conn,
            inviter=None,
            role="commune_officer",
            unit_code=COMMUNE,
            uses=1,
            expires_in=timedelta(days=7),
            now=datetime.now(UTC),
        )
    joined = await served.say(officer, f"dangky {invite.code}")
    assert "Chào mừng" in joined[0]
    await served.say(officer, "/thon nhap")
    before = len(fake.texts_to(officer, OA))
    status = await fake.post(served.url, fake.file_event(OA, officer, "thon.csv", CSV_OK))
    assert status == 200
    preview = await served.wait(officer, before + 1)
    assert "+ Thôn Mới Một – 210 hộ" in preview[0]
    await served.press(officer, "Lưu")
    assert (await _villages(app))["Thôn Mới Một"] == 210


async def test_the_local_chat_sends_a_file_by_path(app: App, tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    path = tmp_path / "thon.csv"
    path.write_bytes(CSV_OK)
    officer = await join(app, "commune_officer", COMMUNE, "c1", clock=Clock())
    await officer.send("/thon nhap")
    await officer.deliver(officer._event(attachment=file_attachment(str(path))))
    assert "+ Thôn Mới Một – 210 hộ" in officer.text
    await officer.press("Lưu")
    assert (await _villages(app))["Thôn Mới Một"] == 210
    # A file that is not there, and a file sent where no flow expects one: nothing happens.
    await officer.send("/thon nhap")
    await officer.deliver(officer._event(attachment=file_attachment(str(tmp_path / "x.csv"))))
    assert "chưa tải được tệp này" in officer.text
    # A photo (all the Zalo Bot Platform passes on) is not a list: said so, nothing fetched.
    await officer.deliver(officer._event(attachment=Attachment("photo", "https://x/photo.jpg")))
    assert "chỉ đọc được tệp .xlsx (Excel) hoặc .csv" in officer.text
    member = await join(app, "member", "duc-chanh-thon-1", "m1", clock=Clock())
    assert isinstance(member, Chat)
    await member.deliver(member._event(attachment=file_attachment(str(path))))
    assert "Xem trước" not in member.text


async def test_the_local_chat_reads_tep_lines(app: App, tmp_path: object) -> None:
    from pathlib import Path

    from bot.channels import local

    assert isinstance(tmp_path, Path)
    path = tmp_path / "thon.xlsx"
    path.write_bytes(_xlsx([["Tên thôn", "Số hộ"], ["Thôn Bàn Phím", 77]]))
    stdin = io.StringIO(f"/thon nhap\n{local.FILE} {path}\n1\n")
    stdout = io.StringIO()
    await local.run(app, role="commune_officer", unit=COMMUNE, stdin=stdin, stdout=stdout)
    shown = stdout.getvalue()
    assert "+ Thôn Bàn Phím – 77 hộ" in shown and "thêm 1, cập nhật số hộ 0" in shown
    assert (await _villages(app))["Thôn Bàn Phím"] == 77

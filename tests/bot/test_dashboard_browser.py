"""End to end in a real headless Chromium the size of a phone: a commune officer types /web,
opens the link, reads the commune's targets (the numbers of `stats --json`), opens a village,
downloads the XLSX and prints an invite QR; the used link then shows nothing. Screenshots go
to test-artefacts/dashboard/ (git-ignored)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from bot.app import App
from tests.auxil.browser import driver
from tests.auxil.chat import Clock, join
from tests.auxil.cli import run_cli
from tests.auxil.web import browser, link_from, serving

ROOT = Path(__file__).resolve().parents[2]
ARTEFACTS = ROOT / "test-artefacts" / "dashboard"
COMMUNE, VILLAGE, VILLAGE_2 = "duc-chanh", "duc-chanh-thon-1", "duc-chanh-thon-2"


def _wait_for_file(folder: Path, suffix: str, seconds: float = 20.0) -> Path:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done = [p for p in folder.glob(f"*{suffix}") if p.stat().st_size > 0]
        if done:
            return done[0]
        time.sleep(0.1)
    raise AssertionError(f"no {suffix} downloaded into {folder}: {list(folder.iterdir())}")


async def test_a_commune_officer_uses_the_dashboard_in_a_browser(
    app: App,
    chromium_paths: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    database_url: str,
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    backend = database_url.split(":", 1)[0].split("+")[0]
    shots = ARTEFACTS / backend
    shots.mkdir(parents=True, exist_ok=True)
    clock = Clock()
    app.services.telegram_username = "tocongnghe_bot"
    an = await join(app, "member", VILLAGE, "an", clock=clock)
    await an.send("/bc Hộ Một; xóm Đông; dvc,tt; dk2=2 kh=1 thanhthao=1")
    await an.send("/bc Hộ Hai; xóm Đông; dvc; dk2=1")
    officer = await join(app, "commune_officer", COMMUNE, "officer", clock=clock)
    figures: dict[str, Any] = json.loads(
        await run_cli(app, capsys, "stats", "--unit", COMMUNE, "--json")
    )
    downloads = tmp_path / "downloads"
    downloads.mkdir()

    async with serving(app, clock) as base:
        link = await link_from(officer)
        web = await asyncio.to_thread(driver, chromium_paths, downloads)
        web.implicitly_wait(10)
        try:

            def sign_in_and_look() -> dict[str, str]:
                web.get(link)
                web.save_screenshot(str(shots / "01-link.png"))
                web.find_element(By.ID, "login").click()
                targets = web.find_element(By.ID, "chi-tieu").text  # waits for the page
                area = web.find_element(By.TAG_NAME, "h1").text
                web.save_screenshot(str(shots / "02-commune.png"))
                web.find_element(By.CSS_SELECTOR, f'a[href="/u/{VILLAGE}"]').click()
                WebDriverWait(web, 10).until(lambda d: d.current_url.endswith(f"/u/{VILLAGE}"))
                village = web.find_element(By.TAG_NAME, "h1").text
                web.save_screenshot(str(shots / "03-village.png"))
                web.get(f"{base}/")
                web.find_element(By.ID, "export").click()
                return {"area": area, "targets": targets, "village": village}

            seen = await asyncio.to_thread(sign_in_and_look)
            assert seen["area"] == "Xã Đức Chánh"
            assert seen["village"].startswith("Thôn 1")
            visited = " / ".join(
                f"{figures[key]:,}".replace(",", ".")
                for key in ("households_visited", "households")
            )
            assert f"Đã hướng dẫn {visited} hộ" in seen["targets"]
            for target in app.services.plan.targets:
                value = figures["targets"][target.key]["value"]
                shown = "—" if value is None else f"{value * 100:.1f}".replace(".", ",") + "%"
                assert shown in seen["targets"], (target.key, shown)

            file = await asyncio.to_thread(_wait_for_file, downloads, ".xlsx")
            assert file.name == f"so-lieu-{COMMUNE}-2024-10-03.xlsx"
            book = openpyxl.load_workbook(file, read_only=True)
            assert len(book.sheetnames) >= 3

            def print_an_invite() -> tuple[str, int]:
                web.get(f"{base}/invite")
                Select(web.find_element(By.ID, "role")).select_by_value("leader")
                Select(web.find_element(By.ID, "unit")).select_by_value(VILLAGE_2)
                Select(web.find_element(By.ID, "uses")).select_by_value("5")
                web.save_screenshot(str(shots / "04-invite-form.png"))
                web.find_element(By.ID, "create").click()
                code = web.find_element(By.ID, "invite-code").text
                qr = web.find_elements(By.CSS_SELECTOR, "#qr-telegram svg")
                web.save_screenshot(str(shots / "05-invite-qr.png"))
                web.get(link)
                web.save_screenshot(str(shots / "06-link-used.png"))
                return code, len(qr)

            code, qrs = await asyncio.to_thread(print_an_invite)
            assert qrs == 1 and len(code) == 8
            used = await asyncio.to_thread(lambda: web.find_element(By.TAG_NAME, "h1").text)
            assert "không dùng được" in used
        finally:
            await asyncio.to_thread(web.quit)

        # The link is spent for any other browser too, and another commune stays closed.
        async with browser() as other, other.post(link) as again:
            assert again.status == 410

    for name in ("01-link", "02-commune", "03-village", "05-invite-qr", "06-link-used"):
        assert (shots / f"{name}.png").stat().st_size > 1000

"""The dashboard on a real HTTP server (the webhook server, port 0) and a browser-like client."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp

from bot.app import App
from bot.dashboard import Dashboard
from bot.webhook import Endpoints, WebhookServer
from tests.auxil.chat import Chat, Clock

LINK = re.compile(r"(https?://\S+/login/[A-Za-z0-9_\-]+)")


@asynccontextmanager
async def serving(app: App, clock: Clock, *, public: str | None = None) -> AsyncIterator[str]:
    """Serve the dashboard on 127.0.0.1 (a free port) with the test's clock; yields its base URL.
    `public` stands for a WEB_BASE_URL in front of it (a reverse proxy with HTTPS)."""
    dashboard = Dashboard(app, clock=lambda: clock.now)
    server = WebhookServer(Endpoints(), "127.0.0.1:0", extra=dashboard.install)
    await server.start()
    base = f"http://127.0.0.1:{server.bound_port}"
    dashboard.set_base_url(public or base)
    try:
        yield base
    finally:
        await server.stop()
        app.services.web_base_url = None


def browser() -> aiohttp.ClientSession:
    """A client that keeps cookies for 127.0.0.1, as a browser does."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def link_from(chat: Chat) -> str:
    await chat.send("/web")
    found = LINK.search(chat.text)
    assert found, chat.text
    return found[1]


async def sign_in(client: aiohttp.ClientSession, chat: Chat, base: str | None = None) -> str:
    """/web in the chat, open the link, press the button: the client now holds a session.
    Returns the Set-Cookie header (`base`: reach the server there, not at the link's host)."""
    link = await link_from(chat)
    if base is not None:
        link = base + "/login/" + link.rsplit("/", 1)[1]
    async with client.get(link) as page:
        assert page.status == 200, await page.text()
    async with client.post(link, allow_redirects=False) as done:
        assert done.status == 303, await done.text()
        return done.headers["Set-Cookie"]

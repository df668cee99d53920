"""A small round-robin HTTP proxy, standing in for the load balancer in front of the workers
(`python -m bench scale` and tests/bot/test_workers.py).

Each request goes to the next upstream in turn. An upstream that refuses or drops a
connection is marked down for `down_for` seconds (a passive health check, as Caddy's
``fail_duration`` or nginx's ``max_fails`` do) and the request is answered 502, which the
platform retries: the proxy itself never repeats a request.
"""

from __future__ import annotations

import itertools
import time

import aiohttp
from aiohttp import web

_HOP = {"host", "connection", "keep-alive", "transfer-encoding", "content-length"}


class RoundRobin:
    def __init__(self, upstreams: list[str], *, down_for: float = 3.0) -> None:
        self.upstreams = upstreams
        self.down_for = down_for
        self.down_until: dict[str, float] = {}
        self.served: dict[str, int] = dict.fromkeys(upstreams, 0)
        self.failed = 0
        self._turn = itertools.count()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.url = ""

    async def __aenter__(self) -> RoundRobin:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._runner is not None and self._session is not None
        await self._runner.cleanup()
        await self._session.close()

    def _next(self) -> str:
        now = time.monotonic()
        for _ in range(len(self.upstreams)):
            upstream = self.upstreams[next(self._turn) % len(self.upstreams)]
            if self.down_until.get(upstream, 0) <= now:
                return upstream
        return self.upstreams[next(self._turn) % len(self.upstreams)]

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        upstream = self._next()
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        headers["X-Forwarded-For"] = request.remote or ""
        try:
            async with self._session.request(
                request.method, upstream + request.path_qs, data=body, headers=headers
            ) as response:
                content = await response.read()
                self.served[upstream] += 1
                return web.Response(
                    status=response.status,
                    body=content,
                    content_type=response.content_type,
                )
        except (aiohttp.ClientError, TimeoutError):
            self.down_until[upstream] = time.monotonic() + self.down_for
            self.failed += 1
            return web.Response(status=502, text="bad gateway")

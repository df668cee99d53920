"""Downloading a file a person sent, for the channels that get a URL for it: streamed, and
stopped as soon as it passes the limit (core/files.py)."""

from __future__ import annotations

import httpx

from core.files import FileTooBig, FileUnavailable

TIMEOUT = httpx.Timeout(20.0, connect=10.0)


async def download(url: str, limit: int, client: httpx.AsyncClient | None = None) -> bytes:
    """The bytes at `url` (at most `limit`): FileTooBig past it, FileUnavailable on any
    network or HTTP failure."""
    own = client is None
    http = client or httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=True)
    try:
        async with http.stream("GET", url, timeout=TIMEOUT) as response:
            if response.status_code != 200:
                raise FileUnavailable()
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise FileTooBig(limit)
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    raise FileTooBig(limit)
                chunks.append(chunk)
            return b"".join(chunks)
    except (httpx.HTTPError, httpx.InvalidURL):
        raise FileUnavailable() from None
    finally:
        if own:
            await http.aclose()

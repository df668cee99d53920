"""The floor bot of `bench report --floor` stores each update once: what it claims to bound is
the cost of storing a report exactly once, so a redelivered update must insert nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.floor import open_store
from bench.report import _prepare
from core.events import Incoming
from tests.conftest import BACKENDS, own_database

MEMBER = 900001


def _update(key: str) -> Incoming:
    return Incoming(
        channel="telegram",
        chat_id=str(MEMBER),
        user_id=str(MEMBER),
        update_key=key,
        at=datetime.now(UTC),
        text="/bc Hộ bà Lan; thôn 1; dvc",
    )


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_redelivered_update_is_stored_once(backend: str, tmp_path: Path) -> None:
    async with own_database(backend, tmp_path) as url:
        await _prepare(url, [MEMBER])  # the bot's migrations and one registered member
        store, close = await open_store(url)
        try:
            first = await store(_update("101"))
            again = await store(_update("101"))
            other = await store(_update("102"))
        finally:
            await close()
    assert first > 0
    assert again == 0  # already stored: nothing inserted
    assert other not in (0, first)

"""Shared fixtures: the app on a real SQLite file and on a throwaway PostgreSQL database."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bot.app import App
from bot.config import Settings
from db.engine import Database
from db.schema import metadata
from handlers.services import unitsfile

PG_ADMIN_DSN = os.environ.get("TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
UNITS_CSV = Path(__file__).resolve().parent.parent / "content" / "units" / "mo-duc-2024.csv"
BACKENDS = ["sqlite", "postgresql"]


async def _create_pg_database() -> str:
    name = f"test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def _drop_pg_database(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def pg_url(name: str) -> str:
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}"


@contextlib.asynccontextmanager
async def own_database(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of an empty database for one test alone: a file under `tmp_path` (SQLite), or
    a throwaway PostgreSQL database, dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'own.db'}"
        return
    name = await _create_pg_database()
    try:
        yield pg_url(name)
    finally:
        await _drop_pg_database(name)


@pytest.fixture(scope="session", params=BACKENDS)
async def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """One migrated database per backend for the whole run (PostgreSQL: created, then dropped)."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        name = None
    else:
        name = await _create_pg_database()
        url = pg_url(name)
    db = Database(url)
    await db.upgrade()
    await db.close()
    yield url
    if name:
        await _drop_pg_database(name)


async def reset(db: Database) -> None:
    """Empty every table, then load the sample district."""
    async with db.transaction() as conn:
        for table in reversed(metadata.sorted_tables):
            await conn.execute(table.delete())
        await unitsfile.import_csv(conn, UNITS_CSV.read_text(encoding="utf-8"))


def settings_for(url: str, **overrides: Any) -> Settings:
    # Fair use is off unless a test turns it on (tests/handlers/test_fair_use.py): many tests
    # play a whole conversation in a fraction of a second.
    overrides = {"fair_use_messages": 0, "fair_use_metered_messages": 0, **overrides}
    return Settings(_env_file=None, database_url=url, **overrides)  # type: ignore[call-arg]


@pytest.fixture
async def app(database_url: str) -> AsyncIterator[App]:
    """The real app (services, dispatcher) on a freshly emptied database with the sample units."""
    instance = await App.open(settings_for(database_url), migrate=False)
    await reset(instance.db)
    yield instance
    await instance.close()


@pytest.fixture(scope="session")
def chromium_paths() -> dict[str, str]:
    """Debian's chromium and chromedriver, installed by the test set-up when missing."""
    from tests.auxil.browser import chromium

    return chromium()

"""`python -m bench stats`: a full digest of the whole tree at district and province scale.

Synthetic data is loaded straight into the tables: a units tree (province → districts →
communes → villages), team members, households, visits, and the maintained aggregates
(unit_stats, unit_daily_stats) computed once from those visits exactly as the report path
would have left them (a household counts as visited, guided to public services/payment or
proficient on the day of the visit that first made it so). Then the digest of the root (its
figures, a line per child, today's and yesterday's change, members without a report today,
the best villages) is timed, as the evening digest and /thongke produce it.

Scales: district (36,000 households, 100,000 visits) and province (400,000 households,
1,200,000 visits). Goals: under 200 ms at province scale on SQLite, province/district < 3.
On SQLite the statements the digest runs are checked with EXPLAIN QUERY PLAN: none may scan
the visits table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa

from bot.app import App
from bot.config import Settings
from db.engine import Database
from db.models import Person
from db.schema import (
    AGGREGATES,
    FIGURES,
    households,
    people,
    unit_daily_stats,
    unit_stats,
    units,
    visits,
)
from handlers.services import digest

PG_ADMIN = os.environ.get("BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
CAMPAIGN_START = date(2024, 10, 1)
DAYS = 10
TODAY = CAMPAIGN_START + timedelta(days=DAYS - 1)
MEMBERS_PER_VILLAGE = 6
COMMUNES_PER_DISTRICT = 13
VILLAGES_PER_COMMUNE = 8
SKILLS = (
    "dvc",
    "shopping",
    "payment",
    "safety",
    "local_platforms",
    "vneid_install",
    "vneid_register",
    "vneid_activate",
    "cqngai",
    "other",
)


@dataclass(frozen=True)
class Scale:
    name: str
    districts: int  # 0: the root is a single district
    households: int
    visits: int


SCALES = {
    "district": Scale("district", 0, 36_000, 100_000),
    "province": Scale("province", 10, 400_000, 1_200_000),
}


@dataclass
class Tree:
    root: str
    root_kind: str
    rows: list[dict[str, Any]]
    villages: list[dict[str, Any]]
    lineage: dict[str, list[str]]


def build_tree(scale: Scale, rng: random.Random) -> Tree:
    rows: list[dict[str, Any]] = []

    def add(code: str, name: str, kind: str, parent: dict[str, Any] | None) -> dict[str, Any]:
        path = f"{parent['path'] if parent else '/'}{code}/"
        row = {
            "code": code,
            "name": name,
            "kind": kind,
            "parent_code": parent and parent["code"],
            "path": path,
            "depth": parent["depth"] + 1 if parent else 0,
        }
        row.update(dict.fromkeys(FIGURES))
        rows.append(row)
        return row

    if scale.districts:
        root = add("p", "Tỉnh Mẫu", "province", None)
        districts = [add(f"p-d{d}", f"Huyện {d}", "district", root) for d in range(scale.districts)]
    else:
        root = add("d", "Huyện Mẫu", "district", None)
        districts = [root]
    villages = []
    for district in districts:
        for c in range(COMMUNES_PER_DISTRICT):
            commune = add(f"{district['code']}-c{c}", f"Xã {c}", "commune", district)
            for v in range(VILLAGES_PER_COMMUNE):
                villages.append(add(f"{commune['code']}-v{v}", f"Thôn {v}", "village", commune))
    per_village = scale.households // len(villages)
    extra = scale.households - per_village * len(villages)
    for index, village in enumerate(villages):
        count = per_village + (1 if index < extra else 0)
        eligible = int(count * 2.6)
        village.update(
            households=count,
            eligible_citizens=eligible,
            working_age=int(count * 2.0),
            vneid_registered_baseline=int(eligible * rng.uniform(0.5, 0.7)),
            vneid_activated_baseline=int(eligible * rng.uniform(0.35, 0.5)),
            cqngai_baseline=int(count * rng.uniform(0.2, 0.4)),
        )
    lineage = {row["code"]: [c for c in row["path"].split("/") if c] for row in rows}
    return Tree(root["code"], root["kind"], rows, villages, lineage)


def subtree_totals(tree: Tree) -> dict[str, dict[str, int]]:
    totals = {row["code"]: dict.fromkeys(FIGURES, 0) for row in tree.rows}
    for village in tree.villages:
        for code in tree.lineage[village["code"]]:
            for name in FIGURES:
                totals[code][name] += village[name]
    return totals


class Loader:
    """Bulk inserts: executemany on SQLite (sync engine), COPY on PostgreSQL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.pg: asyncpg.Connection | None = None
        self.sqlite: sa.Engine | None = None

    async def open(self) -> None:
        if self.url.startswith("postgresql"):
            self.pg = await asyncpg.connect(self.url.replace("postgresql+asyncpg", "postgresql"))
        else:
            self.sqlite = sa.create_engine(
                self.url.replace("sqlite+aiosqlite", "sqlite"), hide_parameters=True
            )

    async def close(self) -> None:
        if self.pg is not None:
            await self.pg.execute("ANALYZE")
            await self.pg.close()
        if self.sqlite is not None:
            with self.sqlite.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
            self.sqlite.dispose()

    async def insert(self, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        if self.pg is not None:
            columns = list(rows[0])
            records = [tuple(row[c] for c in columns) for row in rows]
            await self.pg.copy_records_to_table(table.name, records=records, columns=columns)
        else:
            assert self.sqlite is not None
            with self.sqlite.begin() as conn:
                conn.execute(table.insert(), rows)


def _chunks(rows: list[dict[str, Any]], size: int = 50_000) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


async def load(url: str, scale: Scale, seed: int = 7) -> Tree:
    """Fill an empty, migrated database with the synthetic data of `scale`."""
    rng = random.Random(seed)
    tree = build_tree(scale, rng)
    now = datetime(2024, 9, 15, tzinfo=UTC)
    loader = Loader(url)
    await loader.open()
    try:
        await loader.insert(units, [{k: row[k] for k in row} for row in tree.rows])

        # Team members: a leader, a deputy and members in every village.
        member_rows, members_of = [], {}
        person_id = 0
        for village in tree.villages:
            ids = []
            for slot in range(MEMBERS_PER_VILLAGE):
                person_id += 1
                role = "leader" if slot == 0 else "deputy" if slot == 1 else "member"
                member_rows.append(
                    {
                        "id": person_id,
                        "role": role,
                        "unit_code": village["code"],
                        "position": "other",
                        "display_name": f"Thành viên {person_id}",
                        "preferred_channel": "telegram",
                        "created_at": now,
                    }
                )
                ids.append(person_id)
            members_of[village["code"]] = ids
        for chunk in _chunks(member_rows):
            await loader.insert(people, chunk)

        # Households, numbered per village.
        first_household: dict[str, int] = {}
        next_id = 1
        for village in tree.villages:
            first_household[village["code"]] = next_id
            next_id += village["households"]
        total_households = next_id - 1
        h_visits = [0] * (total_households + 1)
        h_dvc = [False] * (total_households + 1)
        h_prof = [False] * (total_households + 1)
        h_counts = [[0, 0, 0] for _ in range(total_households + 1)]

        # Visits day by day, and the aggregates exactly as the report path applies them.
        daily: dict[tuple[str, date], list[int]] = {}
        visit_rows: list[dict[str, Any]] = []  # inserted after their households (foreign keys)
        weights = [v["households"] for v in tree.villages]
        visit_id = 0
        per_day = scale.visits // DAYS
        for number in range(DAYS):
            day = CAMPAIGN_START + timedelta(days=number)
            count = per_day if number < DAYS - 1 else scale.visits - per_day * (DAYS - 1)
            chosen = rng.choices(tree.villages, weights=weights, k=count)
            rows = []
            for village in chosen:
                code = village["code"]
                household = first_household[code] + rng.randrange(village["households"])
                flags = rng.getrandbits(len(SKILLS))
                skills = {name: bool(flags >> bit & 1) for bit, name in enumerate(SKILLS)}
                dk2 = rng.randint(1, 3) if skills["vneid_register"] else 0
                kh = rng.randint(0, dk2) if skills["vneid_activate"] else 0
                cqn = rng.randint(1, 2) if skills["cqngai"] else 0
                proficient = rng.random() < 0.3
                visit_id += 1
                rows.append(
                    {
                        "id": visit_id,
                        "household_id": household,
                        "member_id": rng.choice(members_of[code]),
                        "village_code": code,
                        "visit_date": day,
                        **skills,
                        "dk2": dk2,
                        "kh": kh,
                        "cqn": cqn,
                        "proficient": proficient,
                        "note": None,
                        "request_key": f"bench:{visit_id}",
                        "created_at": now,
                        "updated_at": None,
                        "deleted_at": None,
                    }
                )
                delta = daily.setdefault((code, day), [0] * len(AGGREGATES))
                delta[0] += 1
                if h_visits[household] == 0:
                    delta[1] += 1
                h_visits[household] += 1
                if (skills["dvc"] or skills["payment"]) and not h_dvc[household]:
                    h_dvc[household] = True
                    delta[2] += 1
                if proficient and not h_prof[household]:
                    h_prof[household] = True
                    delta[3] += 1
                delta[4] += dk2
                delta[5] += kh
                delta[6] += cqn
                counts = h_counts[household]
                counts[0] += dk2
                counts[1] += kh
                counts[2] += cqn
            visit_rows.extend(rows)

        household_rows = []
        for village in tree.villages:
            start = first_household[village["code"]]
            for hid in range(start, start + village["households"]):
                household_rows.append(
                    {
                        "id": hid,
                        "village_code": village["code"],
                        "head_name": f"Chủ hộ {hid}",
                        "head_key": f"chu ho {hid}",
                        "address": "",
                        "address_key": "",
                        "size": 4,
                        "created_by": None,
                        "created_at": now,
                        "visits": h_visits[hid],
                        "dvc_payment": h_dvc[hid],
                        "proficient": h_prof[hid],
                        "vneid_registered": h_counts[hid][0],
                        "vneid_activated": h_counts[hid][1],
                        "cqngai_installed": h_counts[hid][2],
                    }
                )
        for chunk in _chunks(household_rows):
            await loader.insert(households, chunk)
        for chunk in _chunks(visit_rows):
            await loader.insert(visits, chunk)

        # Roll the village aggregates up to every ancestor, overall and per day.
        overall = {row["code"]: [0] * len(AGGREGATES) for row in tree.rows}
        rolled: dict[tuple[str, date], list[int]] = {}
        for (code, day), delta in daily.items():
            for unit in tree.lineage[code]:
                target = rolled.setdefault((unit, day), [0] * len(AGGREGATES))
                for index, value in enumerate(delta):
                    target[index] += value
                    overall[unit][index] += value
        totals = subtree_totals(tree)
        await loader.insert(
            unit_stats,
            [
                {
                    "unit_code": code,
                    **{f"total_{name}": totals[code][name] for name in FIGURES},
                    **dict(zip(AGGREGATES, overall[code], strict=True)),
                }
                for code in overall
            ],
        )
        for chunk in _chunks(
            [
                {"unit_code": code, "day": day, **dict(zip(AGGREGATES, values, strict=True))}
                for (code, day), values in rolled.items()
            ]
        ):
            await loader.insert(unit_daily_stats, chunk)
        if loader.pg is not None:
            for table, column in (("people", "id"), ("households", "id"), ("visits", "id")):
                await loader.pg.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                    f"(SELECT max({column}) FROM {table}))"
                )
    finally:
        await loader.close()
    return tree


async def _explain_sqlite(app: App, statements: list[tuple[str, Any]]) -> list[str]:
    """Plans of the statements the digest ran that touch visits (should be index searches)."""
    from db.explain import sqlite_plan

    findings = []
    async with app.db.read() as conn:
        for statement, params in statements:
            if "visits" not in statement:
                continue
            for line in await sqlite_plan(conn, statement, params):
                if "visits" in line or " live" in line:
                    findings.append(line)
    return findings


async def time_digest(url: str, tree: Tree, repeat: int) -> tuple[list[float], int, list[str]]:
    settings = Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]
    app = await App.open(settings, migrate=False)
    try:
        role = "admin" if tree.root_kind == "province" else "district_officer"
        person = Person(id=0, role=role, unit_code=tree.root, position=None, display_name=None)
        statements: list[tuple[str, Any]] = []

        def capture(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
            statements.append((statement, params))

        times, size = [], 0
        for run in range(repeat + 1):
            if run == 1:
                sa.event.listen(app.db.engine.sync_engine, "before_cursor_execute", capture)
            async with app.db.read() as conn:
                start = time.perf_counter()
                reply = await digest.digest_text(conn, app.services, person, TODAY)
                elapsed = time.perf_counter() - start
            if run == 1:
                sa.event.remove(app.db.engine.sync_engine, "before_cursor_execute", capture)
            if run:
                times.append(elapsed)
            size = len(reply.text)
        plans = await _explain_sqlite(app, statements) if app.db.is_sqlite else []
        return times, size, plans
    finally:
        await app.close()


async def _pg_database() -> tuple[str, str]:
    name = f"bench_stats_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return name, f"{base}/{name}"


async def _drop_pg(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def run_scale(backend: str, scale: Scale, repeat: int, workdir: Path) -> float:
    pg_name = None
    if backend == "postgresql":
        pg_name, url = await _pg_database()
    else:
        url = f"sqlite+aiosqlite:///{workdir / f'{scale.name}.db'}"
    try:
        db = Database(url)
        await db.upgrade()
        await db.close()
        started = time.perf_counter()
        tree = await load(url, scale)
        loaded = time.perf_counter() - started
        times, size, plans = await time_digest(url, tree, repeat)
    finally:
        if pg_name:
            await _drop_pg(pg_name)
    median = statistics.median(times)
    print(
        f"{backend:<10} {scale.name:<8} {scale.households:>8,} households {scale.visits:>9,} visits"
        f"  {len(tree.villages):>5} villages  load {loaded:6.1f} s  digest median"
        f" {median * 1000:7.1f} ms  min {min(times) * 1000:7.1f} ms  ({size} chars)",
        flush=True,
    )
    for line in plans:
        print(f"           plan: {line}")
    return median


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench stats", description=__doc__)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--scales", default="district,province")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    scales = [SCALES[name] for name in args.scales.split(",")]

    async def run() -> None:
        with tempfile.TemporaryDirectory(prefix="bench-stats-") as tmp:
            for backend in backends:
                medians = {
                    s.name: await run_scale(backend, s, args.repeat, Path(tmp)) for s in scales
                }
                if "district" in medians and "province" in medians:
                    ratio = medians["province"] / medians["district"]
                    goal = "ok" if ratio < 3 else "over 3"
                    speed = "ok" if medians["province"] < 0.2 else "over 200 ms"
                    print(
                        f"{backend:<10} province/district ratio {ratio:.2f} ({goal});"
                        f" province {medians['province'] * 1000:.1f} ms ({speed})"
                    )

    asyncio.run(run())
    return 0

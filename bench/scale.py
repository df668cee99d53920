"""`python -m bench scale`: quick-form reports/s on PostgreSQL with 1 and 2 workers.

Real `python -m bot run` processes in webhook mode, each on its own port behind a
round-robin proxy (bench/proxy.py), one PostgreSQL database, a local Bot API server
(bench/fake_telegram.py) receiving the replies. `--members` simulated members post their
next report as soon as the previous one is answered 200 (after commit and reply), as
Telegram does with webhooks. Printed per run: reports/s, p95 latency, and the CPU each
report cost in the bot workers and in the PostgreSQL backends (read from /proc: the
database runs on this machine), which is what the README's capacity plan is built from.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from bench.fake_telegram import FakeTelegram
from bench.proxy import RoundRobin
from bench.report import PG_ADMIN, ROOT, _cpu_seconds, _errors_in, _p95, _prepare
from bench.workers import free_port, wait_ready, worker_settings

SECRET = "bench-scale-secret-0123456789"
HEADER = "X-Telegram-Bot-Api-Secret-Token"


async def _backend_cpu(admin: asyncpg.Connection, database: str) -> dict[int, float]:
    """CPU seconds used so far by each PostgreSQL backend serving `database`."""
    pids = await admin.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", database)
    return {row["pid"]: _cpu_seconds(row["pid"]) for row in pids}


async def _start(tg: FakeTelegram, url: str, port: int, log: int) -> Any:
    env = dict(os.environ, **worker_settings(tg, url, port, SECRET))
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=ROOT, env=env, stderr=log
    )


async def _drive(
    tg: FakeTelegram, session: aiohttp.ClientSession, url: str, users: list[int], total: int
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    counter = iter(range(total))

    async def member(user: int) -> None:
        for number in counter:
            text = f"/bc Hộ quy mô {user}-{number}; xóm {number}; dvc,tt; dk2=1"
            update_id = tg.user_says(user, text)
            update = tg.pending.pop()
            assert update["update_id"] == update_id
            start = time.perf_counter()
            async with session.post(
                url + "/webhook/telegram", json=update, headers={HEADER: SECRET}
            ) as response:
                if response.status != 200:
                    raise RuntimeError(f"webhook answered {response.status}")
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(member(user) for user in users))
    return time.perf_counter() - start, latencies


async def run_one(workers: int, total: int, members: int) -> dict[str, float]:
    users = [800000 + i for i in range(members)]
    name = f"bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"
    processes: list[Any] = []
    fd, log_name = tempfile.mkstemp(prefix=f"bench-scale-{workers}-", suffix=".log")
    try:
        await _prepare(url, users)
        ports = [free_port() for _ in range(workers)]
        upstreams = [f"http://127.0.0.1:{port}" for port in ports]
        connector = aiohttp.TCPConnector(limit=members + 10)
        async with (
            FakeTelegram() as tg,
            RoundRobin(upstreams) as proxy,
            aiohttp.ClientSession(connector=connector) as session,
        ):
            processes = [await _start(tg, url, port, fd) for port in ports]
            for upstream in upstreams:
                await wait_ready(session, upstream)
            await _drive(tg, session, proxy.url, users, members * 3)  # warm-up
            bot_before = sum(_cpu_seconds(p.pid) for p in processes)
            db_before = await _backend_cpu(admin, name)
            elapsed, latencies = await _drive(tg, session, proxy.url, users, total)
            bot_cpu = sum(_cpu_seconds(p.pid) for p in processes) - bot_before
            db_after = await _backend_cpu(admin, name)
            db_cpu = sum(cpu - db_before.get(pid, 0.0) for pid, cpu in db_after.items())
            for process in processes:
                process.terminate()
            for process in processes:
                await asyncio.wait_for(process.wait(), 30)
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
        os.close(fd)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    errors = _errors_in(Path(log_name))
    return {
        "per_s": total / elapsed,
        "p95_ms": _p95(latencies),
        "bot_cpu_ms": bot_cpu / total * 1000,
        "db_cpu_ms": db_cpu / total * 1000,
        "errors": errors,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench scale")
    parser.add_argument("--n", type=int, default=1000, help="reports per run")
    parser.add_argument("--members", type=int, default=40)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)
    print(
        f"bench scale: {args.n} quick-form reports from {args.members} members in parallel, "
        f"webhook workers behind a round-robin proxy, one PostgreSQL database, "
        f"{os.cpu_count()} CPU cores on this machine"
    )
    for workers in args.workers:
        r = asyncio.run(run_one(workers, args.n, args.members))
        print(
            f"{workers} worker(s): {r['per_s']:7.1f} reports/s  p95 {r['p95_ms']:6.1f} ms  "
            f"CPU per report: bot {r['bot_cpu_ms']:.2f} ms, PostgreSQL {r['db_cpu_ms']:.2f} ms"
            f"  | errors {int(r['errors'])}"
        )
    return 0

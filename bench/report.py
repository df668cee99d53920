"""`python -m bench report`: household reports/s through the real Telegram channel vs an echo bot.

N quick-form reports (`/bc …`, one message = one report) come from 20 simulated members in
parallel, each sending its next message as soon as the previous one is answered, to the real
bot process (`python -m bot run`, rate limiter and fair-use limits off: each member sends far
more than FAIR_USE_MESSAGES a minute) through a local Bot API server running in this process.
The same number of messages then go through a bare echo bot on the same channel code. The
ratio reports/s ÷ echo messages/s shows what the bot's own work costs. The two runs are
repeated (--rounds, default 3, their order alternating) and the medians printed: on a shared
machine the speed drifts (the echo bot's CPU per message went from 1.3 to 2.4 ms within half
an hour on 2026-12-04), which one pair of runs would take for a result.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bench.fake_telegram import FakeTelegram, Sent
from bot.app import App
from bot.config import Settings
from handlers.services import invites

ROOT = Path(__file__).resolve().parent.parent
VILLAGES = ["duc-chanh-thon-1", "duc-chanh-thon-2", "duc-hiep-thon-1", "tt-mo-duc-tdp-1"]
PG_ADMIN = os.environ.get("BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


class BenchTelegram(FakeTelegram):
    """The fake server, with a waiter per chat instead of scanning every sent message."""

    def __init__(self) -> None:
        super().__init__()
        self.waiters: dict[int, asyncio.Future[str]] = {}

    def _record(self, method: str, sent: Sent) -> None:
        waiter = self.waiters.pop(sent.chat_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(sent.text)

    async def __aenter__(self) -> BenchTelegram:
        await super().__aenter__()
        return self

    async def ask(self, user: int, text: str) -> tuple[float, str]:
        waiter = asyncio.get_running_loop().create_future()
        self.waiters[user] = waiter
        start = time.perf_counter()
        self.user_says(user, text)
        reply = await asyncio.wait_for(waiter, 30)
        return time.perf_counter() - start, reply


async def _drive(
    tg: BenchTelegram, users: list[int], total: int, make_text: object
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    counter = iter(range(total))

    async def member(user: int) -> None:
        for number in counter:
            latency, reply = await tg.ask(user, make_text(user, number))  # type: ignore[operator]
            if "Đã lưu" not in reply and not reply.startswith("/bc"):
                raise RuntimeError(f"unexpected reply: {reply[:200]}")
            latencies.append(latency)

    start = time.perf_counter()
    await asyncio.gather(*(member(user) for user in users))
    return time.perf_counter() - start, latencies


# The settings the measured bot runs with, over the environment and any .env: the outgoing
# rate limiter and the per-person fair-use limits are off, so the hot path is what is measured
# (20 members sending as fast as they are answered would be told to slow down within seconds).
BOT_ENV = {
    "TELEGRAM_RATE_LIMIT": "0",
    "FAIR_USE_MESSAGES": "0",
    "FAIR_USE_METERED_MESSAGES": "0",
    "LOG_LEVEL": "WARNING",
}


async def _start(
    module: str, tg: FakeTelegram, env: dict[str, str], stderr: int
) -> asyncio.subprocess.Process:
    full = {
        **os.environ,
        **BOT_ENV,
        "TELEGRAM_TOKEN": tg.token,
        "TELEGRAM_BASE_URL": tg.base_url,
        **env,
    }
    args = ["-m", "bot", "run"] if module == "bot" else ["-m", f"bench.{module}"]
    return await asyncio.create_subprocess_exec(
        sys.executable, *args, cwd=ROOT, env=full, stderr=stderr
    )


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process has used so far; NaN where /proc is missing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _errors_in(log: Path) -> int:
    """Lines of the process's stderr that report an error or start a traceback (the log is
    removed when there are none)."""
    text = log.read_text(encoding="utf-8", errors="replace")
    errors = sum(
        1 for line in text.splitlines() if " ERROR " in line or line.startswith("Traceback")
    )
    if not errors:
        log.unlink()  # kept only to be read when something went wrong
    return errors


async def _stop(process: asyncio.subprocess.Process) -> None:
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), 15)
    except TimeoutError:
        process.kill()


async def _prepare(url: str, users: list[int]) -> None:
    app = await App.open(Settings(_env_file=None, database_url=url))  # type: ignore[call-arg]
    try:
        await app.load_sample_units_if_empty()
        now = datetime.now(UTC)
        async with app.db.transaction() as conn:
            for index, user in enumerate(users):
                invite = await invites.create(
                    conn,
                    inviter=None,
                    role="member",
                    unit_code=VILLAGES[index % len(VILLAGES)],
                    uses=1,
                    expires_in=timedelta(days=1),
                    now=now,
                )
                await invites.redeem(
                    conn,
                    code=invite.code,
                    channel="telegram",
                    external_id=str(user),
                    chat_id=str(user),
                    display_name=f"Thành viên {index}",
                    current=None,
                    now=now,
                )
    finally:
        await app.close()


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[94] * 1000


async def _measure(
    name: str, module: str, backend: str, url: str, users: list[int], total: int, make: object
) -> dict[str, float]:
    """One run of the bot (or the echo bot) in a fresh process: rate, p95, CPU, errors."""
    fd, log_name = tempfile.mkstemp(prefix=f"bench-{backend}-{name}-", suffix=".log")
    log = Path(log_name)
    try:
        async with BenchTelegram() as tg:
            process = await _start(module, tg, {"DATABASE_URL": url}, fd)
            try:
                await _drive(tg, users, len(users) * 2, make)  # warm-up
                cpu_before = _cpu_seconds(process.pid)
                elapsed, latencies = await _drive(tg, users, total, make)
                cpu = _cpu_seconds(process.pid) - cpu_before
            finally:
                await _stop(process)
    finally:
        os.close(fd)
        errors = _errors_in(log)
        if errors:
            print(f"{backend} {name}: {errors} ERROR/Traceback lines in its stderr ({log})")
    return {
        "per_s": total / elapsed,
        "p95_ms": _p95(latencies),
        "errors": errors,
        "cpu_ms": cpu / total * 1000,
    }


async def run_one(
    backend: str, total: int, members: int, rounds: int = 1, *, floor: bool = False
) -> dict[str, Any]:
    """`rounds` pairs of runs, report and echo back to back (their order alternating), so
    that a machine getting slower or faster during the benchmark moves both sides of a
    ratio alike; the figures are the medians, the ratios of every round are kept. With
    `floor`, each round runs the floor bot too (bench/floor.py)."""
    users = [900000 + i for i in range(members)]
    pg_name = None
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/bench.db"
    else:
        pg_name = f"bench_{uuid.uuid4().hex[:10]}"
        conn = await asyncpg.connect(PG_ADMIN)
        await conn.execute(f'CREATE DATABASE "{pg_name}"')
        await conn.close()
        url = (
            PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
            + f"/{pg_name}"
        )
    try:
        await _prepare(url, users)

        def report(user: int, n: int) -> str:
            return (
                f"/bc Hộ thử {user}-{n}; số {n} xóm Đông; dvc,tt,atm; dk2=1 kh=1 thanhthao={n % 2}"
            )

        runs: dict[str, list[dict[str, float]]] = {"report": [], "echo": []}
        if floor:
            runs["floor"] = []
        for round_number in range(rounds):
            bots = [("report", "bot"), ("echo", "echo")] + ([("floor", "floor")] if floor else [])
            for name, module in bots if round_number % 2 == 0 else bots[::-1]:
                runs[name].append(await _measure(name, module, backend, url, users, total, report))
        results: dict[str, Any] = {}
        for name, measured in runs.items():
            for key in ("per_s", "p95_ms", "cpu_ms"):
                results[f"{name}_{key}"] = statistics.median(m[key] for m in measured)
            results[f"{name}_errors"] = sum(m["errors"] for m in measured)
        ratios = [
            r["per_s"] / e["per_s"] for r, e in zip(runs["report"], runs["echo"], strict=True)
        ]
        results["ratios"] = ratios
        results["ratio"] = statistics.median(ratios)
        if floor:
            results["floor_ratio"] = statistics.median(
                f["per_s"] / e["per_s"] for f, e in zip(runs["floor"], runs["echo"], strict=True)
            )
        return results
    finally:
        if pg_name:
            conn = await asyncpg.connect(PG_ADMIN)
            await conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
            await conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench report")
    parser.add_argument("--n", type=int, default=1000, help="reports (and echo messages)")
    parser.add_argument("--members", type=int, default=20)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument(
        "--rounds", type=int, default=3, help="report/echo pairs; the medians are printed"
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also run the floor bot (one read, one insert per message: bench/floor.py)",
    )
    args = parser.parse_args(argv)
    backends = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    print(
        f"bench report: {args.n} quick-form reports from {args.members} members in parallel, "
        f"Telegram channel against a local Bot API server, rate limiter and fair use off; "
        f"medians of {args.rounds} report/echo pairs"
    )
    for backend in backends:
        r = asyncio.run(run_one(backend, args.n, args.members, args.rounds, floor=args.floor))
        print(
            f"{backend:<10} reports {r['report_per_s']:7.1f}/s  p95 {r['report_p95_ms']:6.1f} ms "
            f"cpu {r['report_cpu_ms']:.2f} ms | "
            f"echo {r['echo_per_s']:7.1f}/s  p95 {r['echo_p95_ms']:6.1f} ms "
            f"cpu {r['echo_cpu_ms']:.2f} ms | "
            f"ratio {r['ratio']:.2f} (goal >= 0.7; rounds "
            f"{' '.join(f'{ratio:.2f}' for ratio in r['ratios'])}) | "
            f"errors {int(r['report_errors'])}"
        )
        if args.floor:
            print(
                f"{'':<10} floor   {r['floor_per_s']:7.1f}/s  p95 {r['floor_p95_ms']:6.1f} ms "
                f"cpu {r['floor_cpu_ms']:.2f} ms | ratio {r['floor_ratio']:.2f}: the most any "
                f"report path storing each report once could reach on this channel code"
            )
    return 0

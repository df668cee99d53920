"""`python -m bot notify due|send --now ISO-8601`: the plan's notices due at an instant.

`due` lists them without sending; `send` queues them in the outbox and sends them through every
channel the settings configure (bot/channels/registry.py; the local channel prints to stderr).
The outbox key per (occurrence, recipient) makes a second `send` at the same instant a no-op.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from bot.app import App


def _instant(app: App, value: str | None) -> datetime:
    """An ISO-8601 instant; without an offset it is read in the plan's time zone."""
    if not value:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise SystemExit(f"--now: not an ISO-8601 date-time: {value}") from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(app.services.plan.timezone))
    return moment


def _print(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, default=str))


async def cmd_notify_due(app: App, args: argparse.Namespace) -> int:
    from handlers.services import reminders

    now = _instant(app, args.now)
    async with app.db.read() as conn:
        found = await reminders.due(conn, app.services, now)
    if args.json:
        _print([notice.as_json() for notice in found])
    else:
        for notice in found:
            item = notice.as_json()
            print(f"{item['key']:<48} {item['channel']:<8} {item['role']:<16} {item['unit']}")
        print(f"{len(found)} notices due at {now.isoformat()}")
    return 0


async def cmd_notify_send(app: App, args: argparse.Namespace) -> int:
    from bot.channels.base import TokenRefused
    from bot.notify import open_senders, send_due

    now = _instant(app, args.now)
    try:
        channels = await open_senders(app)
    except TokenRefused as refused:
        raise SystemExit(str(refused)) from None
    try:
        result = await send_due(app, now, channels.senders)
    finally:
        await channels.close()
    if args.json:
        _print(result)
    else:
        print(
            f"sent {result['sent']}, already sent {result['already_sent']}, "
            f"failed {result['failed']}, still queued {result['pending']}"
        )
    return 1 if result["failed"] else 0


def add_commands(sub: Any) -> dict[tuple[str, ...], Any]:
    """Add this group's subcommands to `sub`; return {(command, subcommand): runner}."""
    notify = sub.add_parser(
        "notify", help="the plan's reminders, briefs and digests"
    ).add_subparsers(dest="notify_command", required=True)
    due = notify.add_parser("due", help="list the notices due at an instant (sends nothing)")
    send = notify.add_parser("send", help="send the notices due at an instant, once")
    for parser in (due, send):
        parser.add_argument(
            "--now", help="ISO-8601 instant, e.g. 2024-09-18T07:30+07:00 (default: now)"
        )
        parser.add_argument("--json", action="store_true")
    return {("notify", "due"): cmd_notify_due, ("notify", "send"): cmd_notify_send}

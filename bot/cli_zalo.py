"""`python -m bot zalo status`: the Zalo bots served (ZALO_BOT_TOKEN, ZALO_BOT_ACCOUNTS), each
with its unit, its webhook path and this month's use against its caps (never a token).

Registered by bot/cli.py (see EXTENSIONS there).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from bot.app import App
from db.repos import usage


def add_commands(sub: Any) -> dict[tuple[str, ...], Any]:
    """Add this group's subcommands to `sub`; return {(command, subcommand): runner}."""
    group = sub.add_parser(
        "zalo", help="Zalo bots: each bot's unit and this month's use"
    ).add_subparsers(dest="zalo_command", required=True)
    group.add_parser("status", help="the Zalo bots served, their units and this month's use")
    return {("zalo", "status"): cmd_status}


async def cmd_status(app: App, args: argparse.Namespace) -> int:
    """Per bot: its id, its unit, where its webhook is taken, and this month's messages and
    chats against ZALO_MONTHLY_QUOTA and ZALO_USER_QUOTA (which apply to each bot)."""
    from bot.channels.zalo import CHANNEL, bots_from, metered_account
    from bot.usage import Reading, month_start

    settings = app.settings
    try:
        bots = bots_from(settings)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    if not bots:
        print("no Zalo bot is configured (ZALO_BOT_TOKEN)", file=sys.stderr)
        return 2
    start = month_start(datetime.now(UTC), app.services.tz)
    async with app.db.read() as conn:
        for bot in bots:
            account = metered_account(bot, bots)
            used = await usage.since(
                conn,
                CHANNEL,
                start,
                chat_prefix=account.chat_prefix,
                excluding=account.excluding,
            )
            reading = Reading(
                month="",
                sent=used.sent,
                chats=used.chats,
                monthly_quota=settings.zalo_monthly_quota,
                user_quota=settings.zalo_user_quota,
            )
            path = "/webhook/zalo" if bot.primary else f"/webhook/zalo/{bot.bot_id}"
            state = "holding non-urgent notices" if reading.hold else ""
            state = state or ("admins warned" if reading.warn else "ok")
            print(
                f"{bot.bot_id}\t{bot.unit_code or '-'}\t{path}\t"
                f"this month: {used.sent}/{reading.monthly_quota} messages "
                f"({used.proactive} notices, {used.answered} answered), "
                f"{used.chats}/{reading.user_quota} chats\t{state}"
            )
    return 0

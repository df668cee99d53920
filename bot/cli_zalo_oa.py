"""`python -m bot zalo-oa token OA_ID` (a refresh token read from standard input, stored for that
OA) and `python -m bot zalo-oa status` (the OAs served and their tokens' state, never the tokens).

Registered by bot/cli.py (see EXTENSIONS there).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from bot.app import App
from db.repos import oa_tokens, usage


def add_commands(sub: Any) -> dict[tuple[str, ...], Any]:
    """Add this group's subcommands to `sub`; return {(command, subcommand): runner}."""
    group = sub.add_parser(
        "zalo-oa", help="Zalo Official Accounts: store a refresh token, show token state"
    ).add_subparsers(dest="zalo-oa_command", required=True)
    token = group.add_parser(
        "token", help="store an OA's refresh token, read from standard input (not an argument)"
    )
    token.add_argument("oa_id")
    group.add_parser("status", help="the OAs served and when their access tokens expire")
    return {("zalo-oa", "token"): cmd_token, ("zalo-oa", "status"): cmd_status}


async def cmd_token(app: App, args: argparse.Namespace) -> int:
    from bot.channels.zalo_oa import seed_digest

    refresh = sys.stdin.readline().strip()
    if not refresh:
        print("no refresh token on standard input", file=sys.stderr)
        return 2
    async with app.db.transaction() as conn:
        stored = await oa_tokens.seed(
            conn, args.oa_id, refresh, seed_digest(refresh), datetime.now(UTC)
        )
    print(
        f"OA {args.oa_id}: "
        + ("refresh token stored" if stored else "that token was stored before")
    )
    return 0


async def cmd_status(app: App, args: argparse.Namespace) -> int:
    """Per OA: its unit, its token's state, and this month's use (messages sent on its own,
    messages answered, chats), counted per OA."""
    from bot.channels.zalo_oa import CHANNEL, accounts_from
    from bot.usage import month_start

    start = month_start(datetime.now(UTC), app.services.tz)
    async with app.db.read() as conn:
        for account in accounts_from(app.settings):
            row = await oa_tokens.get(conn, account.oa_id)
            if row is None:
                state = "no token stored"
            elif row.access_expires_at is None:
                state = "refresh token stored, no access token yet"
            else:
                state = f"access token valid until {row.access_expires_at.isoformat()}"
            used = await usage.since(conn, CHANNEL, start, chat_prefix=f"{account.oa_id}:")
            print(
                f"{account.oa_id}\t{account.unit_code or '-'}\t{state}\t"
                f"this month: {used.proactive} notices, {used.answered} answered, "
                f"{used.chats} chats"
            )
    return 0

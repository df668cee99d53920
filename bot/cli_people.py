"""People and personal data from the shell: `people list|set-role|remove`, `account unlink`,
`privacy prune|forget`. Each change writes an audit row (the shell acts as no person).

Registered by bot/cli.py (see EXTENSIONS there).
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from bot.app import App
from bot.cli_notify import _instant
from core import roles
from handlers.services import people_admin, privacy, retention


def _print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, default=str))


def add_commands(sub: Any) -> dict[tuple[str, ...], Any]:
    """Add this group's subcommands to `sub`; return {(command, subcommand): runner}."""
    people = sub.add_parser("people", help="registered people").add_subparsers(
        dest="people_command", required=True
    )
    listing = people.add_parser("list", help="registered people (long numbers in names masked)")
    listing.add_argument("--unit", help="this unit and below (default: everyone)")
    listing.add_argument("--role", choices=roles.REGISTERED_ROLES)
    listing.add_argument("--json", action="store_true")
    set_role = people.add_parser("set-role", help="change a person's role and unit")
    set_role.add_argument("person", help="person id, or CHANNEL:ID of one of their accounts")
    set_role.add_argument("--role", required=True, choices=roles.REGISTERED_ROLES)
    set_role.add_argument("--unit", required=True)
    remove = people.add_parser("remove", help="take a person off the team (reports are kept)")
    remove.add_argument("person", help="person id, or CHANNEL:ID of one of their accounts")

    account = sub.add_parser("account", help="chat accounts").add_subparsers(
        dest="account_command", required=True
    )
    unlink = account.add_parser("unlink", help="unlink one chat account from its person")
    unlink.add_argument("account", metavar="CHANNEL:ID")

    privacy_parser = sub.add_parser("privacy", help="personal data").add_subparsers(
        dest="privacy_command", required=True
    )
    prune = privacy_parser.add_parser("prune", help="apply the retention policy now")
    prune.add_argument("--now", help="ISO-8601 instant (default: now)")
    prune.add_argument("--json", action="store_true")
    forget = privacy_parser.add_parser(
        "forget", help="erase one household's or one chat's personal data (counts are kept)"
    )
    target = forget.add_mutually_exclusive_group(required=True)
    target.add_argument("--household", type=int, metavar="ID")
    target.add_argument("--chat", metavar="CHANNEL:ID")
    forget.add_argument("--json", action="store_true")
    return {
        ("people", "list"): cmd_people_list,
        ("people", "set-role"): cmd_people_set_role,
        ("people", "remove"): cmd_people_remove,
        ("account", "unlink"): cmd_account_unlink,
        ("privacy", "prune"): cmd_privacy_prune,
        ("privacy", "forget"): cmd_privacy_forget,
    }


async def cmd_people_list(app: App, args: argparse.Namespace) -> int:
    async with app.db.read() as conn:
        found = await people_admin.listing(conn, None, unit_code=args.unit, role=args.role)
    if args.json:
        _print_json([person.to_json() for person in found])
        return 0
    for p in found:
        print(
            f"{p.id:>6}  {p.role:<17} {p.unit_code or '-':<28} {p.position or '-':<14} "
            f"{p.name or '-':<30} {' '.join(p.accounts)}"
        )
    print(f"{len(found)} people")
    return 0


async def cmd_people_set_role(app: App, args: argparse.Namespace) -> int:
    async with app.db.transaction() as conn:
        person = await people_admin.find(conn, args.person)
        changed = await people_admin.set_role(
            conn, person, role=args.role, unit_code=args.unit, now=datetime.now(UTC)
        )
    print(
        f"person {changed.id}: {person.role} at {person.unit_code} -> {changed.role} at {changed.unit_code}"
    )
    return 0


async def cmd_people_remove(app: App, args: argparse.Namespace) -> int:
    async with app.db.transaction() as conn:
        person = await people_admin.find(conn, args.person)
        unlinked = await people_admin.remove(conn, None, person, datetime.now(UTC))
    print(f"person {person.id} removed from the team ({unlinked} chat accounts unlinked)")
    return 0


async def cmd_account_unlink(app: App, args: argparse.Namespace) -> int:
    channel, external_id = privacy.parse_chat(args.account)
    async with app.db.transaction() as conn:
        person_id = await people_admin.unlink(conn, channel, external_id, datetime.now(UTC))
    print(f"{channel}:{external_id} unlinked from person {person_id}")
    return 0


async def cmd_privacy_prune(app: App, args: argparse.Namespace) -> int:
    now = _instant(app, args.now)
    async with app.db.transaction() as conn:
        done = await retention.prune(conn, now, app.services.retention)
    if args.json:
        _print_json(done)
    else:
        print(
            f"retention applied at {now.isoformat()}: "
            + ", ".join(f"{k} {v}" for k, v in done.items())
        )
    return 0


async def cmd_privacy_forget(app: App, args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    async with app.db.transaction() as conn:
        if args.household is not None:
            done = await privacy.forget_household(conn, None, args.household, now)
        else:
            channel, chat_id = privacy.parse_chat(args.chat)
            done = await privacy.forget_chat(conn, channel, chat_id, now)
    if args.json:
        _print_json(done)
    else:
        print("erased: " + ", ".join(f"{k} {v}" for k, v in done.items()))
    return 0

"""The command line: each command parses its options and calls one or two services."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from bot import logs
from bot.app import App
from bot.config import Settings
from core import roles
from core.errors import DomainError, UnitsFileError
from handlers.services import accounts, invites, people_admin, stats, unitsfile

log = logging.getLogger("bot")
Runner = Callable[[App, argparse.Namespace], Awaitable[int]]


def _print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=None, default=str))


# --- commands ------------------------------------------------------------------------------
async def cmd_db_upgrade(app: App, _args: argparse.Namespace) -> int:
    print("database is up to date")
    return 0


async def cmd_units_import(app: App, args: argparse.Namespace) -> int:
    text = Path(args.file).read_text(encoding="utf-8")  # noqa: ASYNC240 - a one-off CLI read
    async with app.db.transaction() as conn:
        inserted, updated = await unitsfile.import_csv(conn, text, under=args.under)
    print(f"units imported: {inserted} new, {updated} updated")
    return 0


async def cmd_units_list(app: App, args: argparse.Namespace) -> int:
    async with app.db.read() as conn:
        rows = await unitsfile.listing(conn, active_only=args.active)
    if args.json:
        _print_json(rows)
    else:
        for row in rows:
            until = f"  (until {row['valid_to']} -> {row['successor']})" if row["valid_to"] else ""
            print(f"{row['code']:<32} {row['kind']:<9} {row['name']}{until}")
    return 0


class _DryRun(Exception):
    """Raised inside the transaction of a dry run, so nothing it did is kept."""


async def cmd_units_reorganize(app: App, args: argparse.Namespace) -> int:
    from handlers.services import reorganize

    text = Path(args.file).read_text(encoding="utf-8")  # noqa: ASYNC240 - a one-off CLI read
    try:
        async with app.db.transaction() as conn:
            outcome = await reorganize.apply(
                conn,
                text,
                effective=args.effective,
                texts=app.services.texts,
                now=datetime.now(UTC),
                dry_run=args.dry_run,
            )
            if args.dry_run:
                raise _DryRun
    except _DryRun:
        pass
    if args.json:
        _print_json(outcome.as_json())
        return 0
    verb = "would retire" if args.dry_run else "retired"
    for step in outcome.retired:
        print(f"{verb} {step['old']} (valid to {step['valid_to']}) -> {step['new']}")
    for step in outcome.unchanged:
        print(f"unchanged {step['old']} -> {step['new']} (already applied)")
    print(
        f"{len(outcome.retired)} retired, {len(outcome.unchanged)} unchanged, "
        f"{len(outcome.moved_units)} units and {len(outcome.moved_people)} people moved, "
        f"{outcome.notices} people told" + (" (dry run: nothing changed)" if args.dry_run else "")
    )
    return 0


async def cmd_invite_create(app: App, args: argparse.Namespace) -> int:
    async with app.db.transaction() as conn:
        invite = await invites.create(
            conn,
            inviter=None,
            role=args.role,
            unit_code=args.unit,
            uses=args.uses,
            expires_in=invites.parse_duration(args.expires),
            now=datetime.now(UTC),
        )
    username = await _telegram_username(app)
    link = f"https://t.me/{username}?start={invite.code}" if username else None
    if args.json:
        _print_json({"code": invite.code, "telegram_link": link})
    else:
        print(f"code: {invite.code}")
        print(f"telegram: {link or '(set TELEGRAM_BOT_USERNAME or TELEGRAM_TOKEN)'}")
        print(f"zalo / local chat: dangky {invite.code}")
    return 0


async def cmd_invite_list(app: App, args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    async with app.db.read() as conn:
        found = await people_admin.invites_in(
            conn, None, unit_code=args.unit, now=now, usable_only=not args.all
        )
    rows: list[dict[str, Any]] = [
        {
            "code": i.code,
            "role": i.role,
            "unit": i.unit_code,
            "uses": i.uses,
            "max_uses": i.max_uses,
            "expires_at": i.expires_at.isoformat(),
            "created_by": i.created_by,
            "status": people_admin.status(i, now),
        }
        for i in found
    ]
    if args.json:
        _print_json(rows)
    else:
        for row in rows:
            print(
                f"{row['code']:<12} {row['role']:<17} {row['unit']:<28} "
                f"{row['uses']}/{row['max_uses']:<4} {row['expires_at'][:16]}  {row['status']}"
            )
    return 0


async def cmd_invite_revoke(app: App, args: argparse.Namespace) -> int:
    async with app.db.transaction() as conn:
        invite = await people_admin.revoke(conn, None, args.code, datetime.now(UTC))
    print(f"invite {invite.code} ({invite.role}, {invite.unit_code}) revoked")
    return 0


async def _telegram_username(app: App) -> str | None:
    settings = app.settings
    if settings.telegram_bot_username:
        return settings.telegram_bot_username.lstrip("@")
    if not settings.telegram_token:
        return None
    from bot.channels.telegram import build_application

    application = build_application(
        settings.telegram_token, base_url=settings.telegram_base_url, rate_limit=0
    )
    async with application.bot as telegram_bot:
        me = await telegram_bot.get_me()
    return str(me.username) if me.username else None


async def cmd_admin_grant(app: App, args: argparse.Namespace) -> int:
    channel, external = (
        ("telegram", str(args.telegram_id)) if args.telegram_id else ("zalo", args.zalo_id)
    )
    async with app.db.transaction() as conn:
        person = await accounts.grant_admin(
            conn,
            channel=channel,
            external_id=external,
            root_unit=args.unit or app.services.plan.root_unit,
            now=datetime.now(UTC),
        )
    print(f"{channel} account {external} is now admin (person {person.id}, {person.unit_code})")
    return 0


async def cmd_stats(app: App, args: argparse.Namespace) -> int:
    async with app.db.read() as conn:
        figures = await stats.for_unit(
            conn, app.services.plan, args.unit or app.services.plan.root_unit
        )
    if args.json:
        print(stats.as_json(figures))
    else:
        print(
            f"{figures['name']}: {figures['households_visited']} / {figures['households']} households visited"
        )
        for key, target in figures["targets"].items():
            print(f"  {key:<20} {target['value']} (goal {target['goal']})")
    return 0


async def cmd_ask(app: App, args: argparse.Namespace) -> int:
    """The chat's own question answering, for evaluation (one JSON object per question)."""
    from handlers.guides.search import ask_json

    search = app.services.search
    if args.question == "-":
        for line in sys.stdin:  # one answer per line, blank lines included, in order
            _print_json(ask_json(search, line.rstrip("\r\n")))
        return 0
    result = ask_json(search, args.question)
    if args.json:
        _print_json(result)
    else:
        guide = app.services.guides.get(result["guide_id"] or "")
        print(f"{result['guide_id']} ({result['score']:.2f}): {guide.title if guide else '-'}")
        if result["alternatives"]:
            print("also: " + ", ".join(result["alternatives"]))
    return 0


async def cmd_questions(app: App, args: argparse.Namespace) -> int:
    """Questions the bot could not answer, or answered with low confidence (digits already
    masked), for content editors: a list, or grouped by frequency with --top/--low-confidence."""
    from db.repos import questions

    if not (args.unanswered or args.low_confidence):
        print("questions: give --unanswered, --low-confidence or both", file=sys.stderr)
        return 2
    since = (
        datetime.fromisoformat(args.since).replace(tzinfo=app.services.tz) if args.since else None
    )
    grouped = args.low_confidence or args.top is not None
    async with app.db.read() as conn:
        if not grouped:
            rows = await questions.unanswered(conn, since)
        else:
            rows = await questions.doubtful(
                conn,
                since,
                kinds=("none",) if args.unanswered else (),
                low_score=app.services.search.tuning.low_confidence
                if args.low_confidence
                else None,
            )
            rows = rows[: args.top] if args.top is not None else rows
    if args.json:
        _print_json(rows)
    elif not grouped:
        for row in rows:
            when = row["asked_at"].astimezone(app.services.tz).strftime("%Y-%m-%d %H:%M")
            print(f"{when}  {row['channel']:<8} {row['text']}")
    else:
        for row in rows:
            answer = "-" if row["kind"] == "none" else f"{row['guide_id']} {row['score']:.2f}"
            print(f"{row['count']:>4}x  {answer:<32} {row['text']}")
    return 0


def cmd_guides_check(args: argparse.Namespace, settings: Settings) -> int:
    """Guides past review or resting on old sources; exit 1 when a guide is malformed."""
    from zoneinfo import ZoneInfo

    from handlers.guides.library import check_folder

    folder = Path(args.guides or settings.guides_dir)
    if not folder.is_dir():
        print(f"guides: no such folder: {folder}", file=sys.stderr)
        return 2
    today = args.today or datetime.now(ZoneInfo(settings.tz)).date()
    max_age = settings.guide_fact_max_age_days if args.max_age_days is None else args.max_age_days
    report = check_folder(folder, today=today, max_age_days=max_age)
    if args.json:
        _print_json(report.as_json())
        return 0 if report.ok else 1
    data = report.as_json()
    print(
        f"{data['guides']} guides checked on {data['today']} (facts older than {max_age} days listed)"
    )
    for error in data["malformed"]:
        print(f"malformed: {error['file']}: {error['error']}", file=sys.stderr)
    for guide in data["past_review"]:
        print(f"past review: {guide['id']} (review_by {guide['review_by']})")
    for fact in data["old_facts"]:
        print(
            f"old source: {fact['id']} step {fact['steps']}: {fact['claim']} ({fact['source_date']}, {fact['source']})"
        )
    print(
        f"{len(data['malformed'])} malformed, {len(data['past_review'])} past review, "
        f"{len(data['old_facts'])} old facts, {len(data['unconfirmed'])} unconfirmed facts"
    )
    return 0 if report.ok else 1


def cmd_plan_check(args: argparse.Namespace, _settings: Settings) -> int:
    """Every mistake of a plan file, naming its line; exit 1 when there is one."""
    from handlers.services import plancheck

    path = Path(args.file)
    if not path.is_file():
        print(f"plan: no such file: {path}", file=sys.stderr)
        return 2
    errors = plancheck.check(path.read_text(encoding="utf-8"))
    for error in errors:
        print(f"{path}: {error}", file=sys.stderr)
    if not errors:
        print(f"{path}: the plan is valid")
    return 1 if errors else 0


async def cmd_chat(app: App, args: argparse.Namespace) -> int:
    from bot.channels import local

    await app.load_sample_units_if_empty()
    unit = args.unit or await _default_unit(app, args.role)
    await local.run(app, role=args.role, unit=unit)
    return 0


async def _default_unit(app: App, role: str) -> str:
    """The first active unit that fits the role (a province officer: the province)."""
    from handlers.services import places

    async with app.db.read() as conn:
        found = await places.first_fitting(conn, role)
    if found is None:
        raise SystemExit("no unit fits that role: import a units file first")
    return found


async def cmd_run(app: App, args: argparse.Namespace) -> int:
    from bot.channels import registry

    if not registry.served(app.settings):
        print("No channel token is set: opening the local chat (see README).", file=sys.stderr)
        args.role, args.unit = "member", None
        return await cmd_chat(app, args)
    await app.load_sample_units_if_empty()
    from bot.serve import serve

    await serve(app)
    return 0


# --- parser --------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("run", help="serve every channel that has a token (else the local chat)")

    chat = sub.add_parser("chat", help="talk to the bot in this terminal")
    chat.add_argument("--as", dest="role", default="member", choices=roles.ROLES)
    chat.add_argument("--unit", help="unit code (default: the first that fits the role)")

    db = sub.add_parser("db", help="database schema").add_subparsers(
        dest="db_command", required=True
    )
    db.add_parser("upgrade", help="apply Alembic migrations")

    units = sub.add_parser("units", help="administrative units").add_subparsers(
        dest="units_command", required=True
    )
    units_import = units.add_parser("import", help="import (or update from) a units CSV")
    units_import.add_argument("file")
    units_import.add_argument(
        "--under", help="put the file's root units under this unit (e.g. a 2024 district file)"
    )
    units_list = units.add_parser("list", help="list units")
    units_list.add_argument("--json", action="store_true")
    units_list.add_argument("--active", action="store_true", help="leave retired units out")
    reorganize = units.add_parser(
        "reorganize", help="retire old units into their successors (old_code,new_code CSV)"
    )
    reorganize.add_argument("file")
    reorganize.add_argument(
        "--effective",
        required=True,
        type=date.fromisoformat,
        help="YYYY-MM-DD: first day of the new units (old ones end the day before)",
    )
    reorganize.add_argument("--dry-run", action="store_true", help="show, change nothing")
    reorganize.add_argument("--json", action="store_true")

    invite = sub.add_parser("invite", help="invite codes").add_subparsers(
        dest="invite_command", required=True
    )
    create = invite.add_parser("create", help="create an invite code")
    create.add_argument("--role", required=True, choices=roles.REGISTERED_ROLES)
    create.add_argument("--unit", required=True)
    create.add_argument("--uses", type=int, default=1)
    create.add_argument("--expires", default="7d", help="e.g. 7d, 12h, 30m")
    create.add_argument("--json", action="store_true")
    invite_list = invite.add_parser(
        "list", help="invites that can still be used (--all: every one)"
    )
    invite_list.add_argument("--unit", help="this unit and below (default: all)")
    invite_list.add_argument("--all", action="store_true", help="also used, expired, revoked")
    invite_list.add_argument("--json", action="store_true")
    revoke = invite.add_parser("revoke", help="revoke an invite code: nobody can use it any more")
    revoke.add_argument("code")

    admin = sub.add_parser("admin", help="administrators").add_subparsers(
        dest="admin_command", required=True
    )
    grant = admin.add_parser("grant", help="make a chat account an admin")
    who = grant.add_mutually_exclusive_group(required=True)
    who.add_argument("--telegram-id", type=int)
    who.add_argument("--zalo-id")
    grant.add_argument("--unit", help="default: the plan's root unit")

    ask = sub.add_parser("ask", help="answer a question as the chat would (guide search)")
    ask.add_argument("question", help="the question, or - to read one per line from stdin")
    ask.add_argument("--json", action="store_true")

    questions = sub.add_parser("questions", help="questions residents asked")
    questions.add_argument("--unanswered", action="store_true", help="questions with no guide")
    questions.add_argument(
        "--low-confidence",
        action="store_true",
        help="questions answered with a low score or a choice of guides (grouped)",
    )
    questions.add_argument(
        "--top", type=int, metavar="N", help="the N most frequent (grouped by their words)"
    )
    questions.add_argument("--since", help="YYYY-MM-DD")
    questions.add_argument("--json", action="store_true")

    guides = sub.add_parser("guides", help="resident guides").add_subparsers(
        dest="guides_command", required=True
    )
    check = guides.add_parser("check", help="guides past review, old sources; fails if malformed")
    check.add_argument("--json", action="store_true")
    check.add_argument("--max-age-days", type=int, help="default: GUIDE_FACT_MAX_AGE_DAYS (730)")
    check.add_argument("--today", type=date.fromisoformat, help="YYYY-MM-DD (default: today)")
    check.add_argument("--guides", help="guides folder (default: GUIDES_DIR)")

    plan = sub.add_parser("plan", help="plan files").add_subparsers(
        dest="plan_command", required=True
    )
    plan_check = plan.add_parser("check", help="check a plan file; errors name the line")
    plan_check.add_argument("file")

    stats_parser = sub.add_parser("stats", help="figures against the plan's targets")
    stats_parser.add_argument("--unit")
    stats_parser.add_argument("--json", action="store_true")
    return parser


COMMANDS: dict[tuple[str, ...], Runner] = {
    ("run",): cmd_run,
    ("chat",): cmd_chat,
    ("db", "upgrade"): cmd_db_upgrade,
    ("units", "import"): cmd_units_import,
    ("units", "list"): cmd_units_list,
    ("units", "reorganize"): cmd_units_reorganize,
    ("invite", "create"): cmd_invite_create,
    ("invite", "list"): cmd_invite_list,
    ("invite", "revoke"): cmd_invite_revoke,
    ("admin", "grant"): cmd_admin_grant,
    ("stats",): cmd_stats,
    ("ask",): cmd_ask,
    ("questions",): cmd_questions,
}


# Commands that need neither the database nor loaded guides (a malformed guide must be reported,
# not stop the start-up): they take the parsed options and the settings.
OFFLINE: dict[tuple[str, ...], Callable[[argparse.Namespace, Settings], int]] = {
    ("guides", "check"): cmd_guides_check,
    ("plan", "check"): cmd_plan_check,
}

# Command groups kept in their own modules: each has add_commands(sub) -> {key: runner}.
EXTENSIONS = (
    "bot.cli_notify",
    "bot.cli_reports",
    "bot.cli_people",
    "bot.cli_zalo",
    "bot.cli_zalo_oa",
)


def _with_extensions(parser: argparse.ArgumentParser) -> dict[tuple[str, ...], Runner]:
    import importlib

    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    commands = dict(COMMANDS)
    for name in EXTENSIONS:
        commands.update(importlib.import_module(name).add_commands(sub))
    return commands


def _key(args: argparse.Namespace) -> tuple[str, ...]:
    sub = getattr(args, f"{args.command}_command", None)
    return (args.command, sub) if sub else (args.command,)


async def _main(args: argparse.Namespace, commands: dict[tuple[str, ...], Runner]) -> int:
    settings = Settings()
    app = await App.open(settings)
    try:
        return await commands[_key(args)](app, args)
    finally:
        await app.close()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    commands = _with_extensions(parser)
    args = parser.parse_args(argv)
    settings = Settings()
    logs.configure(settings)
    if _key(args) in OFFLINE:
        return OFFLINE[_key(args)](args, settings)
    try:
        return asyncio.run(_main(args, commands))
    except SystemExit as stop:
        # A refused setting or token: its message, never the secret it may quote.
        if isinstance(stop.code, str):
            raise SystemExit(logs.redact(stop.code)) from None
        raise
    except UnitsFileError as error:
        print(f"units file: {error}", file=sys.stderr)
        return 2
    except DomainError as error:
        from handlers.texts import Texts

        texts = Texts.load(settings.messages_file)
        params = {"reason": "", "label": args.command, **error.params}
        print(f"error: {texts.render(error.key, **params)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception:
        # Logged (so redacted) rather than printed by Python with the secrets it may quote.
        log.critical("stopped by an unexpected error", exc_info=True)
        return 1

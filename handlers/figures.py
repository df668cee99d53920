"""/cuatoi (a member's own tally) and /thongke (the unit's figures against the five targets)."""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from datetime import date

from sqlalchemy.ext.asyncio import AsyncConnection

from core import roles
from core.events import Reply
from db.models import Unit
from handlers.context import Context
from handlers.report import count_lines
from handlers.services import digest, exports, places, reporting

log = logging.getLogger(__name__)
__all__ = ["export", "my_tally", "unit_stats"]


async def my_tally(ctx: Context, _args: str = "") -> None:
    """/cuatoi: what I reported today and over the campaign."""
    if ctx.person is None or not roles.can(ctx.role, roles.REPORT):
        ctx.say("report.not_team")
        return
    plan = ctx.services.plan
    tally = await reporting.tally(ctx.conn, ctx.person, plan=plan, today=ctx.today)
    ctx.say(
        "tally.mine",
        name=ctx.person.display_name or ctx.label(f"role.{ctx.role}"),
        today=ctx.today,
        since=reporting.tally_start(plan, ctx.today),
        t=tally["today"],
        c=tally["campaign"],
        t_counts=count_lines(ctx, tally["today"], "figure_tally"),
        c_counts=count_lines(ctx, tally["campaign"], "figure_tally"),
    )


async def _scope(ctx: Context, wanted: str | None) -> Unit:
    """The person's own unit, or a unit inside it that they asked for."""
    return await places.in_area(ctx.conn, ctx.person, wanted, roles.SEE_STATS, denied="stats_area")


_DAY = re.compile(r"^(\d{1,2})[/.-](\d{1,2})(?:[/.-](\d{4}))?$")


def parse_args(args: str, today: date) -> tuple[str | None, date | None, str | None]:
    """`[CODE] [dd/mm[/yyyy]]` → (code, day, the word that is not a valid day)."""
    code: str | None = None
    day: date | None = today
    for word in args.split():
        match = _DAY.match(word)
        if match is None:
            code = code or word
            continue
        try:
            day = date(int(match[3] or today.year), int(match[2]), int(match[1]))
        except ValueError:
            return code, None, word
    return code, day, None


async def unit_stats(ctx: Context, args: str = "") -> None:
    """/thongke [CODE] [dd/mm]: the digest of an area for a day, with its chart."""
    code, day, bad = parse_args(args, ctx.today)
    if day is None:
        ctx.say("digest.bad_day", value=bad)
        return
    unit = await _scope(ctx, code)
    found = await digest.build(ctx.conn, ctx.services.plan, unit, day, is_today=day == ctx.today)
    ctx.replies.append(Reply(text=digest.render(ctx.services, found)))
    services = ctx.services

    async def with_chart(_conn: AsyncConnection, replies: list[Reply]) -> list[Reply]:
        # A chart is a bonus: if it fails, the figures go out without it (logged).
        photo = await digest.render_chart(services, found)
        return [*replies[:-1], replace(replies[-1], photo=photo)]

    ctx.after_commit(with_chart)


async def export(ctx: Context, args: str = "") -> None:
    """/xuat [CODE]: the area's figures, members and households visited as an XLSX file."""
    words = args.split()
    unit = await _scope(ctx, words[0] if words else None)
    names = exports.may_see_names(ctx.person, unit)
    caption = ctx.text("digest.export_caption", unit=unit.name, day=ctx.today, names=names)
    ctx.replies.append(Reply(text=caption))
    services, today = ctx.services, ctx.today

    async def with_file(conn: AsyncConnection, replies: list[Reply]) -> list[Reply]:
        # Built on a read connection after commit: a district's file never holds the write lock.
        content = await exports.export_xlsx(
            conn, services.texts, services.plan, unit, names=names, day=today
        )
        document = (exports.file_name(unit, today), content)
        return [*replies[:-1], replace(replies[-1], document=document)]

    ctx.after_commit(with_file)

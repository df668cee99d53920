"""/cuatoi (a member's own tally) and /thongke (the unit's figures against the five targets)."""

from __future__ import annotations

from typing import Any

from db.repos import units
from handlers import roles
from handlers.context import Context
from handlers.errors import NotAllowed, UnknownUnit
from handlers.services import reporting, stats

CHILD_KIND = {"province": "huyện", "district": "xã", "commune": "thôn, tổ dân phố"}


def bar(value: float | None, width: int = 10) -> str:
    """A text progress bar: ▓ for done, ░ for the rest (capped at full)."""
    filled = 0 if value is None else max(0, min(width, round(value * width)))
    return "▓" * filled + "░" * (width - filled)


async def my_tally(ctx: Context, _args: str = "") -> None:
    """/cuatoi: what I reported today and over the campaign."""
    if ctx.person is None or not roles.can_report(ctx.role):
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
    )


def targets_view(ctx: Context, figures: dict[str, Any]) -> list[dict[str, Any]]:
    view = []
    for target in ctx.services.plan.targets:
        value = figures["targets"][target.key]["value"]
        view.append(
            {
                "label": target.label,
                "value": value,
                "goal": target.goal,
                "bar": bar(value),
                "numerator": figures[target.numerator],
                "denominator": figures[target.denominator],
            }
        )
    return view


async def unit_stats(ctx: Context, args: str = "") -> None:
    """/thongke [CODE]: the area's figures against the plan's targets, with each child unit."""
    if ctx.person is None or not ctx.person.unit_code:
        raise NotAllowed(action="stats_area")
    own = await units.get(ctx.conn, ctx.person.unit_code)
    if own is None:
        raise UnknownUnit(code=ctx.person.unit_code)
    target = own
    if args.strip():
        wanted = await units.get(ctx.conn, args.strip().split()[0])
        if wanted is None:
            raise UnknownUnit(code=args.strip().split()[0])
        if not (own.contains(wanted) or ctx.role == roles.ADMIN):
            raise NotAllowed(action="stats_area")
        target = wanted
    plan = ctx.services.plan
    figures = await stats.for_unit(ctx.conn, plan, target.code)
    ctx.say("stats.unit", s=figures, plan=plan.title, targets=targets_view(ctx, figures))
    kids = await stats.for_children(ctx.conn, plan, target.code)
    if kids:
        lines = [ctx.text("stats.children_title", kind=CHILD_KIND.get(target.kind, ""))]
        for kid in kids:
            five = kid["targets"].get("five_skills", {}).get("value")
            lines.append(ctx.text("stats.child", c=kid, five=five))
        ctx.say_text("\n".join(lines))

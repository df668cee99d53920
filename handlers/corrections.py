"""/sua and /xoa: correct or delete one's own report (leaders: their village's) within 48 h."""

from __future__ import annotations

from core import roles
from handlers.choices import record_id
from handlers.context import Context
from handlers.dispatcher import Flow
from handlers.menu import menu_choices
from handlers.report import start_edit
from handlers.services import reporting
from handlers.services.reporting import Draft

FLOW = "correct"


async def _pick(ctx: Context, purpose: str) -> None:
    if ctx.person is None or not roles.can(ctx.role, roles.REPORT):
        ctx.say("report.not_team")
        return
    recent = await reporting.recent_editable(ctx.conn, ctx.person, ctx.now)
    if not recent:
        ctx.end()
        ctx.say("report.none_recent")
        return
    ctx.goto(FLOW, purpose)
    options = [
        [ctx.choice(str(v.id), ctx.label("report", day=v.visit_date, name=v.head_name))]
        for v in recent
    ]
    options.append([ctx.choice("cancel", ctx.label("cancel"))])
    ctx.say("report.pick_to_edit" if purpose == "edit" else "report.pick_to_delete", options)


async def edit(ctx: Context, _args: str = "") -> None:
    """/sua: pick a recent report, then change it from its summary."""
    await _pick(ctx, "edit")


async def delete(ctx: Context, _args: str = "") -> None:
    """/xoa: pick a recent report, confirm, delete (audited)."""
    await _pick(ctx, "delete")


async def on_edit_pick(ctx: Context, value: str) -> None:
    if value == "cancel":
        ctx.end()
        ctx.say("flow.cancelled", menu_choices(ctx))
        return
    assert ctx.person is not None
    visit = await reporting.editable_visit(ctx.conn, ctx.person, record_id(value), ctx.now)
    await start_edit(ctx, Draft.from_visit(visit), visit.id)


async def on_delete_pick(ctx: Context, value: str) -> None:
    if value == "cancel":
        ctx.end()
        ctx.say("flow.cancelled", menu_choices(ctx))
        return
    assert ctx.person is not None
    visit = await reporting.editable_visit(ctx.conn, ctx.person, record_id(value), ctx.now)
    ctx.state = "confirm_delete"
    ctx.data["visit"] = visit.id
    ctx.say(
        "report.confirm_delete",
        [[ctx.choice("yes", ctx.label("delete")), ctx.choice("no", ctx.label("keep"))]],
        name=visit.head_name,
        day=visit.visit_date,
    )


async def on_confirm_delete(ctx: Context, value: str) -> None:
    assert ctx.person is not None
    if value != "yes":
        ctx.end()
        ctx.say("flow.cancelled", menu_choices(ctx))
        return
    visit = await reporting.delete(ctx.conn, ctx.person, int(str(ctx.data["visit"])), ctx.now)
    ctx.end()
    ctx.say("report.deleted", menu_choices(ctx), name=visit.head_name)


flow = Flow(
    FLOW,
    on_choice={
        "edit": on_edit_pick,
        "delete": on_delete_pick,
        "confirm_delete": on_confirm_delete,
    },
)

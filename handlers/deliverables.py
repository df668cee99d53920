"""/nop (hand in a deadline's deliverable) and /tiendo (officers: who has, who hasn't; nudge).

```mermaid
stateDiagram-v2
    [*] --> choose: /nop (several deadlines)
    [*] --> confirm: /nop, roster / "Nộp ngay" under a reminder
    [*] --> upload: /nop, document or summary
    choose --> confirm: roster
    choose --> upload: document / summary
    confirm --> [*]: ✅ Xác nhận danh sách (saved)
    upload --> [*]: a file, a photo or typed text (saved)
```
"""

from __future__ import annotations

from core import roles
from core.errors import StaleChoice
from db.models import Unit
from handlers.context import Context
from handlers.dispatcher import Flow
from handlers.services import deliverables, reminders
from handlers.services.plan import Deadline

FLOW = "deliver"


async def _own_unit(ctx: Context) -> Unit:
    return await deliverables.own_unit(ctx.conn, ctx.person)


async def start(ctx: Context, args: str = "") -> None:
    """/nop [DEADLINE]: the deadlines this person must deliver, or straight to the one named."""
    unit = await _own_unit(ctx)
    mine = deliverables.deadlines_for(ctx.services.plan, ctx.role, unit.kind)
    if not mine:
        ctx.end()
        ctx.say("deliverables.none_for_role")
        return
    wanted = args.strip().split()[0] if args.strip() else ""
    chosen = next((d for d in mine if d.key == wanted), None)
    if chosen is None and len(mine) == 1:
        chosen = mine[0]
    if chosen is not None:
        await _open(ctx, chosen, unit)
        return
    done = await deliverables.delivered_keys(ctx.conn, mine, unit)
    ctx.goto(FLOW, "choose")
    options = [
        [
            ctx.choice(
                d.key,
                ctx.text("deliverables.item", title=d.title, date=d.date, done=d.key in done),
            )
        ]
        for d in mine
    ]
    ctx.say("deliverables.choose", options)


async def from_reminder(ctx: Context, arg: str) -> None:
    """The "Nộp ngay" button under a reminder (an action: valid whenever it is pressed)."""
    if ctx.person is None or not roles.can(ctx.role, roles.DELIVER):
        raise StaleChoice()
    await start(ctx, arg)


async def on_choose(ctx: Context, value: str) -> None:
    unit = await _own_unit(ctx)
    mine = deliverables.deadlines_for(ctx.services.plan, ctx.role, unit.kind)
    deadline = next((d for d in mine if d.key == value), None)
    if deadline is None:
        raise StaleChoice()
    await _open(ctx, deadline, unit)


async def _open(ctx: Context, deadline: Deadline, unit: Unit) -> None:
    if deadline.deliverable == "roster":
        await _show_roster(ctx, deadline, unit)
        return
    ctx.goto(FLOW, "upload", deadline=deadline.key)
    ctx.say(
        "deliverables.ask_document",
        title=deadline.title,
        date=deadline.date,
        deliverable=deadline.deliverable,
    )


def _position_label(ctx: Context, position: str) -> str:
    return ctx.label(f"position.{position}")


async def _show_roster(ctx: Context, deadline: Deadline, unit: Unit) -> None:
    previous = await deliverables.delivered(ctx.conn, deadline, unit)
    done = previous.done_at.astimezone(ctx.tz).date() if previous else None
    confirm = [[ctx.choice("confirm", ctx.text("deliverables.confirm_button"))]]
    ctx.goto(FLOW, "confirm", deadline=deadline.key)
    if unit.kind == "village":
        team = await deliverables.roster(ctx.conn, unit)
        if not team.members:
            ctx.end()
            ctx.say("deliverables.roster_empty")
            return
        rows = [
            {"position": _position_label(ctx, p), "names": ", ".join(names)}
            for p, names in team.by_position.items()
        ]
        ctx.say(
            "deliverables.roster_village",
            confirm,
            unit=unit.name,
            count=len(team.members),
            rows=rows,
            missing=[_position_label(ctx, p) for p in team.missing],
            done=done,
        )
        return
    rosters = await deliverables.area_rosters(ctx.conn, deadline, unit)
    view = []
    for village in rosters.villages:
        team = await deliverables.roster(ctx.conn, village)
        view.append(
            {
                "name": village.name,
                "count": len(team.members),
                "missing": [_position_label(ctx, p) for p in team.missing[:2]]
                if team.members
                else [],
                "done": village.code in rosters.confirmed,
            }
        )
    ctx.say(
        "deliverables.roster_commune",
        confirm,
        unit=unit.name,
        confirmed=len(rosters.confirmed),
        total=len(rosters.villages),
        villages=view,
    )


def _deadline_of(ctx: Context) -> Deadline:
    deadline = ctx.services.plan.deadline(str(ctx.data.get("deadline", "")))
    if deadline is None:
        raise StaleChoice()
    return deadline


async def on_confirm(ctx: Context, value: str) -> None:
    if value != "confirm" or ctx.person is None:
        raise StaleChoice()
    deadline, unit = _deadline_of(ctx), await _own_unit(ctx)
    if unit.kind == "village":
        team = await deliverables.roster(ctx.conn, unit)
        payload = {"members": team.members, "missing": team.missing}
    else:
        rosters = await deliverables.area_rosters(ctx.conn, deadline, unit)
        payload = {
            "villages_confirmed": sorted(rosters.confirmed),
            "villages": len(rosters.villages),
        }
    await deliverables.record(ctx.conn, deadline, unit, ctx.person, payload, ctx.now)
    ctx.end()
    ctx.say("deliverables.saved", title=deadline.title, unit=unit.name, day=ctx.today)


async def on_upload(ctx: Context, text: str) -> None:
    """A document, a photo (with or without a caption) or typed text."""
    if ctx.person is None:
        raise StaleChoice()
    deadline, unit = _deadline_of(ctx), await _own_unit(ctx)
    attachment = ctx.event.attachment
    typed = (text or "").strip()
    if attachment is None and not typed:
        ctx.say("deliverables.document_empty")
        return
    payload: dict[str, object] = {"text": typed[:4000]} if typed else {}
    if attachment is not None:
        payload.update(
            file_id=attachment.file_id,
            file_kind=attachment.kind,
            file_name=attachment.file_name,
            channel=ctx.event.channel,
        )
    await deliverables.record(ctx.conn, deadline, unit, ctx.person, payload, ctx.now)
    ctx.end()
    ctx.say("deliverables.saved", title=deadline.title, unit=unit.name, day=ctx.today)


# --- officers: progress and nudges ----------------------------------------------------------
async def show_progress(ctx: Context, _args: str = "") -> None:
    """/tiendo: per deadline, the units of my area that have and have not delivered."""
    area = await _own_unit(ctx)
    found = await deliverables.progress(ctx.conn, ctx.services.plan, area, ctx.tz)
    if not found:
        ctx.say("deliverables.progress_none")
        return
    ctx.say("deliverables.progress_title", unit=area.name)
    for item in found:
        nudge = []
        if item.missing:
            label = ctx.text(
                "deliverables.nudge_button", n=item.missing, title=item.deadline.title[:30]
            )
            nudge = [[ctx.action(f"nudge:{item.deadline.key}:{item.level}", label)]]
        units_view = [
            {"name": u.name, "done": u.done, "day": u.day}
            for u in sorted(item.units, key=lambda u: (u.done, u.name))
        ]
        ctx.say(
            "deliverables.progress_deadline",
            nudge,
            title=item.deadline.title,
            date=item.deadline.date,
            done=item.done,
            total=len(item.units),
            units=units_view,
        )


async def nudge(ctx: Context, arg: str) -> None:
    """ "Nhắc N nơi chưa nộp": one reminder to each laggard, at most once a day per officer."""
    if ctx.person is None or not roles.can(ctx.role, roles.NUDGE):
        raise StaleChoice()
    key, _, level = arg.partition(":")
    deadline = ctx.services.plan.deadline(key)
    if deadline is None or level not in {lvl for _role, lvl in deadline.audience}:
        raise StaleChoice()
    area = await _own_unit(ctx)
    found = await deliverables.laggards(ctx.conn, deadline, level, area)
    statuses = await deliverables.progress(ctx.conn, ctx.services.plan, area, ctx.tz)
    missing_units = sum(
        p.missing for p in statuses if p.deadline.key == deadline.key and p.level == level
    )
    if not missing_units:
        ctx.say("deliverables.nothing_to_nudge")
        return
    officer = ctx.person.display_name or ctx.label(f"role.{ctx.role}")
    sent = 0
    for recipient in found:
        reply = ctx.render(
            "notices.nudge",
            [[reminders.deliver_choice(ctx.services, deadline.key)]],
            officer=officer,
            title=deadline.title,
            date=deadline.date,
            unit=recipient.unit_name,
        )
        day = ctx.today.isoformat()
        key_ = f"nudge:{deadline.key}:{ctx.person.id}:{day}:{recipient.person_id}"
        if await ctx.notify_chat(recipient.channel, recipient.chat_id, key_, reply):
            sent += 1
    reached = len({r.unit_code for r in found})
    ctx.say("deliverables.nudged", n=sent, without=max(missing_units - reached, 0))


flow = Flow(
    FLOW,
    on_choice={"choose": on_choose, "confirm": on_confirm},
    on_text={"upload": on_upload},
)

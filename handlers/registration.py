"""Joining with an invite code (/start CODE, /dangky CODE), then naming one's team position."""

from __future__ import annotations

from core import roles
from core.errors import StaleChoice
from core.events import in_rows
from handlers import linking
from handlers.context import Context
from handlers.dispatcher import Flow
from handlers.menu import menu_choices, show_menu
from handlers.services import invites, places
from handlers.services import linking as link_codes

FLOW = "register"


async def start(ctx: Context, args: str) -> None:
    """/start [CODE]: a deep link carries the invite code; without one, the menu."""
    if args.strip():
        await join(ctx, args)
    else:
        await show_menu(ctx)


async def join(ctx: Context, args: str) -> None:
    """/dangky CODE: bind this chat to the invite's role and unit."""
    code = args.strip().split()[0] if args.strip() else ""
    if not code:
        ctx.say("register.need_code")
        return
    if link_codes.is_link_code(code):
        await linking.redeem(ctx, code)  # another account of an existing member
        return
    if ctx.person is not None:
        invite, unit = await invites.check(ctx.conn, code=code, current=ctx.person, now=ctx.now)
        if invites.changes(ctx.person, invite):
            await _ask_to_switch(ctx, invite.code, invite.role, unit.name)
            return
    await _redeem(ctx, code, confirmed=False)


async def _ask_to_switch(ctx: Context, code: str, role: str, unit_name: str) -> None:
    """A registered person's role or unit changes only if they choose to switch."""
    assert ctx.person is not None
    current = await places.get(ctx.conn, ctx.person.unit_code)
    ctx.goto(FLOW, "switch", code=code)
    new_role = ctx.label(f"role.{role}")
    ctx.say(
        "role_change.confirm",
        [
            [ctx.choice("keep", ctx.text("role_change.keep"))],
            [ctx.choice("switch", ctx.text("role_change.switch", role=new_role, unit=unit_name))],
        ],
        current_role=ctx.label(f"role.{ctx.person.role}"),
        current_unit=current.name if current else "",
        role=new_role,
        unit=unit_name,
    )


async def on_switch(ctx: Context, value: str) -> None:
    if ctx.person is None:
        raise StaleChoice()
    if value != "switch":
        ctx.end()
        ctx.say("role_change.kept", menu_choices(ctx), role=ctx.label(f"role.{ctx.person.role}"))
        return
    await _redeem(ctx, str(ctx.data["code"]), confirmed=True)


async def _redeem(ctx: Context, code: str, *, confirmed: bool) -> None:
    joined = await invites.redeem(
        ctx.conn,
        code=code,
        channel=ctx.event.channel,
        external_id=ctx.event.user_id,
        chat_id=ctx.event.chat_id,
        display_name=ctx.event.display_name,
        current=ctx.person,
        now=ctx.now,
        confirmed=confirmed,
    )
    ctx.person = joined.person
    role_label = ctx.label(f"role.{joined.person.role}")
    key = "register.updated" if joined.linked_existing else "register.joined"
    ctx.say(key, name=joined.person.display_name or "", role=role_label, unit=joined.unit.name)
    if roles.can(joined.person.role, roles.IN_TEAM):
        ctx.goto(FLOW, "position")
        options = [ctx.choice(p, ctx.label(f"position.{p}")) for p in roles.POSITIONS]
        ctx.say("register.ask_position", in_rows(options))
    else:
        ctx.end()
        ctx.say("help.menu_title", menu_choices(ctx))


async def on_position(ctx: Context, value: str) -> None:
    if ctx.person is None:
        raise StaleChoice()
    await invites.set_position(ctx.conn, ctx.person, value)
    ctx.end()
    ctx.say("register.position_saved", position=ctx.label(f"position.{value}"))
    ctx.say("help.menu_title", menu_choices(ctx))


flow = Flow(FLOW, on_choice={"position": on_position, "switch": on_switch})

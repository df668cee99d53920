"""/moi: leaders and officers create invite codes for their own area, from the chat."""

from __future__ import annotations

from typing import Any

from core import roles
from core.errors import NotAllowed, StaleChoice
from core.events import in_rows
from db.models import Unit
from handlers.context import Context
from handlers.dispatcher import Flow
from handlers.services import invites, places

FLOW = "invite"
EXPIRES = invites.OFFERED_EXPIRY
USES = invites.OFFERED_USES
MAX_UNIT_CHOICES = 40


async def _candidates(ctx: Context, role: str) -> list[Unit]:
    """The units of the person's area a `role` can be bound to."""
    assert ctx.person is not None
    return await invites.units_for(ctx.conn, ctx.person, role)


async def start(ctx: Context, _args: str = "") -> None:
    """/moi: choose the role, then the unit, then how many people."""
    if ctx.person is None or not roles.can(ctx.role, roles.INVITE):
        raise NotAllowed(action="invite")
    ctx.goto(FLOW, "role")
    options = [[ctx.choice(r, ctx.label(f"role.{r}"))] for r in roles.invitable_roles(ctx.role)]
    options.append([ctx.choice("cancel", ctx.label("cancel"))])
    ctx.say("invite.ask_role", options)


async def on_role(ctx: Context, value: str) -> None:
    if value == "cancel":
        ctx.end()
        ctx.say("flow.cancelled")
        return
    if ctx.person is None or not roles.may_invite_in_chat(ctx.role, value):
        raise StaleChoice()
    candidates = await _candidates(ctx, value)
    if not candidates:
        raise NotAllowed(action="invite_area")
    ctx.data["role"] = value
    if len(candidates) == 1:
        ctx.data["unit"] = candidates[0].code
        _ask_uses(ctx)
        return
    if len(candidates) > MAX_UNIT_CHOICES:
        ctx.end()
        ctx.say("invite.too_many_units")
        return
    ctx.state = "unit"
    options = [ctx.choice(u.code, u.name) for u in candidates]
    ctx.say("invite.ask_unit", in_rows(options))


def _ask_uses(ctx: Context) -> None:
    ctx.state = "uses"
    ctx.say("invite.ask_uses", [[ctx.choice(str(n), ctx.label("uses", n=n)) for n in USES]])


async def on_unit(ctx: Context, value: str) -> None:
    role = str(ctx.data.get("role", ""))
    if ctx.person is None or not roles.may_invite_in_chat(ctx.role, role):
        raise StaleChoice()
    if value not in {u.code for u in await _candidates(ctx, role)}:
        raise StaleChoice()
    ctx.data["unit"] = value
    _ask_uses(ctx)


async def on_uses(ctx: Context, value: str) -> None:
    assert ctx.person is not None
    if value not in {str(n) for n in USES}:
        raise StaleChoice()
    invite = await invites.create(
        ctx.conn,
        inviter=ctx.person,
        role=str(ctx.data["role"]),
        unit_code=str(ctx.data["unit"]),
        uses=int(value),
        expires_in=EXPIRES,
        now=ctx.now,
    )
    unit = await places.get(ctx.conn, invite.unit_code)
    ctx.end()
    username = ctx.services.telegram_username
    params: dict[str, Any] = {
        "code": invite.code,
        "role": ctx.label(f"role.{invite.role}"),
        "unit": unit.name if unit else invite.unit_code,
        "uses": invite.max_uses,
        "expires": invite.expires_at.astimezone(ctx.tz),
    }
    if username:
        ctx.say("invite.created", link=f"https://t.me/{username}?start={invite.code}", **params)
    else:
        ctx.say("invite.created_no_link", **params)


flow = Flow(FLOW, on_choice={"role": on_role, "unit": on_unit, "uses": on_uses})

"""Start, menu, help and cancel: the commands every role has."""

from __future__ import annotations

from core import roles
from core.events import Choice, in_rows
from handlers.context import Context

# Which menu entries each role sees, in order: (label key, command it runs).
_TEAM = [
    ("report", "baocao"),
    ("quick_help", "huongdan"),
    ("edit", "sua"),
    ("mine", "cuatoi"),
    ("requests", "yeucau"),
    ("guides", "chude"),
]
MENUS: dict[str, list[tuple[str, str]]] = {
    roles.RESIDENT: [("guides", "chude"), ("contact", "lienhe")],
    roles.MEMBER: [*_TEAM, ("stats", "thongke")],
    roles.DEPUTY: [*_TEAM, ("stats", "thongke")],
    roles.LEADER: [*_TEAM, ("stats", "thongke"), ("invite", "moi")],
    roles.COMMUNE_OFFICER: [("stats", "thongke"), ("invite", "moi")],
    roles.DISTRICT_OFFICER: [("stats", "thongke"), ("invite", "moi")],
    roles.PROVINCE_OFFICER: [("stats", "thongke"), ("invite", "moi")],
    roles.ADMIN: [("stats", "thongke"), ("invite", "moi")],
}


def menu_choices(ctx: Context) -> list[list[Choice]]:
    entries = MENUS.get(ctx.role, MENUS[roles.RESIDENT])
    buttons = [ctx.action(f"menu:{command}", ctx.label(f"menu.{key}")) for key, command in entries]
    return in_rows(buttons)


async def show_menu(ctx: Context, _args: str = "") -> None:
    """/menu: the role's main choices."""
    ctx.end()
    if ctx.person is None or not roles.registered(ctx.role):
        ctx.say("help.welcome_resident", menu_choices(ctx), name=ctx.event.display_name or "")
        return
    ctx.say("help.menu_title", menu_choices(ctx))


async def show_help(ctx: Context, _args: str = "") -> None:
    """/trogiup: the commands this role may use."""
    from handlers.routes import commands_for

    lines = [ctx.text("help.title")]
    lines += [ctx.text(f"help.commands.{name}") for name in commands_for(ctx.role)]
    ctx.say_text("\n".join(lines))


async def cancel(ctx: Context, _args: str = "") -> None:
    """/huy: leave whatever flow is open; nothing of it is saved."""
    if ctx.flow is None:
        ctx.say("flow.nothing_to_cancel")
        return
    ctx.end()
    ctx.say("flow.cancelled", menu_choices(ctx))


async def quick_form_help(ctx: Context, _args: str = "") -> None:
    """/huongdan: how to write the one-message report."""
    ctx.say("help.quick_form")

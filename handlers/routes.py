"""Every command, flow and button action, registered in one ordered list."""

from __future__ import annotations

from core import roles
from core.errors import StaleChoice
from handlers import (
    announce,
    corrections,
    deliverables,
    figures,
    guides_chat,
    helpdesk,
    invite,
    linking,
    menu,
    quickform,
    registration,
    report,
    team_admin,
    web,
)
from handlers.context import Context
from handlers.dispatcher import Command, Dispatcher, Step, no_text
from handlers.services.registry import Services

EVERYONE = None
# Who may run a command comes from the permissions table (core.roles.PERMISSIONS).
REPORTERS = roles.holders(roles.REPORT)

# (command, handler, roles allowed, aliases) — the order is the order of /trogiup.
COMMANDS: list[Command] = [
    Command("start", registration.start, EVERYONE),
    Command("dangky", registration.join, EVERYONE),
    Command("menu", menu.show_menu, EVERYONE),
    Command("trogiup", menu.show_help, EVERYONE),
    Command("huy", menu.cancel, EVERYONE),
    Command("chude", guides_chat.show_menu, EVERYONE),
    Command("lienhe", helpdesk.start, EVERYONE),
    Command("theodoi", announce.follow, EVERYONE),
    Command("botheodoi", announce.unfollow, EVERYONE),
    Command("baocao", report.start, REPORTERS),
    Command("bc", quickform.quick_report, REPORTERS),
    Command("huongdan", menu.quick_form_help, REPORTERS),
    Command("sua", corrections.edit, REPORTERS),
    Command("xoa", corrections.delete, REPORTERS),
    Command("cuatoi", figures.my_tally, REPORTERS),
    Command("thongke", figures.unit_stats, roles.holders(roles.SEE_STATS)),
    Command("xuat", figures.export, roles.holders(roles.EXPORT)),
    Command("yeucau", helpdesk.open_requests, roles.holders(roles.ANSWER_HELP, roles.OWN)),
    Command("congkhai", helpdesk.publish_contact, roles.holders(roles.PUBLISH_CONTACT)),
    Command("moi", invite.start, roles.holders(roles.INVITE)),
    Command("thanhvien", team_admin.list_people, roles.holders(roles.MANAGE_PEOPLE)),
    Command("huyma", team_admin.revoke_invite, roles.holders(roles.MANAGE_PEOPLE)),
    Command("xoatv", team_admin.remove_member, roles.holders(roles.MANAGE_PEOPLE)),
    Command("xoaho", team_admin.forget_household, roles.holders(roles.FORGET)),
    Command("nop", deliverables.start, roles.holders(roles.DELIVER)),
    Command("tiendo", deliverables.show_progress, roles.holders(roles.SEE_PROGRESS)),
    Command("thongbao", announce.start, roles.holders(roles.ANNOUNCE)),
    Command("cauhoi", guides_chat.review_questions, roles.holders(roles.REVIEW_QUESTIONS)),
    Command("lienket", linking.start, EVERYONE),
    Command("web", web.start, roles.holders(roles.WEB)),
]
ALIASES = {"trogiup": ("help",), "huy": ("cancel",), "dangky": ("join",)}


def commands_for(role: str) -> list[str]:
    """The commands a role may use, in help order."""
    return [c.name for c in COMMANDS if c.allows(role)]


async def _menu_action(ctx: Context, name: str) -> None:
    """A menu button runs its command, with the same role check as typing it."""
    command = next((c for c in COMMANDS if c.name == name), None)
    if command is None or not command.allows(ctx.role):
        raise StaleChoice()
    await command.run(ctx, "")


def _reviewers_only(step: Step) -> Step:
    """A button that pages the questions review keeps the command's permission check."""

    async def guarded(ctx: Context, arg: str) -> None:
        if not roles.can(ctx.role, roles.REVIEW_QUESTIONS):
            raise StaleChoice()
        await step(ctx, arg)

    return guarded


def _attachment_step(dispatcher: Dispatcher) -> Step:
    """A file or photo without a caption goes to the open flow's text step (e.g. /nop)."""

    async def on_attachment(ctx: Context, text: str) -> None:
        flow = dispatcher.flows.get(ctx.flow or "")
        step = flow.on_text.get(ctx.state or "") if flow else None
        if step is None:
            no_text(ctx)
            return
        await step(ctx, text)

    return on_attachment


def build_dispatcher(services: Services) -> Dispatcher:
    dispatcher = Dispatcher(services)
    for command in COMMANDS:
        dispatcher.command(command, *ALIASES.get(command.name, ()))
    for flow in (
        registration.flow,
        report.flow,
        corrections.flow,
        invite.flow,
        helpdesk.flow,
        linking.flow,
        deliverables.flow,
        announce.flow,
        announce.follow_flow,
        team_admin.flow,
    ):
        dispatcher.flow(flow)
    # Button actions (`a:<name>:<arg>`): each has its row in CONTRIBUTING.md, "Button data".
    dispatcher.action("menu", _menu_action)
    dispatcher.action("undo", quickform.undo)
    dispatcher.action("gm", guides_chat.show_menu)
    dispatcher.action("gc", guides_chat.show_category)
    dispatcher.action("g", guides_chat.show_step)
    dispatcher.action("cauhoi", _reviewers_only(guides_chat.review_questions))
    dispatcher.action("help", helpdesk.start)
    dispatcher.action("take", helpdesk.take)
    dispatcher.action("yeucau", helpdesk.requests_page)
    dispatcher.action("nop", deliverables.from_reminder)
    dispatcher.action("nudge", deliverables.nudge)
    dispatcher.action("webout", web.end_all)
    dispatcher.free_text = guides_chat.answer_question
    dispatcher.urgent_in_flow = guides_chat.urgent_in_flow
    dispatcher.attachment = _attachment_step(dispatcher)
    return dispatcher

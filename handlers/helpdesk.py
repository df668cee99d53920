"""Reaching a person: a village team's public contact, or a request for help at home.

A resident picks commune and village, sees what the leader chose to publish, and may ask for
someone to come (topic, how to reach them, consent). The village's team members are notified
through the outbox; the first to press "Tôi nhận" takes it and the resident is told who.
"""

from __future__ import annotations

from datetime import datetime, time

from core.errors import StaleChoice
from core.events import Choice, in_rows
from core.text import fold
from handlers.choices import record_id, small_number
from handlers.context import Context
from handlers.dispatcher import Flow
from handlers.guides.library import CATEGORIES
from handlers.services import helpdesk, places

FLOW = "help"
PAGE_SIZE = 5  # /yeucau: open requests per page


async def start(ctx: Context, _arg: str = "") -> None:
    """/lienhe (or the "Nhờ Tổ giúp" button): which commune? (Not asked on a commune's own
    Zalo OA: its villages straight away.)"""
    root = ctx.services.plan.root_unit
    ctx.goto(FLOW, "commune")
    scoped = await places.scoped_commune(ctx.conn, root, ctx.event.scope)
    if scoped is not None:
        await on_commune(ctx, scoped)
        return
    communes = await places.children(ctx.conn, root)
    options = [ctx.choice(u.code, u.name) for u in communes]
    ctx.say("help_request.ask_commune", in_rows(options))


async def on_commune(ctx: Context, value: str) -> None:
    commune, villages = await places.commune_villages(ctx.conn, ctx.services.plan.root_unit, value)
    ctx.state = "village"
    ctx.data["commune"] = commune.code
    ctx.say("help_request.ask_village", in_rows([ctx.choice(u.code, u.name) for u in villages]))


async def on_village(ctx: Context, value: str) -> None:
    village = await helpdesk.village_in(ctx.conn, value, ctx.data.get("commune"))
    ctx.state = "offer"
    ctx.data["village"] = village.code
    choices = [
        [ctx.choice("visit", ctx.label("home_visit"))],
        [ctx.choice("done", ctx.label("done_short"))],
    ]
    ctx.say(
        "help_request.contact", choices, village=village.name, contact=village.public_contact or ""
    )


async def on_offer(ctx: Context, value: str) -> None:
    if value != "visit":
        ctx.end()
        ctx.say("help_request.bye")
        return
    if await _over_cap(ctx, str(ctx.data["village"])):
        return
    ctx.state = "topic"
    options = [
        ctx.choice(key, ctx.label(f"category.{key}")) for key in CATEGORIES if key != "contact"
    ]
    options.append(ctx.choice("other", ctx.label("other_topic")))
    ctx.say("help_request.ask_topic", in_rows(options))


async def on_topic(ctx: Context, value: str) -> None:
    if value not in CATEGORIES and value != "other":
        raise StaleChoice()
    ctx.state = "reach"
    ctx.data["topic"] = value
    ctx.say("help_request.ask_reach", [[ctx.choice("here", ctx.label("reach_here"))]])


async def on_reach_text(ctx: Context, text: str) -> None:
    await _ask_consent(ctx, helpdesk.contact_from(text))


async def on_reach_choice(ctx: Context, value: str) -> None:
    await _ask_consent(ctx, ctx.label("reach_here_stored", channel=ctx.event.channel))


async def _ask_consent(ctx: Context, contact: str) -> None:
    ctx.state = "consent"
    ctx.data["contact"] = contact
    village = await places.get(ctx.conn, str(ctx.data["village"]))
    # The consent names exactly who will see the request (the same rule as on_consent).
    audience = await helpdesk.audience(ctx.conn, village)
    team, escalated = audience.people, audience.escalated
    commune = await places.get(ctx.conn, village.parent_code) if village else None
    ctx.say(
        "help_request.ask_consent",
        [[ctx.choice("yes", ctx.label("agree")), ctx.choice("no", ctx.label("disagree"))]],
        village=village.name if village else "",
        contact=contact,
        audience="commune" if escalated else ("team" if team else "nobody"),
        commune=commune.name if commune else "",
        members=len(team),
        days=ctx.services.retention.help_contact_days,
    )


async def on_consent(ctx: Context, value: str) -> None:
    if value != "yes":
        ctx.end()
        ctx.say("help_request.not_sent")
        return
    village_code = str(ctx.data["village"])
    topic = str(ctx.data["topic"])
    if await _over_cap(ctx, village_code):
        return
    request_id = await helpdesk.create(
        ctx.conn,
        request_key=f"{ctx.event.channel}:{ctx.event.chat_id}:help:{ctx.conversation.version}",
        now=ctx.now,
        village_code=village_code,
        topic=topic,
        contact=str(ctx.data["contact"]),
        chat=(ctx.event.channel, ctx.event.chat_id),
        resident_name=ctx.event.display_name,
    )
    village = await places.get(ctx.conn, village_code)
    # No team on the bot in this village yet: the commune's officers hear of it instead.
    audience = await helpdesk.audience(ctx.conn, village)
    team, escalated = audience.people, audience.escalated
    topic_label = (
        ctx.label(f"category.{topic}") if topic in CATEGORIES else ctx.label("other_topic")
    )
    for member in team:
        notice = ctx.render(
            "help_request.to_team",
            [[ctx.action(f"take:{request_id}", ctx.label("take"))]],
            village=village.name if village else village_code,
            topic=topic_label,
            name=ctx.event.display_name or "",
            contact=str(ctx.data["contact"]),
        )
        await ctx.notify(member.id, f"help:{request_id}", notice)
    ctx.end()
    if not team:
        ctx.say("help_request.nobody", village=village.name if village else "")
        return
    key = "help_request.sent_commune" if escalated else "help_request.sent"
    ctx.say(key, village=village.name if village else "", members=len(team))


async def _over_cap(ctx: Context, village_code: str) -> bool:
    """Too many open requests today from this chat or in this village: say so, end the flow."""
    start_of_day = datetime.combine(ctx.today, time.min, tzinfo=ctx.tz)
    chat = (ctx.event.channel, ctx.event.chat_id)
    cap = await helpdesk.over_cap(ctx.conn, chat, village_code, start_of_day)
    if cap is None:
        return False
    ctx.end()
    if cap.which == "chat":
        ctx.say("fair_use.help_chat_cap", n=cap.n)
    else:
        ctx.say("fair_use.help_village_cap", village=cap.village.name if cap.village else "")
    return True


async def take(ctx: Context, arg: str) -> None:
    """ "Tôi nhận": the first team member to press takes the request; the resident is told."""
    request, taken = await helpdesk.take(ctx.conn, ctx.person, record_id(arg), ctx.now)
    person = ctx.person
    assert person is not None  # take() raised otherwise
    if not taken:
        ctx.say("help_request.already_taken")
        return
    position = (
        ctx.label(f"position.{person.position}")
        if person.position
        else ctx.label(f"role.{person.role}")
    )
    await ctx.notify_chat(
        request.resident_channel,
        request.resident_chat_id,
        f"help-taken:{request.id}",
        ctx.render("help_request.coming", name=person.display_name or "", position=position),
    )
    ctx.say("help_request.taken", contact=request.contact, name=request.resident_name or "")


async def publish_contact(ctx: Context, args: str) -> None:
    """/congkhai <contact>: the leader publishes how residents reach the team; `/congkhai xoa` hides it."""
    text = args.strip()
    if not text:
        current = await helpdesk.public_contact(ctx.conn, ctx.person)
        ctx.say("help_request.publish_how", current=current or "")
        return
    if fold(text) in ("xoa", "an"):
        await helpdesk.publish(ctx.conn, ctx.person, None)
        ctx.say("help_request.unpublished")
        return
    shown = await helpdesk.publish(ctx.conn, ctx.person, text)
    ctx.say("help_request.published", contact=shown)


async def open_requests(ctx: Context, _args: str = "") -> None:
    """/yeucau: open help requests in my village, each with "Tôi nhận", a page at a time."""
    await _requests_page(ctx, 1)


async def requests_page(ctx: Context, arg: str) -> None:
    """The "Trang sau" / "Trang trước" buttons under /yeucau (`a:yeucau:<page>`)."""
    if not helpdesk.may_list(ctx.person):
        raise StaleChoice()
    await _requests_page(ctx, small_number(arg))


async def _requests_page(ctx: Context, page: int) -> None:
    if ctx.person is None or ctx.person.unit_code is None:
        raise StaleChoice()
    found = await helpdesk.open_page(ctx.conn, ctx.person.unit_code, page, PAGE_SIZE)
    if not found.total:
        ctx.say("help_request.none_open")
        return
    page, pages, total = found.page, found.pages, found.total
    for request in found.requests:
        topic = (
            ctx.label(f"category.{request.topic}")
            if request.topic in CATEGORIES
            else ctx.label("other_topic")
        )
        ctx.say(
            "help_request.open_item",
            [[ctx.action(f"take:{request.id}", ctx.label("take"))]],
            topic=topic,
            name=request.resident_name or "",
            contact=request.contact,
            day=request.created_at.astimezone(ctx.tz),
        )
    if pages > 1:
        ctx.say(
            "paging.requests_page",
            [page_choices(ctx, "yeucau", page, pages)],
            page=page,
            pages=pages,
            total=total,
        )


def page_choices(ctx: Context, action: str, page: int, pages: int) -> list[Choice]:
    """Previous / next buttons of a paged list (actions: they stay valid)."""
    row = []
    if page > 1:
        row.append(ctx.action(f"{action}:{page - 1}", ctx.text("paging.previous")))
    if page < pages:
        row.append(ctx.action(f"{action}:{page + 1}", ctx.text("paging.next")))
    return row


flow = Flow(
    FLOW,
    on_choice={
        "commune": on_commune,
        "village": on_village,
        "offer": on_offer,
        "topic": on_topic,
        "reach": on_reach_choice,
        "consent": on_consent,
    },
    on_text={"reach": on_reach_text},
)

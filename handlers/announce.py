"""/thongbao (leaders and officers announce to their area), /theodoi and /botheodoi (anyone
follows a village or commune's announcements, and stops with one command).

```mermaid
stateDiagram-v2
    [*] --> audience: /thongbao (latest announcements with delivery counts)
    audience --> compose: members / residents / both
    compose --> compose: a photo or file without text
    compose --> confirm: text (and file): preview with the number of recipients
    confirm --> compose: ✏️ Viết lại
    confirm --> [*]: ✅ Gửi (queued in the outbox) / Huỷ
    [*] --> commune: /theodoi
    commune --> village: a commune
    village --> [*]: a village, or the whole commune (followed)
```
"""

from __future__ import annotations

from markupsafe import Markup

from core.errors import StaleChoice
from core.events import Reply, in_rows
from handlers.context import Context
from handlers.dispatcher import Flow
from handlers.services import announcements, places

FLOW = "announce"
FOLLOW_FLOW = "follow"


# --- /theodoi, /botheodoi ----------------------------------------------------------------------
async def follow(ctx: Context, _args: str = "") -> None:
    """/theodoi: which commune, then which village (or the whole commune)."""
    following = await announcements.following(ctx.conn, ctx.event.channel, ctx.event.chat_id)
    if following:
        ctx.end()
        ctx.say("announce.already_following", units=following)
        return
    root = ctx.services.plan.root_unit
    ctx.goto(FOLLOW_FLOW, "commune")
    scoped = await places.scoped_commune(ctx.conn, root, ctx.event.scope)
    if scoped is not None:  # a commune's own Zalo OA: its villages straight away
        await on_follow_commune(ctx, scoped)
        return
    communes = await places.children(ctx.conn, root)
    ctx.say("announce.follow_commune", in_rows([ctx.choice(u.code, u.name) for u in communes]))


async def on_follow_commune(ctx: Context, value: str) -> None:
    commune, villages = await places.commune_villages(ctx.conn, ctx.services.plan.root_unit, value)
    ctx.state = "village"
    ctx.data["commune"] = commune.code
    whole = ctx.choice(commune.code, ctx.text("announce.whole_commune", commune=commune.name))
    options = in_rows([ctx.choice(u.code, u.name) for u in villages]) + [[whole]]
    ctx.say("announce.follow_village", options, commune=commune.name)


async def on_follow_village(ctx: Context, value: str) -> None:
    unit = await announcements.follow(
        ctx.conn, (ctx.event.channel, ctx.event.chat_id), value, ctx.data.get("commune"), ctx.now
    )
    ctx.end()
    ctx.say("announce.followed", unit=unit.name)


async def unfollow(ctx: Context, _args: str = "") -> None:
    """/botheodoi: stop at once, no questions."""
    stopped = await announcements.unfollow_all(ctx.conn, ctx.event.channel, ctx.event.chat_id)
    ctx.say("announce.unfollowed" if stopped else "announce.not_following")


# --- /thongbao -----------------------------------------------------------------------------------
async def start(ctx: Context, _args: str = "") -> None:
    """/thongbao: my latest announcements and how far they got, then: to whom?"""
    area = await announcements.area_of(ctx.conn, ctx.person)
    assert ctx.person is not None
    latest = await announcements.delivery(ctx.conn, ctx.person)
    if latest:
        items = [
            {
                "day": item.sent_at.astimezone(ctx.tz) if item.sent_at else item.created_at,
                "text": item.text if len(item.text) <= 60 else item.text[:59] + "…",
                "audience": ctx.text(f"announce.audience.{item.audience}"),
                **counts,
            }
            for item, counts in latest
        ]
        ctx.say("announce.latest", items=items)
    ctx.goto(FLOW, "audience", unit=area.code)
    options = [
        [ctx.choice(key, ctx.text(f"announce.audience.{key}"))] for key in announcements.AUDIENCES
    ]
    ctx.say("announce.ask_audience", options, unit=area.name)


async def on_audience(ctx: Context, value: str) -> None:
    if value not in announcements.AUDIENCES:
        raise StaleChoice()
    ctx.state = "compose"
    ctx.data["audience"] = value
    ctx.say("announce.ask_text", limit=announcements.MAX_TEXT)


async def on_compose(ctx: Context, text: str) -> None:
    """The announcement's text; a photo or document may come with it, or just before it."""
    attachment = ctx.event.attachment
    if attachment is not None:
        ctx.data["attachment"] = [attachment.kind, attachment.file_id]
    typed = text.strip()
    if not typed:
        kind = attachment.kind if attachment else ""
        ctx.say("announce.need_text", kind=kind)
        return
    if len(typed) > announcements.MAX_TEXT:
        ctx.say("announce.too_long", limit=announcements.MAX_TEXT, length=len(typed))
        return
    stored = ctx.data.get("attachment")
    draft = await announcements.draft(
        ctx.conn,
        ctx.person,
        unit_code=str(ctx.data.get("unit", "")),
        audience=str(ctx.data.get("audience", "")),
        text=typed,
        attachment=(str(stored[0]), str(stored[1])) if stored else None,
        now=ctx.now,
    )
    found = draft.recipients
    if not found:
        ctx.end()
        ctx.say(
            "announce.nobody", audience=ctx.text(f"announce.audience.{draft.announcement.audience}")
        )
        return
    ctx.state = "confirm"
    ctx.data["id"] = draft.announcement.id
    buttons = [
        [ctx.choice("send", ctx.text("announce.send_button", n=len(found)))],
        [
            ctx.choice("rewrite", ctx.text("announce.rewrite_button")),
            ctx.choice("cancel", ctx.text("announce.cancel_button")),
        ],
    ]
    ctx.say(
        "announce.preview",
        buttons,
        # Already rendered (and escaped) by its own template.
        message=Markup(_message(ctx, draft.announcement.unit_name, typed, follower=False)),
        n=len(found),
        members=sum(not r.follower for r in found),
        followers=sum(r.follower for r in found),
        attachment=draft.announcement.attachment_kind or "",
        zalo=sum(r.channel == "zalo" for r in found),
    )


async def on_confirm(ctx: Context, value: str) -> None:
    if value == "cancel":
        ctx.end()
        ctx.say("announce.cancelled")
        return
    if value == "rewrite":
        ctx.state = "compose"
        ctx.data.pop("id", None)
        ctx.say("announce.ask_text", limit=announcements.MAX_TEXT)
        return
    if value != "send":
        raise StaleChoice()
    sent = await announcements.confirm(ctx.conn, ctx.person, int(ctx.data.get("id", 0)), ctx.now)
    ctx.end()
    if sent is None:
        ctx.say("announce.already_sent")
        return
    item = sent.announcement
    file_ref = (
        (item.attachment_kind, item.attachment_file_id)
        if item.attachment_kind and item.attachment_file_id
        else None
    )
    queued = 0
    for recipient in sent.recipients:
        text = _message(ctx, item.unit_name, item.text, follower=recipient.follower)
        reply = Reply(text, file_ref=file_ref)
        key = announcements.outbox_key(item.id, recipient.channel, recipient.chat_id)
        if await ctx.notify_chat(recipient.channel, recipient.chat_id, key, reply, urgent=False):
            queued += 1
    ctx.say("announce.queued", n=queued)


def _message(ctx: Context, unit: str, text: str, *, follower: bool) -> str:
    sender = ctx.person.display_name if ctx.person and ctx.person.display_name else ""
    role = ctx.label(f"role.{ctx.role}")
    return ctx.text(
        "announce.message", unit=unit, text=text, sender=sender, role=role, follower=follower
    )


follow_flow = Flow(
    FOLLOW_FLOW,
    on_choice={"commune": on_follow_commune, "village": on_follow_village},
)
flow = Flow(
    FLOW,
    on_choice={"audience": on_audience, "confirm": on_confirm},
    on_text={"compose": on_compose},
)

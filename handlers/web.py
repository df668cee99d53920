"""/web: a one-time link to the officials' dashboard; /web tatca ends every web session."""

from __future__ import annotations

from core.errors import NotAllowed
from core.text import fold
from handlers.context import Context
from handlers.services import web_access

END_ALL = ("tatca", "all", "thoat", "dangxuat")


async def start(ctx: Context, args: str = "") -> None:
    """/web [tatca]: send the link (with a button that signs out everywhere), or sign out."""
    if ctx.person is None or not web_access.may_use(ctx.person):
        raise NotAllowed(action="web")
    if fold(args).replace(" ", "") in END_ALL:
        await end_all(ctx, "")
        return
    base = ctx.services.web_base_url
    if not base:
        ctx.say("web.not_configured")
        return
    token = await web_access.issue_link(ctx.conn, ctx.person, ctx.now)
    minutes = int(web_access.LINK_TTL.total_seconds() // 60)
    ctx.say(
        "web.link",
        [[ctx.action("webout:", ctx.label("web_end_all"))]],
        link=f"{base}/login/{token}",
        minutes=minutes,
    )


async def end_all(ctx: Context, _arg: str = "") -> None:
    """/web tatca, or the button under a link: every browser of this person is signed out."""
    if ctx.person is None or not web_access.may_use(ctx.person):
        raise NotAllowed(action="web")
    ended = await web_access.end_all(ctx.conn, ctx.person)
    ctx.say("web.ended", count=ended)

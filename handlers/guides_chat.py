"""Residents' guides in the chat: free-text questions, the category menu, steps one at a time.

Navigation buttons are actions (they stay valid: a guide can be reread at any time);
`a:gm` the menu, `a:gc:<category>` a category, `a:g:<guide>:<step>` one step.
"""

from __future__ import annotations

import re
from datetime import timedelta

from core import roles
from core.errors import StaleChoice
from core.events import Choice, in_rows
from handlers.choices import small_number
from handlers.context import Context
from handlers.guides.library import CATEGORIES, Guide
from handlers.services import questions

_STEP_NUMBER = re.compile(r"^\s*(bước\s*)?\d+\s*[.:)]\s*", re.IGNORECASE)


def category_choices(ctx: Context) -> list[list[Choice]]:
    buttons = [ctx.action(f"gc:{key}", ctx.label(f"category.{key}")) for key in CATEGORIES]
    return in_rows(buttons)


async def show_menu(ctx: Context, _arg: str = "") -> None:
    """The guide menu: one button per category."""
    ctx.say("guides.menu", category_choices(ctx))


async def show_category(ctx: Context, category: str) -> None:
    if category not in CATEGORIES:
        raise StaleChoice()
    guides = ctx.services.guides.by_category(category)
    rows = [[ctx.action(f"g:{g.id}:1", g.title)] for g in guides]
    rows.append([ctx.action("gm", ctx.label("all_topics"))])
    ctx.say("guides.category", rows, category=ctx.label(f"category.{category}"))


def _step_choices(ctx: Context, guide: Guide, number: int) -> list[list[Choice]]:
    row = []
    if number > 1:
        row.append(ctx.action(f"g:{guide.id}:{number - 1}", ctx.label("back")))
    if number < len(guide.steps):
        row.append(ctx.action(f"g:{guide.id}:{number + 1}", ctx.label("next")))
    rows = [row] if row else []
    rows.append(
        [ctx.action("gm", ctx.label("all_topics")), ctx.action("help", ctx.label("ask_team"))]
    )
    return rows


async def show_step(ctx: Context, arg: str, *, after_urgent: bool = False) -> None:
    """`<guide id>:<step number>`: one step as one message, with Back / Next.

    The first step comes with the guide's title and introduction. after_urgent: the urgent
    first reply (`urgent.now`) was just sent; the title comes with the step asked for, and the
    introduction is left out (for the urgent guides it says what that reply already said).
    """
    guide_id, _, raw_number = arg.rpartition(":")
    guide = ctx.services.guides.get(guide_id)
    if guide is None:
        raise StaleChoice()
    number = min(max(small_number(raw_number), 1), len(guide.steps))
    step = guide.steps[number - 1]
    last = number == len(guide.steps)
    ctx.say(
        "guides.step",
        _step_choices(ctx, guide, number),
        edit=ctx.event.choice is not None,
        title=guide.title if number == 1 or after_urgent else "",
        intro=guide.intro if number == 1 and not after_urgent else "",
        number=number,
        total=len(guide.steps),
        heading=_STEP_NUMBER.sub("", step.title),
        body=step.text,
        sources=list(guide.sources) if last else [],
        verified=guide.verified if last else None,
    )


async def answer_question(ctx: Context, text: str) -> None:
    """Any message that is not a command: find the guide, or say plainly there is none.

    A message that describes danger now gets the urgent steps first, then the guide.
    """
    answer, urgent = ctx.services.search.respond(text)
    await questions.record(
        ctx.conn,
        at=ctx.now,
        channel=ctx.event.channel,
        role=ctx.role,
        text=text,
        kind="urgent" if urgent else answer.kind,
        guide_id=answer.guide_id,
        score=answer.score,
    )
    if urgent:
        ctx.say("urgent.now", [[ctx.action("help", ctx.label("ask_team"))]])
        guide = ctx.services.guides.get(answer.guide_id or "")
        if guide is not None:
            # not the same steps twice (each message may be a paid one on Zalo)
            await show_step(ctx, f"{guide.id}:{guide.after_urgent_step}", after_urgent=True)
        else:
            show_none(ctx)
    elif answer.kind == "greeting":
        ctx.say("guides.greeting", category_choices(ctx))
    elif answer.kind == "thanks":
        ctx.say("guides.thanks")
    elif answer.kind == "guide" and answer.guide_id:
        await show_step(ctx, f"{answer.guide_id}:1")
    elif answer.kind == "choices" and answer.guide_id:
        ids = [answer.guide_id, *answer.alternatives][:4]
        rows = [
            [ctx.action(f"g:{gid}:1", guide.title)]
            for gid in ids
            if (guide := ctx.services.guides.get(gid)) is not None
        ]
        rows.append([ctx.action("gm", ctx.label("none_of_these"))])
        ctx.say("guides.choices", rows)
    else:
        show_none(ctx)


def show_none(ctx: Context) -> None:
    """No guide fits: the categories and the team."""
    rows = category_choices(ctx)
    rows.append([ctx.action("help", ctx.label("ask_team"))])
    ctx.say("guides.none", rows)


async def urgent_in_flow(ctx: Context, text: str) -> None:
    """Text typed by a resident in the middle of a flow: if it describes danger now, the
    urgent steps come first (with the guide one tap away); the flow then goes on."""
    if not roles.is_resident(ctx.role):
        return
    answer, urgent = ctx.services.search.respond(text)
    if urgent is None:
        return
    rows = []
    if answer.guide_id:
        rows.append([ctx.action(f"g:{answer.guide_id}:1", ctx.text("urgent.open_guide"))])
    rows.append([ctx.action("help", ctx.label("ask_team"))])
    ctx.say("urgent.now", rows)


REVIEW_DAYS = 30
REVIEW_PAGE = 10


async def review_questions(ctx: Context, arg: str = "") -> None:
    """/cauhoi [page]: the most frequent questions of the last 30 days that got no guide, a
    low-confidence answer or a choice, masked as stored; for officers and admins, paged."""
    page = int(arg) if arg.strip().isascii() and arg.strip().isdigit() else 1
    groups = await questions.doubtful(
        ctx.conn,
        ctx.now - timedelta(days=REVIEW_DAYS),
        low_score=ctx.services.search.tuning.low_confidence,
    )
    if not groups:
        ctx.say("questions.none", days=REVIEW_DAYS)
        return
    pages = (len(groups) + REVIEW_PAGE - 1) // REVIEW_PAGE
    page = min(max(page, 1), pages)
    first = (page - 1) * REVIEW_PAGE
    lines = []
    for number, group in enumerate(groups[first : first + REVIEW_PAGE], first + 1):
        guide = ctx.services.guides.get(group["guide_id"] or "")
        lines.append(
            ctx.text(
                "questions.line",
                number=number,
                text=group["text"],
                count=group["count"],
                guide=guide.title if guide and group["kind"] != "none" else "",
                score=f"{group['score']:.2f}",
            )
        )
    rows = [[ctx.action(f"cauhoi:{page + 1}", ctx.text("questions.more"))]] if page < pages else []
    ctx.say(
        "questions.page",
        rows,
        header=ctx.text(
            "questions.header",
            period=ctx.text("questions.period_days", days=REVIEW_DAYS),
            page=page,
            pages=pages,
        ),
        lines=lines,
        hint=ctx.text("questions.hint"),
    )

"""Residents' guides in the chat: free-text questions, the category menu, steps one at a time.

Navigation buttons are actions (they stay valid: a guide can be reread at any time);
`a:gm` the menu, `a:gc:<category>` a category, `a:g:<guide>:<step>` one step.
"""

from __future__ import annotations

import re

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


async def show_step(ctx: Context, arg: str) -> None:
    """`<guide id>:<step number>`: one step as one message, with Back / Next."""
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
        title=guide.title,
        intro=guide.intro if number == 1 else "",
        number=number,
        total=len(guide.steps),
        heading=_STEP_NUMBER.sub("", step.title),
        body=step.text,
        sources=list(guide.sources) if last else [],
        verified=guide.verified if last else None,
    )


async def answer_question(ctx: Context, text: str) -> None:
    """Any message that is not a command: find the guide, or say plainly there is none."""
    answer = ctx.services.search.ask(text)
    await questions.record(
        ctx.conn,
        at=ctx.now,
        channel=ctx.event.channel,
        role=ctx.role,
        text=text,
        kind=answer.kind,
        guide_id=answer.guide_id,
        score=answer.score,
    )
    if answer.kind == "greeting":
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
        rows = category_choices(ctx)
        rows.append([ctx.action("help", ctx.label("ask_team"))])
        ctx.say("guides.none", rows)

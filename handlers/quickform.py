"""The one-message report: /bc <head>; <address>; <codes>; <numbers>, saved at once with Undo."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from core import figures, roles
from core.errors import InvalidField, StaleChoice
from core.text import fold
from handlers.choices import record_id
from handlers.context import Context
from handlers.report import count_lines, skills_text
from handlers.services import reporting
from handlers.services.reporting import Draft

# Quick-form code -> skill flag, and the numbers' keys: from core/figures.py.
CODES = {skill.quick: skill.code for skill in figures.SKILLS if skill.quick}
NUMBERS = (*figures.count_codes(), "thanhthao", "nk")
_KEYS = "|".join(re.escape(key) for key in sorted(NUMBERS, key=len, reverse=True))
_NUMBER = re.compile(rf"({_KEYS})\s*[=:]\s*([^\s,;=]*)")
# Other spellings of a key, written together before the numbers are read.
_SPELLINGS = {"thanh thao": "thanhthao"} | {
    spelling: count.code for count in figures.COUNTS for spelling in count.spellings
}
_SEPARATORS = re.compile(r"[\s,.+/]+")


@dataclass
class QuickForm:
    head_name: str
    address: str
    skills: set[str] = field(default_factory=set)
    numbers: dict[str, int] = field(default_factory=dict)


def parse(args: str) -> QuickForm:
    """Read the quick form; raise InvalidField naming the part at fault. Nothing is saved."""
    parts = [part.strip() for part in args.split(";")]
    if len(parts) < 2 or not parts[0]:
        raise InvalidField(field="quick_format")
    name = reporting.clean_name(parts[0])
    address = reporting.clean_address(parts[1]) if len(parts) > 1 else ""
    form = QuickForm(name, address)
    rest = " ".join(parts[2:])
    folded = fold(rest)
    for spelling, key in _SPELLINGS.items():
        folded = folded.replace(spelling, key)
    for key, raw in _NUMBER.findall(folded):
        if not (raw.isascii() and raw.isdigit()):
            raise InvalidField(field="quick_number", value=f"{key}={raw}")
        form.numbers[key] = int(raw)
    remainder = _NUMBER.sub(" ", folded)
    for token in filter(None, _SEPARATORS.split(remainder)):
        code = CODES.get(token)
        if code is None:
            raise InvalidField(field="quick_code", value=token)
        form.skills.add(code)
    if not form.skills and not any(form.numbers.get(k) for k in figures.count_codes()):
        raise InvalidField(field="quick_nothing")
    return form


def to_draft(form: QuickForm) -> Draft:
    numbers = form.numbers
    size = reporting.clean_size(numbers["nk"]) if "nk" in numbers else None
    thanhthao = numbers.get("thanhthao", 0)
    if thanhthao not in (0, 1):
        raise InvalidField(field="thanhthao", reason="thanhthao")
    draft = Draft(
        head_name=form.head_name,
        address=form.address,
        size=size,
        skills=set(form.skills),
        proficient=thanhthao == 1,
    )
    for count in figures.COUNTS:
        draft.counts[count.code] = reporting.clean_count(
            numbers.get(count.code, 0), count.code, size
        )
    # A number implies what was guided.
    draft.skills |= {count.skill for count in figures.COUNTS if draft.count(count.code)}
    return draft


async def quick_report(ctx: Context, args: str) -> None:
    """/bc: parse, save at once, offer Undo."""
    if ctx.person is None or not roles.can(ctx.role, roles.REPORT):
        ctx.say("report.not_team")
        return
    if not args.strip():
        ctx.say("help.quick_form")
        return
    draft = to_draft(parse(args))
    draft.visit_date = ctx.today
    recorded = await reporting.record(
        ctx.conn,
        member=ctx.person,
        draft=draft,
        request_key=f"{ctx.event.channel}:{ctx.event.update_key}",
        plan=ctx.services.plan,
        today=ctx.today,
        now=ctx.now,
        quick=True,
    )
    namesakes = ", ".join(h.address or "?" for h in recorded.namesakes)
    ctx.say(
        "report.quick_saved",
        [[ctx.action(f"undo:{recorded.visit_id}", ctx.label("undo"))]],
        name=recorded.household.head_name,
        address=recorded.household.address,
        day=draft.visit_date,
        skills=skills_text(ctx, draft.skills),
        counts=count_lines(ctx, draft.counts, "figure_short"),
        proficient=draft.proficient,
        namesakes=namesakes,
    )


async def undo(ctx: Context, arg: str) -> None:
    """The Undo button under a quick report: delete that report (audited)."""
    if ctx.person is None:
        raise StaleChoice()
    visit = await reporting.delete(ctx.conn, ctx.person, record_id(arg), ctx.now)
    ctx.say("report.undone", name=visit.head_name)

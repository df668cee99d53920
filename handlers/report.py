"""The guided household report (/baocao), also used to correct a report (/sua).

States: see handlers/report.mmd.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from core import figures, roles
from core.errors import InvalidField, StaleChoice
from core.events import Choice, in_rows
from handlers.choices import record_id
from handlers.context import Context
from handlers.dispatcher import Flow
from handlers.menu import cancel, menu_choices
from handlers.services import places, reporting
from handlers.services.reporting import Draft

FLOW = "report"
FIVE_SKILLS = tuple(skill.code for skill in figures.SKILLS if skill.basic)
SKILL_ORDER = figures.skill_codes()
# Which toggled skill asks which count.
COUNT_FOR = {count.skill: count.code for count in figures.COUNTS}


def _draft(ctx: Context) -> Draft:
    return Draft.from_data(ctx.data.get("draft", {}))


def _keep(ctx: Context, draft: Draft) -> None:
    ctx.data["draft"] = draft.to_data()


def count_lines(ctx: Context, counts: Mapping[str, int], style: str) -> list[dict[str, Any]]:
    """Every count of core/figures.py with its label (labels.<style>.<code>), for a message."""
    return [
        {"label": ctx.label(f"{style}.{count.code}"), "value": counts.get(count.code, 0)}
        for count in figures.COUNTS
    ]


def skills_text(ctx: Context, skills: set[str] | frozenset[str]) -> str:
    names = [ctx.label(f"skill.{s}") for s in SKILL_ORDER if s in skills]
    return ", ".join(names) if names else "—"


# --- entry ---------------------------------------------------------------------------------
async def start(ctx: Context, _args: str = "") -> None:
    """/baocao: start a new report in the member's village."""
    if ctx.person is None or not roles.can(ctx.role, roles.REPORT) or not ctx.person.unit_code:
        ctx.say("report.not_team")
        return
    village = await places.get(ctx.conn, ctx.person.unit_code)
    ctx.goto(FLOW, "name", draft=Draft(visit_date=ctx.today).to_data(), editing=None)
    ctx.say(
        "report.ask_name",
        [[ctx.choice("cancel", ctx.label("cancel"))]],
        unit=village.name if village else "",
    )


async def start_edit(ctx: Context, draft: Draft, visit_id: int) -> None:
    """Open an existing report at its summary, to change and save it again."""
    ctx.goto(FLOW, "summary", draft=draft.to_data(), editing=visit_id)
    _ask_summary(ctx)


# --- household -------------------------------------------------------------------------------
async def on_name(ctx: Context, text: str) -> None:
    # "Nguyễn Văn An, xóm 3": the address may come with the name (one message fewer).
    raw_name, _, raw_address = text.replace(";", ",").partition(",")
    name = reporting.clean_name(raw_name)
    assert ctx.person is not None and ctx.person.unit_code
    draft = _draft(ctx)
    draft.head_name = name
    address = reporting.clean_address(raw_address) if raw_address.strip() else ""
    if address:
        draft.address = address
    _keep(ctx, draft)
    similar = await reporting.similar_households(ctx.conn, ctx.person.unit_code, name)
    if similar:
        ctx.state = "pick_household"
        options = [
            ctx.choice(f"h{h.id}", ctx.label("household", name=h.head_name, address=h.address))
            for h in similar
        ]
        options.append(ctx.choice("new", ctx.label("new_household")))
        ctx.say("report.similar", in_rows(options, 1))
        return
    if address:
        _ask_skills(ctx, draft)
        return
    _ask_address(ctx, name)


def _ask_address(ctx: Context, name: str) -> None:
    ctx.state = "address"
    ctx.say("report.ask_address", [[ctx.choice("skip", ctx.label("skip"))]], name=name)


async def on_pick_household(ctx: Context, value: str) -> None:
    draft = _draft(ctx)
    if value == "new":
        if draft.address:
            _ask_skills(ctx, draft)
        else:
            _ask_address(ctx, draft.head_name)
        return
    if value == "cancel":
        await _cancel(ctx)
        return
    if not value.startswith("h"):
        raise StaleChoice()
    household_id = record_id(value[1:])
    if ctx.person is None:
        raise StaleChoice()
    household = await reporting.own_household(ctx.conn, ctx.person, household_id)
    draft.household_id, draft.head_name, draft.address = (
        household_id,
        household.head_name,
        household.address,
    )
    draft.size = household.size
    _keep(ctx, draft)
    _ask_skills(ctx, draft)


async def on_address(ctx: Context, text: str) -> None:
    draft = _draft(ctx)
    draft.address = reporting.clean_address(text)
    _keep(ctx, draft)
    _ask_skills(ctx, draft)


async def on_address_choice(ctx: Context, value: str) -> None:
    if value == "cancel":
        await _cancel(ctx)
        return
    _ask_skills(ctx, _draft(ctx))


# --- what was guided ------------------------------------------------------------------------
def _skill_buttons(ctx: Context, draft: Draft) -> list[list[Choice]]:
    buttons = []
    for skill in SKILL_ORDER:
        label = ctx.label(f"skill.{skill}")
        if skill in draft.skills:
            label = ctx.label("selected", label=label)
        buttons.append(ctx.choice(f"t:{skill}", label))
    rows = in_rows(buttons, 2)
    rows.append([ctx.choice("all5", ctx.label("all_five")), ctx.choice("done", ctx.label("done"))])
    return rows


def _ask_skills(ctx: Context, draft: Draft, *, edit: bool = False) -> None:
    ctx.state = "skills"
    ctx.say("report.ask_skills", _skill_buttons(ctx, draft), edit=edit, name=draft.head_name)


async def on_skills(ctx: Context, value: str) -> None:
    draft = _draft(ctx)
    if value.startswith("t:") and value[2:] in SKILL_ORDER:
        draft.skills ^= {value[2:]}
        _keep(ctx, draft)
        _ask_skills(ctx, draft, edit=True)
        return
    if value == "all5":
        draft.skills |= set(FIVE_SKILLS)
        _keep(ctx, draft)
        _ask_skills(ctx, draft, edit=True)
        return
    if value != "done":
        raise StaleChoice()
    await _skills_done(ctx, draft)


async def on_skills_many(ctx: Context, values: list[str]) -> None:
    """Several numbers typed at once ("1 3 7 8"): those are ticked and the list is done."""
    draft = _draft(ctx)
    for value in values:
        if value.startswith("t:") and value[2:] in SKILL_ORDER:
            draft.skills |= {value[2:]}
        elif value == "all5":
            draft.skills |= set(FIVE_SKILLS)
        elif value != "done":
            raise StaleChoice()
    _keep(ctx, draft)
    await _skills_done(ctx, draft)


async def _skills_done(ctx: Context, draft: Draft) -> None:
    if not draft.skills:
        raise InvalidField(field="skills")
    # Counts only for what was toggled; a count whose toggle was removed goes back to 0.
    for skill, count in COUNT_FOR.items():
        if skill not in draft.skills:
            draft.counts[count] = 0
    _keep(ctx, draft)
    ctx.data["pending"] = [COUNT_FOR[s] for s in COUNT_FOR if s in draft.skills]
    await _next_count(ctx)


# --- counts -------------------------------------------------------------------------------
async def _next_count(ctx: Context) -> None:
    pending = list(ctx.data.get("pending", []))
    if not pending:
        if ctx.data.get("editing") or ctx.data.get("asked_proficient"):
            _ask_summary(ctx)
        else:
            ctx.state = "proficient"
            ctx.say(
                "report.ask_proficient",
                [[ctx.choice("yes", ctx.label("yes")), ctx.choice("no", ctx.label("no"))]],
            )
        return
    field = pending[0]
    ctx.state = "count"
    ctx.data["count_field"] = field
    numbers = [ctx.choice(str(n), str(n)) for n in range(0, 6)]
    ctx.say(
        "report.ask_count",
        [numbers],
        what=ctx.label(f"count_field.{field}"),
        more=[ctx.label(f"count_field.{f}") for f in pending[1:]],
    )


async def _set_count(ctx: Context, raw: str) -> None:
    draft = _draft(ctx)
    field = str(ctx.data["count_field"])
    value = reporting.clean_count(raw, field, draft.size)
    draft.counts[field] = value
    _keep(ctx, draft)
    ctx.data["pending"] = [f for f in ctx.data.get("pending", []) if f != field]
    await _next_count(ctx)


async def on_count_text(ctx: Context, text: str) -> None:
    """One count, or the counts still asked typed together in the order asked ("2 1")."""
    values = text.replace(",", " ").replace(";", " ").split()
    pending = [str(f) for f in ctx.data.get("pending", [])]
    if len(values) <= 1 or len(values) != len(pending):
        await _set_count(ctx, text)
        return
    draft = _draft(ctx)
    for field, raw in zip(pending, values, strict=True):
        draft.counts[field] = reporting.clean_count(raw, field, draft.size)
    _keep(ctx, draft)
    ctx.data["pending"] = []
    await _next_count(ctx)


async def on_proficient(ctx: Context, value: str) -> None:
    draft = _draft(ctx)
    draft.proficient = value == "yes"
    _keep(ctx, draft)
    ctx.data["asked_proficient"] = True
    _ask_summary(ctx)


# --- summary ----------------------------------------------------------------------------------
def _ask_summary(ctx: Context) -> None:
    draft = _draft(ctx)
    editing = bool(ctx.data.get("editing"))
    ctx.state = "summary"
    rows = [
        [ctx.choice("save", ctx.label("save_changes" if editing else "save"))],
        [ctx.choice("note", ctx.label("add_note")), ctx.choice("date", ctx.label("change_date"))],
        [ctx.choice("skills", ctx.label("change_skills"))],
        [ctx.choice("cancel", ctx.label("cancel"))],
    ]
    if editing:
        rows.insert(2, [ctx.choice("proficient", ctx.label("change_proficient"))])
    ctx.say(
        "report.summary",
        rows,
        editing=editing,
        name=draft.head_name,
        address=draft.address,
        day=draft.visit_date or ctx.today,
        skills=skills_text(ctx, draft.skills),
        counts=count_lines(ctx, draft.counts, "figure"),
        proficient=draft.proficient,
        note=draft.note or "",
    )


async def on_summary(ctx: Context, value: str) -> None:
    draft = _draft(ctx)
    if value == "save":
        await _save(ctx, draft)
    elif value == "note":
        ctx.state = "note"
        ctx.say("report.ask_note", [[ctx.choice("back", ctx.label("back"))]])
    elif value == "date":
        ctx.state = "date"
        days = ctx.services.plan.report_days(ctx.today)[:6]
        options = [
            ctx.choice(f"d{d.isoformat()}", ctx.label("today" if d == ctx.today else "day", day=d))
            for d in days
        ]
        ctx.say("report.ask_date", in_rows(options, 2))
    elif value == "skills":
        ctx.data["asked_proficient"] = True
        _ask_skills(ctx, draft)
    elif value == "proficient":
        ctx.state = "proficient"
        ctx.say(
            "report.ask_proficient",
            [[ctx.choice("yes", ctx.label("yes")), ctx.choice("no", ctx.label("no"))]],
        )
    elif value == "cancel":
        await _cancel(ctx)
    else:
        raise StaleChoice()


async def on_note(ctx: Context, text: str) -> None:
    draft = _draft(ctx)
    draft.note = reporting.clean_note(text) or None
    _keep(ctx, draft)
    _ask_summary(ctx)


async def on_note_choice(ctx: Context, _value: str) -> None:
    _ask_summary(ctx)


async def on_date(ctx: Context, value: str) -> None:
    draft = _draft(ctx)
    try:
        day = date.fromisoformat(value[1:])
    except ValueError:
        raise StaleChoice() from None
    if not ctx.services.plan.accepts_report_day(day, ctx.today):
        raise InvalidField(
            field="visit_date", reason="date_range", days=ctx.services.plan.late_report_days
        )
    draft.visit_date = day
    _keep(ctx, draft)
    _ask_summary(ctx)


async def _save(ctx: Context, draft: Draft) -> None:
    assert ctx.person is not None
    editing = ctx.data.get("editing")
    if editing:
        visit = await reporting.update(
            ctx.conn,
            ctx.person,
            int(str(editing)),
            draft,
            plan=ctx.services.plan,
            today=ctx.today,
            now=ctx.now,
        )
        ctx.end()
        ctx.say("report.saved_changes", name=visit.head_name)
        return
    # The key of this flow step: a retried or double-tapped "Lưu" stores one visit.
    key = f"{ctx.event.channel}:{ctx.event.chat_id}:report:{ctx.conversation.version}"
    recorded = await reporting.record(
        ctx.conn,
        member=ctx.person,
        draft=draft,
        request_key=key,
        plan=ctx.services.plan,
        today=ctx.today,
        now=ctx.now,
    )
    ctx.end()
    if not recorded.created:
        ctx.say("report.already_saved")
        return
    ctx.say(
        "report.saved",
        menu_choices(ctx),
        name=recorded.household.head_name,
        day=draft.visit_date or ctx.today,
        namesakes=len(recorded.namesakes) if recorded.new_household else 0,
    )


async def _cancel(ctx: Context) -> None:
    await cancel(ctx)


async def on_name_choice(ctx: Context, value: str) -> None:
    await _cancel(ctx)


flow = Flow(
    FLOW,
    on_choice={
        "name": on_name_choice,
        "pick_household": on_pick_household,
        "address": on_address_choice,
        "skills": on_skills,
        "count": lambda ctx, value: _set_count(ctx, value),
        "proficient": on_proficient,
        "summary": on_summary,
        "note": on_note_choice,
        "date": on_date,
    },
    on_text={
        "name": on_name,
        "address": on_address,
        "count": on_count_text,
        "note": on_note,
    },
    on_choices={"skills": on_skills_many},
)

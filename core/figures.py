"""The figures a household visit records: one declaration read by every layer.

A visit records flags (what was guided: `SKILLS`) and counts (how many people did something:
`COUNTS`). The schema's columns (visits, households, unit_stats, unit_daily_stats), the quick
form's keys, the guided report's questions, the household state, the maintained aggregates, the
`stats --json` contract, the exports' columns and the messages' lists are all built from these
tables. Adding a count is one row here, its label keys in content/messages/vi.yaml and an
Alembic migration for its columns (see CONTRIBUTING.md, "Add a figure").

Two flags are derived rather than declared here, because their rules are not a plain column:
`proficient` (quick-form `thanhthao`, 0 or 1) and the household's `dvc_payment` (dvc or payment).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Skill:
    """A flag: something the member guided the household through (a boolean visit column)."""

    code: str  # visits column, button data "t:<code>", label key labels.skill.<code>
    quick: str | None  # its code in the quick form (/bc ...; dvc,tt; ...); None: implied only
    basic: bool = False  # one of the five basic skills (the "all five" button)


@dataclass(frozen=True, slots=True)
class Count:
    """A count: how many people of the household did something (0-30, at most its size)."""

    code: str  # visits column, draft and tally key, quick-form key "<code>=N"
    skill: str  # the flag that asks for it in the guided report, and that a non-zero count implies
    state: str  # households column: the sum over the household's live visits
    statistic: str  # unit_stats / unit_daily_stats aggregate and `stats --json` key it feeds
    baseline: str | None = None  # units-file column whose subtree total counts in the statistic
    spellings: tuple[str, ...] = ()  # other ways members write the key in the quick form
    kind: str = "count"

    # Label keys in content/messages/vi.yaml (all required; tests check they exist):
    # labels.count_field.<code>  the guided report's question ("Có mấy người <b>…</b>?")
    # labels.field.<code>        the name in a validation error ("… (dk2)")
    # labels.figure.<code>       the report summary's line ("…: 2 người")
    # labels.figure_short.<code> the quick report's confirmation
    # labels.figure_tally.<code> the member's tally (/cuatoi)
    # digest.xlsx.col.<statistic> and digest.xlsx.col.<state>: the exports' column headers


SKILLS: tuple[Skill, ...] = (
    Skill("dvc", "dvc", basic=True),
    Skill("shopping", "mua", basic=True),
    Skill("payment", "tt", basic=True),
    Skill("safety", "atm", basic=True),
    Skill("local_platforms", "dp", basic=True),
    Skill("vneid_install", "vneid"),
    Skill("vneid_register", None),
    Skill("vneid_activate", None),
    Skill("cqngai", None),
    Skill("other", "khac"),
)

COUNTS: tuple[Count, ...] = (
    Count(
        "dk2",
        skill="vneid_register",
        state="vneid_registered",
        statistic="vneid_registered",
        baseline="vneid_registered_baseline",
        spellings=("dk 2",),
    ),
    Count(
        "kh",
        skill="vneid_activate",
        state="vneid_activated",
        statistic="vneid_activated",
        baseline="vneid_activated_baseline",
    ),
    Count(
        "cqn",
        skill="cqngai",
        state="cqngai_installed",
        statistic="cqngai_installed",
        baseline="cqngai_baseline",
    ),
)


def skill_codes() -> tuple[str, ...]:
    return tuple(skill.code for skill in SKILLS)


def count_codes() -> tuple[str, ...]:
    return tuple(count.code for count in COUNTS)


def no_counts() -> dict[str, int]:
    """Every count at zero, in table order."""
    return dict.fromkeys(count_codes(), 0)

"""`python -m bot plan check FILE`: the shipped plans are valid; each mistake names its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from handlers.services import plancheck

ROOT = Path(__file__).resolve().parents[2]
GOOD = (ROOT / "content" / "plans" / "quang-ngai-2026.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["mo-duc-2024.yaml", "quang-ngai-2026.yaml"])
def test_the_shipped_plans_are_valid(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "check", str(ROOT / "content" / "plans" / name)]) == 0
    assert "the plan is valid" in capsys.readouterr().out


def _line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize(
    ("wrong", "right", "said"),
    [
        ("goal: 0.85  # example", "goal: 85", "goal is a fraction between 0 and 1"),
        ("denominator: eligible_citizens", "denominator: citizens", "denominator must be one of"),
        ("date: 2026-01-31  # example", "date: 31/01/2026", "date must be a date written"),
        ("deliverable: document", "deliverable: report", "deliverable must be one of"),
        (
            "{role: province_officer, level: province}",
            "{role: province_officer, level: commune}",
            "a province_officer is never bound to a commune",
        ),
        ('at: "07:30"', "at: 7:30", "at must be a time in quotes"),
        ("end: 2026-12-31", "end: 2025-12-31", "end is before start"),
    ],
)
def test_a_mistake_names_its_line_and_what_to_write(wrong: str, right: str, said: str) -> None:
    assert wrong in GOOD
    text = GOOD.replace(wrong, right, 1)
    errors = plancheck.check(text)
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"line {_line_of(text, right)}: ")
    assert said in errors[0]


def test_a_missing_field_and_broken_yaml_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert plancheck.check(GOOD.replace("root_unit: quang-ngai\n", "")) == [
        "line 8: the plan needs `root_unit:`"
    ]
    broken = tmp_path / "broken.yaml"
    broken.write_text("id: x\ntitle: [unclosed\n", encoding="utf-8")
    assert main(["plan", "check", str(broken)]) == 1
    assert f"{broken}: line " in capsys.readouterr().err

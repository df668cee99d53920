"""`python -m bot guides check` run as an editor would: listing is not failure, malformed is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

GUIDE = """\
---
id: {id}
title: Cài ứng dụng
category: vneid
aliases:
  - cài app
sources:
  - https://example.gov.vn/a
facts:
  - claim: The app is in the store
    steps: [1]
    source: https://example.gov.vn/a
    published: 2024-01-02
    status: confirmed
verified: 2026-12-03
review_by: {review_by}
---
## 1. Bước một
Làm thế này.
"""


def guides_check(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "GUIDE_FACT_MAX_AGE_DAYS"}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", "bot", "guides", "check", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )


def test_shipped_guides_pass_and_print_the_documented_json() -> None:
    result = guides_check("--json", "--today", "2026-12-03")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {
        "today",
        "max_age_days",
        "ok",
        "guides",
        "malformed",
        "past_review",
        "old_facts",
        "unconfirmed",
    }
    assert data["ok"] is True
    assert data["malformed"] == []
    assert data["past_review"] == []
    assert data["guides"] >= 27
    assert data["max_age_days"] == 730
    for fact in data["old_facts"]:
        assert fact["age_days"] > 730
        assert {"id", "claim", "steps", "source", "source_date", "status"} <= set(fact)


def test_a_guide_past_review_is_listed_without_failing(tmp_path: Path) -> None:
    (tmp_path / "due.md").write_text(GUIDE.format(id="due", review_by="2027-01-01"), "utf-8")
    (tmp_path / "later.md").write_text(GUIDE.format(id="later", review_by="2028-01-01"), "utf-8")
    result = guides_check("--guides", str(tmp_path), "--today", "2027-02-01")
    assert result.returncode == 0, result.stderr
    assert "past review: due (review_by 2027-01-01)" in result.stdout
    assert "past review: later" not in result.stdout
    # 2024-01-02 is older than the default 730 days on 2027-02-01: both facts are listed.
    assert result.stdout.count("old source:") == 2


def test_the_age_limit_comes_from_the_setting_and_the_option(tmp_path: Path) -> None:
    (tmp_path / "g.md").write_text(GUIDE.format(id="g", review_by="2028-01-01"), "utf-8")
    base = ("--guides", str(tmp_path), "--today", "2026-12-03", "--json")
    by_setting = guides_check(*base, GUIDE_FACT_MAX_AGE_DAYS="365")
    assert json.loads(by_setting.stdout)["max_age_days"] == 365
    assert len(json.loads(by_setting.stdout)["old_facts"]) == 1
    by_option = guides_check(*base, "--max-age-days", "2000", GUIDE_FACT_MAX_AGE_DAYS="365")
    assert json.loads(by_option.stdout)["old_facts"] == []


def test_a_malformed_guide_fails_with_its_file_and_field(tmp_path: Path) -> None:
    (tmp_path / "good.md").write_text(GUIDE.format(id="good", review_by="2028-01-01"), "utf-8")
    bad = GUIDE.format(id="bad", review_by="2028-01-01").replace("steps: [1]", "steps: [4]")
    (tmp_path / "bad.md").write_text(bad, "utf-8")
    result = guides_check("--guides", str(tmp_path), "--today", "2026-12-03")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert str(tmp_path / "bad.md") in result.stderr
    assert "facts[0].steps" in result.stderr
    as_json = guides_check("--guides", str(tmp_path), "--today", "2026-12-03", "--json")
    assert as_json.returncode == 1
    data = json.loads(as_json.stdout)
    assert data["ok"] is False
    assert data["malformed"] == [
        {
            "file": str(tmp_path / "bad.md"),
            "field": "facts[0].steps",
            "error": data["malformed"][0]["error"],
        }
    ]
    assert data["guides"] == 1


def test_a_missing_folder_or_bad_date_is_refused(tmp_path: Path) -> None:
    missing = guides_check("--guides", str(tmp_path / "nope"))
    assert missing.returncode == 2
    assert "no such folder" in missing.stderr
    bad_date = guides_check("--today", "soon")
    assert bad_date.returncode == 2
    assert "Traceback" not in bad_date.stderr

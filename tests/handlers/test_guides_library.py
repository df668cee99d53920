"""The guide library: the shipped guides follow the format, and bad files are named."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from handlers.guides.library import (
    CATEGORIES,
    MAX_STEP_CHARS,
    GuideFormatError,
    GuideLibrary,
)

GUIDES = Path(__file__).resolve().parents[2] / "content" / "guides"

REQUIRED_IDS = {
    "vneid-install",
    "vneid-level2-register",
    "vneid-activate",
    "vneid-passcode-reset",
    "vneid-documents",
    "dvc-national-login",
    "dvc-province",
    "dvc-track",
    "pay-ewallet",
    "pay-public-fees",
    "pay-hospital-tuition",
    "pay-bills-qr",
    "shop-buy",
    "shop-sell",
    "info-portals",
    "safety-scam-signs",
    "safety-unsafe-website",
    "safety-phone",
    "safety-report",
    "cqngai-app",
    "digital-signature",
    "health-record",
    "onetouch-course",
    "team-contact",
}

GOOD = """\
---
id: {id}
title: Cài ứng dụng
category: vneid
aliases:
  - cài app
keywords: [cài]
sources:
  - https://example.gov.vn/a
verified: 2026-11-29
---
Lời mở đầu.

## 1. Bước một
Làm thế này.

## 2. Bước hai
Rồi thế kia.
"""


@pytest.fixture(scope="module")
def library() -> GuideLibrary:
    return GuideLibrary.load(GUIDES)


def test_all_required_guides_exist(library: GuideLibrary) -> None:
    assert REQUIRED_IDS <= {g.id for g in library.all()}


def test_every_guide_has_https_sources_and_a_verified_date(library: GuideLibrary) -> None:
    for guide in library.all():
        assert guide.sources, guide.id
        assert all(url.startswith("https://") for url in guide.sources), guide.id
        assert isinstance(guide.verified, dt.date), guide.id
        assert guide.verified <= dt.date.today() + dt.timedelta(days=1), guide.id


def test_every_step_fits_in_one_message(library: GuideLibrary) -> None:
    for guide in library.all():
        assert guide.steps, guide.id
        for step in guide.steps:
            assert len(f"{step.title}\n{step.text}") < MAX_STEP_CHARS, (guide.id, step.title)


def test_every_guide_has_a_known_category_and_aliases(library: GuideLibrary) -> None:
    for guide in library.all():
        assert guide.category in CATEGORIES, guide.id
        assert guide.aliases, guide.id
        assert guide.title.strip(), guide.id


def test_categories_are_ordered_with_vietnamese_labels() -> None:
    assert list(CATEGORIES) == [
        "vneid",
        "dvc",
        "payment",
        "shopping",
        "safety",
        "province-app",
        "learning",
        "contact",
    ]
    assert CATEGORIES["dvc"] == "Dịch vụ công"
    assert CATEGORIES["contact"] == "Liên hệ Tổ"


def test_load_parses_fields_and_skips_readme_and_underscore_files(tmp_path: Path) -> None:
    (tmp_path / "demo.md").write_text(GOOD.format(id="demo"), encoding="utf-8")
    (tmp_path / "README.md").write_text("# not a guide", encoding="utf-8")
    (tmp_path / "_lexicon.md").write_text("not a guide either", encoding="utf-8")
    library = GuideLibrary.load(tmp_path)
    guide = library.get("demo")
    assert guide is not None
    assert [g.id for g in library.all()] == ["demo"]
    assert library.by_category("vneid") == (guide,)
    assert library.by_category("dvc") == ()
    assert library.get("missing") is None
    assert guide.title == "Cài ứng dụng"
    assert guide.aliases == ("cài app",)
    assert guide.keywords == ("cài",)
    assert guide.verified == dt.date(2026, 11, 29)
    assert guide.applies_to is None
    assert guide.intro == "Lời mở đầu."
    assert [s.title for s in guide.steps] == ["1. Bước một", "2. Bước hai"]
    assert guide.steps[1].text == "Rồi thế kia."


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        pytest.param("---\nid", "id", "front matter", id="front matter"),
        pytest.param("category: vneid", "category: other", "category", id="category"),
        pytest.param("https://example", "http://example", "https", id="https"),
        pytest.param("verified: 2026-11-29", "verified: soon", "verified", id="verified"),
        pytest.param("  - cài app\n", "", "aliases", id="aliases"),
        pytest.param("id: demo", "id: other", "file name", id="file name"),
        pytest.param("Làm thế này.", "x" * MAX_STEP_CHARS, "characters", id="characters"),
        pytest.param("## ", "### ", "step", id="step"),
        pytest.param("title: Cài ứng dụng\n", "", "title", id="title"),
        pytest.param("aliases:", "aliases: [\n", "YAML", id="YAML"),
    ],
)
def test_bad_files_raise_a_named_error(tmp_path: Path, old: str, new: str, reason: str) -> None:
    path = tmp_path / "demo.md"
    path.write_text(GOOD.format(id="demo").replace(old, new), encoding="utf-8")
    with pytest.raises(GuideFormatError) as caught:
        GuideLibrary.load(tmp_path)
    assert caught.value.path == path
    assert reason in caught.value.reason

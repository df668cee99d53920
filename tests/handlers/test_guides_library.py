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
    check_folder,
    parse_guide,
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
    "safety-act-now",
    "safety-account-hijacked",
    "safety-phone-hijacked",
}

AUDIT_DAY = dt.date(2026, 12, 3)
"""The day the guides were checked against guide-audit-2026-12.md."""

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
    assert guide.after_urgent_step == 1
    (tmp_path / "demo.md").write_text(
        GOOD.format(id="demo").replace("verified:", "after_urgent_step: 2\nverified:"),
        encoding="utf-8",
    )
    again = GuideLibrary.load(tmp_path).get("demo")
    assert again is not None
    assert again.after_urgent_step == 2


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
        pytest.param(
            "verified:", "after_urgent_step: 3\nverified:", "after_urgent_step", id="start past end"
        ),
        pytest.param(
            "verified:", "after_urgent_step: two\nverified:", "after_urgent_step", id="start text"
        ),
    ],
)
def test_bad_files_raise_a_named_error(tmp_path: Path, old: str, new: str, reason: str) -> None:
    path = tmp_path / "demo.md"
    path.write_text(GOOD.format(id="demo").replace(old, new), encoding="utf-8")
    with pytest.raises(GuideFormatError) as caught:
        GuideLibrary.load(tmp_path)
    assert caught.value.path == path
    assert reason in caught.value.reason


# --- provenance: facts and review_by -------------------------------------------------------

PROVEN = """\
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
    steps: [0, 1]
    source: https://example.gov.vn/a
    published: 2025-01-02
    status: confirmed
  - claim: Old phones may fail
    steps: 2
    source: http://example.gov.vn/b
    checked: 2026-11-29
    status: unconfirmed
    note: Only a 2022 report.
verified: 2026-12-03
review_by: 2027-06-01
---
Lời mở đầu.

## 1. Bước một
Làm thế này.

## 2. Bước hai
Máy cũ có thể không cài được.
"""


def test_facts_and_review_by_are_parsed(tmp_path: Path) -> None:
    path = tmp_path / "demo.md"
    path.write_text(PROVEN.format(id="demo"), encoding="utf-8")
    guide = parse_guide(path, require_provenance=True)
    assert guide.review_by == dt.date(2027, 6, 1)
    first, second = guide.facts
    assert first.steps == (0, 1)
    assert first.source_date == dt.date(2025, 1, 2)
    assert first.confirmed
    assert second.steps == (2,)
    assert second.source == "http://example.gov.vn/b"
    assert second.source_date == dt.date(2026, 11, 29)
    assert not second.confirmed
    assert second.note == "Only a 2022 report."


def test_a_guide_without_facts_still_loads_but_fails_the_strict_check(tmp_path: Path) -> None:
    path = tmp_path / "demo.md"
    path.write_text(GOOD.format(id="demo"), encoding="utf-8")
    assert GuideLibrary.load(tmp_path).get("demo") is not None
    with pytest.raises(GuideFormatError) as caught:
        parse_guide(path, require_provenance=True)
    assert caught.value.path == path
    assert caught.value.field == "facts"


@pytest.mark.parametrize(
    ("old", "new", "field", "words"),
    [
        pytest.param("steps: 2", "steps: 3", "facts[1].steps", "step 3", id="unknown step"),
        pytest.param("steps: [0, 1]", "steps: [1, true]", "facts[0].steps", "True", id="bool"),
        pytest.param("steps: [0, 1]", "steps: []", "facts[0].steps", "step number", id="empty"),
        pytest.param(
            "published: 2025-01-02", "published: soon", "facts[0].published", "date", id="bad date"
        ),
        pytest.param(
            "published: 2025-01-02",
            "published: 2027-01-02",
            "facts[0].published",
            "after",
            id="date after verified",
        ),
        pytest.param("    published: 2025-01-02\n", "", "facts[0]", "published", id="no date"),
        pytest.param(
            "    source: https://example.gov.vn/a\n",
            "",
            "facts[0].source",
            "missing",
            id="no source",
        ),
        pytest.param(
            "source: http://example.gov.vn/b",
            "source: example.gov.vn/b",
            "facts[1].source",
            "URL",
            id="not a URL",
        ),
        pytest.param(
            "status: confirmed", "status: sure", "facts[0].status", "confirmed", id="status"
        ),
        pytest.param(
            "    note: Only",
            "    soruce: x\n    note: Only",
            "facts[1]",
            "soruce",
            id="unknown field",
        ),
        pytest.param(
            "Máy cũ có thể không cài được.",
            "Máy cũ không cài được.",
            "facts[1].status",
            "hedge",
            id="unhedged unconfirmed",
        ),
        pytest.param(
            "review_by: 2027-06-01",
            "review_by: 2026-12-01",
            "review_by",
            "after",
            id="review before verified",
        ),
        pytest.param(
            "review_by: 2027-06-01", "review_by: later", "review_by", "date", id="review date"
        ),
        pytest.param("review_by: 2027-06-01\n", "", "review_by", "missing", id="no review"),
        pytest.param("facts:\n", "facts: []\nx:\n", "facts", "non-empty", id="empty facts"),
    ],
)
def test_bad_provenance_names_the_file_and_field(
    tmp_path: Path, old: str, new: str, field: str, words: str
) -> None:
    path = tmp_path / "demo.md"
    text = PROVEN.format(id="demo")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(GuideFormatError) as caught:
        parse_guide(path, require_provenance=True)
    assert caught.value.path == path
    assert caught.value.field == field
    assert words in caught.value.reason
    assert str(path) in str(caught.value)


def test_step_zero_needs_an_introduction(tmp_path: Path) -> None:
    path = tmp_path / "demo.md"
    path.write_text(PROVEN.format(id="demo").replace("Lời mở đầu.\n", ""), encoding="utf-8")
    with pytest.raises(GuideFormatError) as caught:
        parse_guide(path)
    assert caught.value.field == "facts[0].steps"


def test_check_folder_lists_guides_past_review_and_old_facts(tmp_path: Path) -> None:
    (tmp_path / "fresh.md").write_text(PROVEN.format(id="fresh"), encoding="utf-8")
    (tmp_path / "stale.md").write_text(
        PROVEN.format(id="stale").replace("review_by: 2027-06-01", "review_by: 2027-01-01"),
        encoding="utf-8",
    )
    report = check_folder(tmp_path, today=dt.date(2027, 2, 1), max_age_days=365)
    data = report.as_json()
    assert report.ok
    assert data["guides"] == 2
    assert [g["id"] for g in data["past_review"]] == ["stale"]
    # 2025-01-02 is more than 365 days before 2027-02-01; 2026-11-29 is not.
    assert {(f["id"], f["source_date"]) for f in data["old_facts"]} == {
        ("fresh", "2025-01-02"),
        ("stale", "2025-01-02"),
    }
    assert {f["id"] for f in data["unconfirmed"]} == {"fresh", "stale"}


def test_check_folder_reports_every_malformed_file(tmp_path: Path) -> None:
    (tmp_path / "good.md").write_text(PROVEN.format(id="good"), encoding="utf-8")
    (tmp_path / "bad.md").write_text(
        PROVEN.format(id="bad").replace("steps: 2", "steps: 9"), encoding="utf-8"
    )
    (tmp_path / "old.md").write_text(GOOD.format(id="old"), encoding="utf-8")
    report = check_folder(tmp_path, today=AUDIT_DAY, max_age_days=730)
    assert not report.ok
    malformed = {(e["file"], e["field"]) for e in report.as_json()["malformed"]}
    assert malformed == {
        (str(tmp_path / "bad.md"), "facts[1].steps"),
        (str(tmp_path / "old.md"), "facts"),
    }
    assert [s.guide.id for s in report.guides] == ["good"]


# --- meta-tests: the shipped guides --------------------------------------------------------


def test_every_shipped_guide_records_dated_sourced_facts_and_a_future_review() -> None:
    report = check_folder(GUIDES, today=AUDIT_DAY, max_age_days=730)
    assert report.ok, [str(e) for e in report.errors]
    assert {s.guide.id for s in report.guides} >= REQUIRED_IDS
    for status in report.guides:
        guide = status.guide
        assert guide.sources, guide.id
        assert guide.facts, guide.id
        assert guide.review_by is not None and guide.review_by > AUDIT_DAY, guide.id
        assert guide.verified == AUDIT_DAY, guide.id
        for fact in guide.facts:
            assert fact.source.startswith(("https://", "http://")), (guide.id, fact.claim)
            assert fact.source_date <= guide.verified, (guide.id, fact.claim)
            assert fact.steps, (guide.id, fact.claim)


def test_guides_send_nobody_to_a_closed_portal_or_an_old_name(library: GuideLibrary) -> None:
    for guide in library.all():
        body = "\n".join([guide.intro, *(f"{s.title}\n{s.text}" for s in guide.steps)])
        assert "Bộ phận một cửa" not in body, guide.id
        assert "VNPT Pay" not in body, guide.id
        assert "59/2022" not in body, guide.id
        assert "0692348560" not in body, guide.id
        if "dichvucong.quangngai.gov.vn" in body:
            assert "đã dừng" in body, guide.id


def test_the_urgent_guides_say_what_to_do_in_the_first_message(library: GuideLibrary) -> None:
    for guide_id in ("safety-act-now", "safety-account-hijacked", "safety-phone-hijacked"):
        guide = library.get(guide_id)
        assert guide is not None
        assert guide.category == "safety"
    act_now = library.get("safety-act-now")
    assert act_now is not None
    first = act_now.intro
    for must in ("không chuyển thêm tiền", "tổng đài ngân hàng", "113", "Công an xã"):
        assert must in first, must
    # after the urgent reply (which says the same), the chat starts at the step after those
    assert act_now.after_urgent_step == 3
    assert [s.title for s in act_now.steps[:2]] == [
        "1. Dừng lại ngay",
        "2. Gọi ngay tổng đài ngân hàng",
    ]


def test_every_guide_a_step_points_to_exists(library: GuideLibrary) -> None:
    import re

    titles = {g.title for g in library.all()}
    for guide in library.all():
        for step in guide.steps:
            for name in re.findall(r'hướng dẫn "([^"]+)"', step.text):
                assert name in titles or any(t.startswith(name) for t in titles), (
                    guide.id,
                    name,
                )

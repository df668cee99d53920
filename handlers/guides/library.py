"""Guide library: parses the Markdown guides in content/guides into immutable objects.

Each guide records where its facts come from: `facts` (one entry per claim: the steps it supports,
its source, the date the source was published or checked, confirmed/unconfirmed) and `review_by`.
`check_folder` reports guides past review or resting on old sources (`python -m bot guides check`).

Errors:
    GuideFormatError -- a guide file is malformed (bad front matter, missing field, long step,
                        a fact naming a step that does not exist, an unhedged unconfirmed fact).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

CATEGORIES: Mapping[str, str] = MappingProxyType(
    {
        "vneid": "VNeID",
        "dvc": "Dịch vụ công",
        "payment": "Thanh toán",
        "shopping": "Mua bán online",
        "safety": "An toàn trên mạng",
        "province-app": "Ứng dụng của tỉnh",
        "learning": "Học kỹ năng số",
        "contact": "Liên hệ Tổ",
    }
)
"""Guide categories in menu order: key -> Vietnamese label."""

MAX_STEP_CHARS = 2000
"""A step (heading and text) is one chat message and must stay under this many characters."""

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)(.*)\Z", re.DOTALL)
_STEP_HEADING = re.compile(r"^## +(.+?)\s*$", re.MULTILINE)
_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

FACT_STATUSES = ("confirmed", "unconfirmed")
"""A fact is confirmed by its source, or unconfirmed (then the step text must hedge it)."""

HEDGES: tuple[str, ...] = (
    "có thể",
    "nếu",
    "hỏi",
    "chưa xác nhận",
    "chưa kiểm chứng",
    "chưa kiểm tra",
    "chưa chắc",
    "chưa thấy",
    "chưa rõ",
    "thường",
    "tùy",
    "khoảng",
    "theo báo chí",
)
"""Words that hedge a statement; a step supporting an unconfirmed fact must contain one.

A word-presence check: it catches a step that states an unconfirmed fact flatly, not a hedge
placed on the wrong sentence of the step; reviewers still read the step."""

_FACT_FIELDS = frozenset({"claim", "steps", "source", "published", "checked", "status", "note"})


class GuideFormatError(ValueError):
    """A guide file does not follow content/guides/README.md."""

    def __init__(self, path: Path, reason: str, field: str | None = None) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
        self.field = field


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a guide, sent as one chat message."""

    title: str
    text: str


@dataclass(frozen=True, slots=True)
class Fact:
    """One claim of a guide with its provenance (front matter `facts`)."""

    claim: str
    steps: tuple[int, ...]
    """Step numbers the claim supports, from 1; 0 is the introduction."""
    source: str
    published: dt.date | None
    checked: dt.date | None
    status: str
    note: str | None = None

    @property
    def source_date(self) -> dt.date:
        """When the source was published, else when it was last checked (its age counts from here)."""
        date = self.published or self.checked
        assert date is not None  # parse_guide requires one of the two
        return date

    @property
    def confirmed(self) -> bool:
        """True when the source confirms the claim."""
        return self.status == "confirmed"


@dataclass(frozen=True, slots=True)
class Guide:
    """A how-to guide with its metadata and steps."""

    id: str
    title: str
    category: str
    aliases: tuple[str, ...]
    keywords: tuple[str, ...]
    sources: tuple[str, ...]
    verified: dt.date
    applies_to: str | None
    intro: str
    steps: tuple[Step, ...]
    facts: tuple[Fact, ...] = ()
    review_by: dt.date | None = None
    after_urgent_step: int = 1
    """The step shown, without the introduction, right after the urgent first reply
    (front matter `after_urgent_step`): the steps before it say what that reply already said."""

    @property
    def category_label(self) -> str:
        """Vietnamese label of the guide's category."""
        return CATEGORIES[self.category]


class GuideLibrary:
    """All guides of a folder, by id, in file-name order."""

    def __init__(self, guides: list[Guide]) -> None:
        self._guides: dict[str, Guide] = {}
        for guide in guides:
            if guide.id in self._guides:
                raise ValueError(f"duplicate guide id {guide.id!r}")
            self._guides[guide.id] = guide

    @classmethod
    def load(cls, folder: Path) -> GuideLibrary:
        """Parse every `<id>.md` in folder, skipping README.md and files starting with `_`."""
        return cls([parse_guide(p) for p in guide_paths(folder)])

    def get(self, guide_id: str) -> Guide | None:
        """The guide with this id, or None."""
        return self._guides.get(guide_id)

    def all(self) -> tuple[Guide, ...]:
        """Every guide, in file-name order."""
        return tuple(self._guides.values())

    def by_category(self, category: str) -> tuple[Guide, ...]:
        """The guides of one category, in file-name order."""
        return tuple(g for g in self._guides.values() if g.category == category)

    def __len__(self) -> int:
        return len(self._guides)

    def __iter__(self) -> Iterator[Guide]:
        return iter(self._guides.values())

    def __contains__(self, guide_id: object) -> bool:
        return guide_id in self._guides


def guide_paths(folder: Path) -> list[Path]:
    """The guide files of a folder: every `*.md` but README.md and files starting with `_`."""
    return sorted(
        p for p in folder.glob("*.md") if p.name != "README.md" and not p.name.startswith("_")
    )


@dataclass(frozen=True, slots=True)
class GuideStatus:
    """What `check_folder` found about one well-formed guide."""

    guide: Guide
    path: Path
    past_review: bool
    old_facts: tuple[Fact, ...]


@dataclass(frozen=True, slots=True)
class CheckReport:
    """Every guide of a folder checked on one day: malformed files, and what needs review."""

    folder: Path
    today: dt.date
    max_age_days: int
    guides: tuple[GuideStatus, ...]
    errors: tuple[GuideFormatError, ...]

    @property
    def ok(self) -> bool:
        """True when every guide is well formed (guides due for review are not failures)."""
        return not self.errors

    def as_json(self) -> dict[str, Any]:
        """The stable JSON shape printed by `python -m bot guides check --json` (see README)."""
        return {
            "today": self.today.isoformat(),
            "max_age_days": self.max_age_days,
            "ok": self.ok,
            "guides": len(self.guides),
            "malformed": [
                {"file": str(e.path), "field": e.field, "error": e.reason} for e in self.errors
            ],
            "past_review": [
                {"id": s.guide.id, "file": str(s.path), "review_by": _iso(s.guide.review_by)}
                for s in self.guides
                if s.past_review
            ],
            "old_facts": [
                {
                    "id": s.guide.id,
                    "claim": f.claim,
                    "steps": list(f.steps),
                    "source": f.source,
                    "source_date": f.source_date.isoformat(),
                    "age_days": (self.today - f.source_date).days,
                    "status": f.status,
                }
                for s in self.guides
                for f in s.old_facts
            ],
            "unconfirmed": [
                {"id": s.guide.id, "claim": f.claim, "steps": list(f.steps), "source": f.source}
                for s in self.guides
                for f in s.guide.facts
                if not f.confirmed
            ],
        }


def _iso(date: dt.date | None) -> str | None:
    return date.isoformat() if date else None


def check_folder(folder: Path, *, today: dt.date, max_age_days: int) -> CheckReport:
    """Parse every guide strictly (facts and review_by required) and list what needs review:
    guides past `review_by`, and facts whose source date is more than max_age_days old."""
    statuses: list[GuideStatus] = []
    errors: list[GuideFormatError] = []
    oldest = today - dt.timedelta(days=max_age_days)
    for path in guide_paths(folder):
        try:
            guide = parse_guide(path, require_provenance=True)
        except GuideFormatError as error:
            errors.append(error)
            continue
        statuses.append(
            GuideStatus(
                guide=guide,
                path=path,
                past_review=guide.review_by is not None and guide.review_by < today,
                old_facts=tuple(f for f in guide.facts if f.source_date < oldest),
            )
        )
    return CheckReport(folder, today, max_age_days, tuple(statuses), tuple(errors))


def parse_guide(path: Path, *, require_provenance: bool = False) -> Guide:
    """Read one guide file; raise GuideFormatError when it breaks the format.

    `facts` and `review_by` are checked whenever present; with require_provenance (the shipped
    guides, `guides check`) a guide without them is malformed too."""
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GuideFormatError(path, f"cannot read: {exc}") from exc
    match = _FRONT_MATTER.match(raw.lstrip("\ufeff"))
    if match is None:
        raise GuideFormatError(path, "no YAML front matter between '---' lines")
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        raise GuideFormatError(path, f"front matter is not valid YAML: {exc}") from exc
    if not isinstance(meta, dict):
        raise GuideFormatError(path, "front matter is not a mapping")
    intro, steps = _parse_body(path, match.group(2))
    guide_id = _text(path, meta, "id")
    if not _ID.match(guide_id):
        raise GuideFormatError(path, f"id {guide_id!r} is not lower-case words joined by '-'", "id")
    if guide_id != path.stem:
        raise GuideFormatError(path, f"id {guide_id!r} differs from the file name", "id")
    category = _text(path, meta, "category")
    if category not in CATEGORIES:
        raise GuideFormatError(path, f"unknown category {category!r}", "category")
    sources = _strings(path, meta, "sources", required=True)
    for url in sources:
        if not url.startswith("https://"):
            raise GuideFormatError(path, f"source is not an https URL: {url!r}", "sources")
    applies_to = meta.get("applies_to")
    if applies_to is not None and not isinstance(applies_to, str):
        raise GuideFormatError(path, "applies_to must be text", "applies_to")
    verified = _date(path, meta, "verified")
    review_by = _date(path, meta, "review_by") if meta.get("review_by") is not None else None
    if review_by is not None and review_by <= verified:
        raise GuideFormatError(path, "'review_by' must be after 'verified'", "review_by")
    facts = _facts(path, meta, intro, steps, verified)
    after_urgent = meta.get("after_urgent_step", 1)
    if (
        not isinstance(after_urgent, int)
        or isinstance(after_urgent, bool)
        or not 1 <= after_urgent <= len(steps)
    ):
        raise GuideFormatError(
            path,
            f"after_urgent_step must be a step number from 1 to {len(steps)}",
            "after_urgent_step",
        )
    if require_provenance and not facts:
        raise GuideFormatError(path, "'facts' is missing: list each claim with its source", "facts")
    if require_provenance and review_by is None:
        raise GuideFormatError(path, "'review_by' is missing (a date YYYY-MM-DD)", "review_by")
    return Guide(
        id=guide_id,
        title=_text(path, meta, "title"),
        category=category,
        aliases=_strings(path, meta, "aliases", required=True),
        keywords=_strings(path, meta, "keywords", required=False),
        sources=sources,
        verified=verified,
        applies_to=applies_to.strip() if applies_to else None,
        intro=intro,
        steps=steps,
        facts=facts,
        review_by=review_by,
        after_urgent_step=after_urgent,
    )


def _parse_body(path: Path, body: str) -> tuple[str, tuple[Step, ...]]:
    headings = list(_STEP_HEADING.finditer(body))
    if not headings:
        raise GuideFormatError(path, "no '## ' step headings")
    intro = body[: headings[0].start()].strip()
    steps: list[Step] = []
    for i, heading in enumerate(headings):
        end = headings[i + 1].start() if i + 1 < len(headings) else len(body)
        step = Step(title=heading.group(1).strip(), text=body[heading.end() : end].strip())
        if not step.text:
            raise GuideFormatError(path, f"step {step.title!r} has no text")
        if len(step.title) + len(step.text) + 1 >= MAX_STEP_CHARS:
            raise GuideFormatError(path, f"step {step.title!r} is {MAX_STEP_CHARS}+ characters")
        steps.append(step)
    return intro, tuple(steps)


def _facts(
    path: Path, meta: dict[str, Any], intro: str, steps: tuple[Step, ...], verified: dt.date
) -> tuple[Fact, ...]:
    raw = meta.get("facts")
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        raise GuideFormatError(path, "'facts' must be a non-empty list", "facts")
    return tuple(
        _fact(path, f"facts[{i}]", item, intro, steps, verified) for i, item in enumerate(raw)
    )


def _fact(
    path: Path,
    where: str,
    item: object,
    intro: str,
    steps: tuple[Step, ...],
    verified: dt.date,
) -> Fact:
    if not isinstance(item, dict):
        raise GuideFormatError(path, f"'{where}' must be a mapping (claim, steps, source…)", where)
    unknown = sorted(str(k) for k in item if k not in _FACT_FIELDS)
    if unknown:
        raise GuideFormatError(path, f"'{where}' has unknown field(s) {unknown}", where)
    claim = _text(path, item, "claim", where=where)
    numbers = _step_numbers(path, f"{where}.steps", item.get("steps"), intro, steps)
    source = _text(path, item, "source", where=where)
    # A fact cites its source as published; a few official pages exist only over plain http.
    if not source.startswith(("https://", "http://")):
        raise GuideFormatError(
            path, f"'{where}.source' is not a URL: {source!r}", f"{where}.source"
        )
    dates: dict[str, dt.date | None] = {}
    for key in ("published", "checked"):
        dates[key] = _date(path, item, key, where=where) if item.get(key) is not None else None
        date = dates[key]
        if date is not None and date > verified:
            raise GuideFormatError(
                path, f"'{where}.{key}' {date} is after 'verified' {verified}", f"{where}.{key}"
            )
    if dates["published"] is None and dates["checked"] is None:
        raise GuideFormatError(
            path, f"'{where}' needs 'published' or 'checked' (the source's date)", where
        )
    status = item.get("status")
    if status not in FACT_STATUSES:
        raise GuideFormatError(
            path, f"'{where}.status' must be one of {list(FACT_STATUSES)}", f"{where}.status"
        )
    note = item.get("note")
    if note is not None and (not isinstance(note, str) or not note.strip()):
        raise GuideFormatError(path, f"'{where}.note' must be text", f"{where}.note")
    if status == "unconfirmed" and not any(
        _hedged(intro if n == 0 else steps[n - 1].text) for n in numbers
    ):
        raise GuideFormatError(
            path,
            f"'{where}' is unconfirmed but step(s) {list(numbers)} state it without a hedge"
            f" ({', '.join(HEDGES)})",
            f"{where}.status",
        )
    return Fact(
        claim=claim,
        steps=numbers,
        source=source,
        published=dates["published"],
        checked=dates["checked"],
        status=status,
        note=note.strip() if note else None,
    )


def _step_numbers(
    path: Path, where: str, value: object, intro: str, steps: tuple[Step, ...]
) -> tuple[int, ...]:
    items = [value] if isinstance(value, int) else value
    if not isinstance(items, list) or not items:
        raise GuideFormatError(path, f"'{where}' must be a step number or a list of them", where)
    numbers: list[int] = []
    for n in items:
        if not isinstance(n, int) or isinstance(n, bool):
            raise GuideFormatError(path, f"'{where}' holds {n!r}, not a step number", where)
        if n < 0 or n > len(steps) or (n == 0 and not intro):
            raise GuideFormatError(
                path,
                f"'{where}' names step {n}, which does not exist"
                f" (steps 1–{len(steps)}{'; 0 is the introduction' if intro else ''})",
                where,
            )
        numbers.append(n)
    return tuple(numbers)


def _hedged(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in HEDGES)


def _text(path: Path, meta: dict[str, Any], field: str, *, where: str = "") -> str:
    value = meta.get(field)
    name = f"{where}.{field}" if where else field
    if not isinstance(value, str) or not value.strip():
        raise GuideFormatError(path, f"'{name}' is missing or not text", name)
    return value.strip()


def _strings(path: Path, meta: dict[str, Any], field: str, *, required: bool) -> tuple[str, ...]:
    value = meta.get(field)
    if value is None and not required:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise GuideFormatError(path, f"'{field}' must be a non-empty list", field)
    items: list[str] = []
    for item in value:
        if isinstance(item, int | float) and not isinstance(item, bool):
            item = str(item)
        if not isinstance(item, str) or not item.strip():
            raise GuideFormatError(path, f"'{field}' holds an empty or non-text item", field)
        items.append(item.strip())
    return tuple(items)


def _date(path: Path, meta: dict[str, Any], field: str, *, where: str = "") -> dt.date:
    value = meta.get(field)
    name = f"{where}.{field}" if where else field
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise GuideFormatError(path, f"'{name}' must be a date YYYY-MM-DD", name)

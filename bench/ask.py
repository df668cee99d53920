"""Benchmark guide search: dev and holdout figures, printed separately.

Run: python -m bench ask [--errors] [--guides DIR] [--lexicon FILE] [--examples DIR]
                         [--eval FILE ...] [--holdout FILE] [--cv K]

- dev: tests/data/ask_eval.jsonl and tests/data/ask_dev_extra.jsonl (every row, whatever its
  "set" says: all of it has been looked at while building the search);
- holdout: tests/data/ask_holdout.jsonl by default, a frozen set written from personas by
  someone who never saw the guides or the search; no alias, example or rule is written from it.

Each row: {"q": question, "expect": guide id or null, "set", optional "kind" (greeting/thanks),
"persona", "urgent": true/false}. Figures per set: top-1 in scope, top-1 on questions typed
without tone marks, out-of-scope refusal, p50/p95 latency of one answer (search and urgent
check, as the chat does), urgent recall (share of "urgent": true questions flagged) and urgent
false alarms (share of the other questions flagged). The guide search is compared with the
lexical search alone (no examples) and with plain BM25. `--cv K` adds a K-fold
cross-validation over the authored examples (each fold asked of a search built without it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import re
import statistics
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.text import fold
from handlers.guides.classifier import load_examples
from handlers.guides.library import GuideLibrary
from handlers.guides.search import GuideSearch, ask_json, load_lexicon
from handlers.guides.urgent import URGENT_GUIDES, load_rules

ROOT = Path(__file__).resolve().parent.parent
GUIDES = ROOT / "content" / "guides"
DATA = ROOT / "tests" / "data"
DEV = (DATA / "ask_eval.jsonl", DATA / "ask_dev_extra.jsonl")
HOLDOUT = DATA / "ask_holdout.jsonl"

Asker = Callable[[str], tuple[str | None, bool]]
"""A searcher under test: question in, (guide id or None, flagged urgent) out."""


@dataclass(frozen=True, slots=True)
class Case:
    """One evaluation question and the guide it should get (None: no guide)."""

    q: str
    expect: str | None
    kind: str | None = None
    set: str = "dev"
    urgent: bool | None = None
    persona: str | None = None


@dataclass(frozen=True, slots=True)
class Result:
    """Figures for one searcher over one set of questions."""

    name: str
    in_scope: int
    top1: float
    top1_plain: float
    out_scope: int
    refused: float
    p50_ms: float
    p95_ms: float
    urgent: int
    urgent_recall: float
    calm: int
    false_alarms: float
    misses: tuple[tuple[Case, str | None], ...]
    urgent_misses: tuple[Case, ...]


def load_cases(path: Path) -> list[Case]:
    """Read a JSON-lines evaluation set."""
    cases = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            cases.append(
                Case(
                    row["q"],
                    row["expect"],
                    row.get("kind"),
                    row.get("set", "dev"),
                    row.get("urgent"),
                    row.get("persona"),
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise SystemExit(f"{path}:{number}: not a question row ({exc})") from exc
    return cases


def _plain(text: str) -> bool:
    return fold(text) == " ".join(text.lower().split())


def evaluate(name: str, ask: Asker, cases: Sequence[Case], passes: int = 3) -> Result:
    """Top-1 accuracy in scope, refusal out of scope, urgent flags, per-question latency."""
    for case in cases:  # warm-up
        ask(case.q)
    times: list[float] = []
    got: dict[str, tuple[str | None, bool]] = {}
    for _ in range(passes):
        for case in cases:
            start = time.perf_counter()
            got[case.q] = ask(case.q)
            times.append((time.perf_counter() - start) * 1000)
    questions = [c for c in cases if not c.kind]
    inside = [c for c in questions if c.expect is not None]
    outside = [c for c in questions if c.expect is None]
    plain = [c for c in inside if _plain(c.q)]
    urgent = [c for c in questions if c.urgent]
    calm = [c for c in questions if not c.urgent]
    quantiles = statistics.quantiles(times, n=100) if len(times) > 1 else times * 100
    return Result(
        name=name,
        in_scope=len(inside),
        top1=_share(got[c.q][0] == c.expect for c in inside),
        top1_plain=_share(got[c.q][0] == c.expect for c in plain),
        out_scope=len(outside),
        refused=_share(got[c.q][0] is None for c in outside),
        p50_ms=statistics.median(times) if times else 0.0,
        p95_ms=quantiles[94],
        urgent=len(urgent),
        urgent_recall=_share(got[c.q][1] for c in urgent),
        calm=len(calm),
        false_alarms=_share(got[c.q][1] for c in calm),
        misses=tuple((c, got[c.q][0]) for c in inside + outside if got[c.q][0] != c.expect),
        urgent_misses=tuple(c for c in urgent if not got[c.q][1]),
    )


def _share(hits: Iterable[bool]) -> float:
    values = list(hits)
    return 100.0 * sum(values) / len(values) if values else float("nan")


class Bm25Baseline:
    """bm25s over each guide's title, aliases, keywords and text, folded, with a threshold."""

    def __init__(self, library: GuideLibrary) -> None:
        import bm25s

        self._ids = [g.id for g in library.all()]
        corpus = []
        for g in library.all():
            parts = [g.title, *g.aliases, *g.keywords, g.intro]
            parts += [f"{s.title} {s.text}" for s in g.steps]
            corpus.append(self.tokens(" ".join(parts)))
        self._bm25 = bm25s.BM25()
        self._bm25.index(corpus, show_progress=False)
        self.threshold = 0.0

    @staticmethod
    def tokens(text: str) -> list[str]:
        """Folded words."""
        return re.findall(r"\w+", fold(text))

    def score(self, text: str) -> tuple[str | None, float]:
        """Best guide and its BM25 score."""
        words = [w for w in self.tokens(text) if w]
        if not words:
            return None, 0.0
        scores = self._bm25.get_scores(words)
        best = int(scores.argmax())
        return self._ids[best], float(scores[best])

    def ask(self, text: str) -> tuple[str | None, bool]:
        """Best guide, or None below the threshold (never flags urgent)."""
        guide, score = self.score(text)
        return (guide if score >= self.threshold else None), False

    def tune(self, cases: Sequence[Case]) -> None:
        """Pick the threshold that maximises the mean of in-scope and refusal rates."""
        scored = [(c, *self.score(c.q)) for c in cases if not c.kind]
        best = (-1.0, 0.0)
        for threshold in sorted({s for _, _, s in scored} | {0.0}):
            inside = [g == c.expect and s >= threshold for c, g, s in scored if c.expect]
            outside = [s < threshold for c, _, s in scored if c.expect is None]
            mean = (_share(inside) + _share(outside)) / 2
            if mean > best[0]:
                best = (mean, threshold)
        self.threshold = best[1]


def build(
    guides: Path = GUIDES, lexicon: Path | None = None, examples: Path | None = None
) -> tuple[GuideLibrary, GuideSearch]:
    """Load the library and build the search as the bot does."""
    library = GuideLibrary.load(guides)
    search = GuideSearch(
        library,
        load_lexicon(lexicon or guides / "_lexicon.yaml"),
        examples=load_examples(examples or guides / "_examples"),
        urgent_rules=load_rules(guides / "_urgent.yaml"),
    )
    return library, search


def _asker(search: GuideSearch) -> Asker:
    def ask(question: str) -> tuple[str | None, bool]:
        answer = ask_json(search, question)
        return answer["guide_id"], answer["urgent"] is not None

    return ask


def cross_validate(
    library: GuideLibrary, lexicon: Path, examples: Path, rules: Path, folds: int
) -> Result:
    """k-fold cross-validation over the authored examples: each fold's examples are asked of
    a search that learnt from the other folds only (an estimate for questions never seen)."""
    items = load_examples(examples)
    items = [e for e in items if e.guide_id is None or e.guide_id in library]
    order = sorted(range(len(items)), key=lambda i: (zlib.crc32(items[i].text.encode()), i))
    parts = [order[k::folds] for k in range(folds)]
    results = []
    for part in parts:
        held = set(part)
        search = GuideSearch(
            library,
            load_lexicon(lexicon),
            examples=[e for i, e in enumerate(items) if i not in held],
            urgent_rules=load_rules(rules),
        )
        cases = [
            Case(items[i].text, items[i].guide_id, urgent=items[i].guide_id in URGENT_GUIDES)
            for i in part
        ]
        results.append(evaluate("cv", _asker(search), cases, passes=1))

    def pooled(value: Callable[[Result], float], weight: Callable[[Result], int]) -> float:
        total = sum(weight(r) for r in results)
        return sum(value(r) * weight(r) for r in results if weight(r)) / total if total else 0.0

    return Result(
        name=f"{folds}-fold CV on examples",
        in_scope=sum(r.in_scope for r in results),
        top1=pooled(lambda r: r.top1, lambda r: r.in_scope),
        top1_plain=float("nan"),
        out_scope=sum(r.out_scope for r in results),
        refused=pooled(lambda r: r.refused, lambda r: r.out_scope),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p95_ms=max(r.p95_ms for r in results),
        urgent=sum(r.urgent for r in results),
        urgent_recall=pooled(lambda r: r.urgent_recall, lambda r: r.urgent),
        calm=sum(r.calm for r in results),
        false_alarms=pooled(lambda r: r.false_alarms, lambda r: r.calm),
        misses=tuple(m for r in results for m in r.misses),
        urgent_misses=tuple(m for r in results for m in r.urgent_misses),
    )


def _row(r: Result) -> str:
    return (
        f"{r.name:30} {r.top1:6.1f}% {r.top1_plain:8.1f}% {r.refused:7.1f}%"
        f" {r.p50_ms:7.2f} {r.p95_ms:7.2f} {r.urgent_recall:7.1f}% {r.false_alarms:7.1f}%"
    )


def main(argv: list[str] | None = None) -> int:
    """Print dev and holdout figures for the search, the lexical search alone and BM25."""
    parser = argparse.ArgumentParser(prog="python -m bench ask", description=__doc__)
    parser.add_argument("--guides", type=Path, default=GUIDES)
    parser.add_argument("--lexicon", type=Path, help="default: GUIDES/_lexicon.yaml")
    parser.add_argument("--examples", type=Path, help="default: GUIDES/_examples")
    parser.add_argument(
        "--eval",
        type=Path,
        action="append",
        help="dev set (repeatable; default: the two dev files)",
    )
    parser.add_argument("--holdout", type=Path, default=HOLDOUT, help="frozen holdout set")
    parser.add_argument("--errors", action="store_true", help="list every wrong answer (dev)")
    parser.add_argument(
        "--cv", type=int, metavar="K", help="also K-fold cross-validate over the examples"
    )
    args = parser.parse_args(argv)

    start = time.perf_counter()
    library, search = build(args.guides, args.lexicon, args.examples)
    search.wait_ready()
    built_ms = (time.perf_counter() - start) * 1000
    lexical = GuideSearch(library, load_lexicon(args.lexicon or args.guides / "_lexicon.yaml"))

    sets: dict[str, list[Case]] = {"dev": []}
    for path in args.eval or [p for p in DEV if p.exists()]:
        sets["dev"] += load_cases(path)
    if args.holdout.exists():
        sets["holdout"] = load_cases(args.holdout)
    for name, cases in sets.items():
        missing = sorted({c.expect for c in cases if c.expect and c.expect not in library})
        if missing:
            print(f"{name}: skipping questions for guides not in the library: {', '.join(missing)}")
            sets[name] = [c for c in cases if c.expect is None or c.expect in library]

    print(
        f"ask benchmark {dt.date.today().isoformat()} on {platform.node()}"
        f" ({platform.machine()}, Python {platform.python_version()}):"
        f" {len(library)} guides, search built in {built_ms:.0f} ms"
    )
    if "holdout" not in sets:
        print(f"holdout set missing: {args.holdout} (dev figures only)")
    header = (
        f"{'':30} {'top-1':>7} {'no-marks':>9} {'refused':>8} {'p50 ms':>7} {'p95 ms':>7}"
        f" {'urgent':>8} {'alarms':>8}"
    )
    ours: dict[str, Result] = {}
    for name, cases in sets.items():
        baseline = Bm25Baseline(library)
        baseline.tune(cases)  # BM25's threshold is fitted on the set itself: a ceiling for it
        results = [
            evaluate("guide search", _asker(search), cases),
            evaluate("lexical search alone", _asker(lexical), cases, passes=1),
            evaluate(f"BM25 (threshold {baseline.threshold:.2f})", baseline.ask, cases, passes=1),
        ]
        ours[name] = results[0]
        first = results[0]
        print(
            f"\n{name}: {first.in_scope} in scope, {first.out_scope} out of scope,"
            f" {first.urgent} urgent, {first.calm} not urgent"
        )
        print(header)
        for r in results:
            print(_row(r))
        social = [c for c in cases if c.kind]
        if social:
            right = sum(search.ask(c.q).kind == c.kind for c in social)
            print(f"greetings and thanks recognised: {right}/{len(social)}")
    if args.cv:
        cv = cross_validate(
            library,
            args.lexicon or args.guides / "_lexicon.yaml",
            args.examples or args.guides / "_examples",
            args.guides / "_urgent.yaml",
            args.cv,
        )
        print(
            f"\nauthored examples, {args.cv}-fold cross-validation: {cv.in_scope} in scope,"
            f" {cv.out_scope} out of scope, {cv.urgent} from urgent guides"
        )
        print(header)
        print(_row(cv))
        if args.errors:
            for case, got in cv.misses:
                print(f"  want {case.expect or '-':24} got {got or '-':24} {case.q}")
    if args.errors:
        print("\ndev errors (want, got, score, alternatives, question):")
        for case, got in ours["dev"].misses:
            answer = search.ask(case.q)
            print(
                f"  want {case.expect or '-':24} got {got or '-':24}"
                f" {answer.score:.2f} {','.join(answer.alternatives):30} {case.q}"
            )
        for case in ours["dev"].urgent_misses:
            print(f"  urgent not flagged: {case.q}")
    return 0

"""Benchmark guide search on tests/data/ask_eval.jsonl against a plain BM25 baseline.

Run: python -m bench ask [--errors] [--guides DIR] [--lexicon FILE] [--eval FILE]

The evaluation set has two parts: "dev" questions, written before the search existed and used
to tune it, and "holdout" questions, written later and never tuned on; both are reported.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.text import fold
from handlers.guides.library import GuideLibrary
from handlers.guides.search import GuideSearch, ask_json, load_lexicon

ROOT = Path(__file__).resolve().parent.parent
GUIDES = ROOT / "content" / "guides"
LEXICON = GUIDES / "_lexicon.yaml"
EVAL = ROOT / "tests" / "data" / "ask_eval.jsonl"

Asker = Callable[[str], str | None]
"""A searcher under test: question in, guide id (or None for no guide) out."""


@dataclass(frozen=True, slots=True)
class Case:
    """One evaluation question and the guide it should get (None: no guide)."""

    q: str
    expect: str | None
    kind: str | None = None
    set: str = "dev"


@dataclass(frozen=True, slots=True)
class Result:
    """Figures for one searcher over the evaluation set."""

    name: str
    in_scope: int
    top1: float
    top1_plain: float
    out_scope: int
    refused: float
    p50_ms: float
    p95_ms: float
    misses: tuple[tuple[Case, str | None], ...]


def load_cases(path: Path = EVAL) -> list[Case]:
    """Read the JSON-lines evaluation set."""
    cases = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            cases.append(Case(row["q"], row["expect"], row.get("kind"), row.get("set", "dev")))
    return cases


def _plain(text: str) -> bool:
    return fold(text) == " ".join(text.lower().split())


def evaluate(name: str, ask: Asker, cases: Sequence[Case], passes: int = 3) -> Result:
    """Top-1 accuracy in scope, refusal out of scope, and per-question latency."""
    for case in cases:  # warm-up
        ask(case.q)
    times: list[float] = []
    got: dict[str, str | None] = {}
    for _ in range(passes):
        for case in cases:
            start = time.perf_counter()
            got[case.q] = ask(case.q)
            times.append((time.perf_counter() - start) * 1000)
    inside = [c for c in cases if c.expect is not None]
    outside = [c for c in cases if c.expect is None and not c.kind]
    plain = [c for c in inside if _plain(c.q)]
    quantiles = statistics.quantiles(times, n=100)
    return Result(
        name=name,
        in_scope=len(inside),
        top1=_share(got[c.q] == c.expect for c in inside),
        top1_plain=_share(got[c.q] == c.expect for c in plain),
        out_scope=len(outside),
        refused=_share(got[c.q] is None for c in outside),
        p50_ms=statistics.median(times),
        p95_ms=quantiles[94],
        misses=tuple((c, got[c.q]) for c in cases if got[c.q] != c.expect),
    )


def _share(hits: Iterable[bool]) -> float:
    values = list(hits)
    return 100.0 * sum(values) / len(values) if values else 0.0


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

    def ask(self, text: str) -> str | None:
        """Best guide, or None below the threshold."""
        guide, score = self.score(text)
        return guide if score >= self.threshold else None

    def tune(self, cases: Sequence[Case]) -> None:
        """Pick the threshold that maximises the mean of in-scope and refusal rates."""
        scored = [(c, *self.score(c.q)) for c in cases]
        best = (-1.0, 0.0)
        for threshold in sorted({s for _, _, s in scored} | {0.0}):
            inside = [g == c.expect and s >= threshold for c, g, s in scored if c.expect]
            outside = [s < threshold for c, _, s in scored if c.expect is None and not c.kind]
            mean = (_share(inside) + _share(outside)) / 2
            if mean > best[0]:
                best = (mean, threshold)
        self.threshold = best[1]


def build(guides: Path = GUIDES, lexicon: Path = LEXICON) -> tuple[GuideLibrary, GuideSearch]:
    """Load the library and build the search as the bot does."""
    library = GuideLibrary.load(guides)
    return library, GuideSearch(library, load_lexicon(lexicon))


def main(argv: list[str] | None = None) -> int:
    """Print accuracy, refusal and latency for the search and for plain BM25."""
    parser = argparse.ArgumentParser(prog="python -m bench ask", description=__doc__)
    parser.add_argument("--guides", type=Path, default=GUIDES)
    parser.add_argument("--lexicon", type=Path, default=LEXICON)
    parser.add_argument("--eval", type=Path, default=EVAL)
    parser.add_argument("--errors", action="store_true", help="list every wrong answer")
    args = parser.parse_args(argv)

    library, search = build(args.guides, args.lexicon)
    cases = load_cases(args.eval)
    missing = sorted({c.expect for c in cases if c.expect and c.expect not in library})
    if missing:
        print(f"skipping questions for guides not in the library: {', '.join(missing)}")
        cases = [c for c in cases if c.expect is None or c.expect in library]

    ours = evaluate("guide search", lambda q: ask_json(search, q)["guide_id"], cases)
    baseline = Bm25Baseline(library)
    baseline.tune(cases)
    plain = evaluate(f"BM25 (threshold {baseline.threshold:.2f})", baseline.ask, cases)

    print(
        f"ask benchmark {dt.date.today().isoformat()}: {len(library)} guides, {len(cases)} questions"
    )
    print(f"{'':34} {'top-1':>7} {'no-marks':>9} {'refused':>8} {'p50 ms':>7} {'p95 ms':>7}")
    for r in (ours, plain):
        print(
            f"{r.name:34} {r.top1:6.1f}% {r.top1_plain:8.1f}% {r.refused:7.1f}%"
            f" {r.p50_ms:7.2f} {r.p95_ms:7.2f}"
        )
    print(f"(in scope: {ours.in_scope} questions; out of scope: {ours.out_scope})")
    sets = sorted({c.set for c in cases})
    if len(sets) > 1:
        for name in sets:
            part = evaluate(
                name,
                lambda q: ask_json(search, q)["guide_id"],
                [c for c in cases if c.set == name],
                passes=1,
            )
            print(
                f"  guide search on {name!r} questions: top-1 {part.top1:.1f}% of {part.in_scope},"
                f" refused {part.refused:.1f}% of {part.out_scope}"
            )
    social = [c for c in cases if c.kind]
    if social:
        right = sum(search.ask(c.q).kind == c.kind for c in social)
        print(f"greetings and thanks recognised: {right}/{len(social)}")
    if args.errors:
        for case, got in ours.misses:
            answer = search.ask(case.q)
            print(
                f"  want {case.expect or '-':24} got {got or '-':24}"
                f" {answer.score:.2f} {','.join(answer.alternatives):30} {case.q}"
            )
    return 0

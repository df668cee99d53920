"""A classifier that learns from the example questions authored for each guide.

Example questions live in content/guides/_examples/<guide id>.yaml (and `_none.yaml` for
questions no guide answers). At start-up they are read, normalised the way the lexical search
reads a message (folded, dialect and chat abbreviations expanded, phrase synonyms rewritten)
and used to fit character n-gram and word TF-IDF features with a logistic regression
(scikit-learn). Character n-grams carry typos, missing tone marks and words run together;
words and pairs of words carry meaning. The class "none" is learnt from `_none.yaml`.

Errors:
    ExamplesError -- an examples file is malformed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

NONE = "-"
"""The label of questions no guide answers."""


class ExamplesError(ValueError):
    """An examples file does not follow content/guides/_examples/README.md."""


@dataclass(frozen=True, slots=True)
class Example:
    """One authored question and the guide it belongs to (None: no guide)."""

    text: str
    guide_id: str | None


def load_examples(folder: Path) -> list[Example]:
    """Every example in folder's *.yaml files, in file-name order; [] if there is no folder."""
    if not folder.is_dir():
        return []
    examples: list[Example] = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ExamplesError(f"{path}: {exc}") from exc
        if not isinstance(data, dict) or "guide" not in data:
            raise ExamplesError(f"{path}: needs 'guide:' (an id, or null) and 'examples:'")
        guide = data["guide"]
        if guide is not None and not isinstance(guide, str):
            raise ExamplesError(f"{path}: 'guide' must be a guide id or null")
        items = data.get("examples") or []
        if not isinstance(items, list):
            raise ExamplesError(f"{path}: 'examples' must be a list of questions")
        for item in items:
            text = _question(item)
            if text is None:
                raise ExamplesError(f"{path}: not a question: {item!r}")
            if text:
                examples.append(Example(text, guide))
    return examples


def _question(item: object) -> str | None:
    """An examples entry as text; "gấp: ..." (read by YAML as a mapping) is put back together."""
    if isinstance(item, str | int | float):
        return str(item).strip()
    if isinstance(item, dict) and len(item) == 1:
        key, value = next(iter(item.items()))
        if isinstance(key, str) and isinstance(value, str):
            return f"{key}: {value}".strip()
    return None


class ExampleClassifier:
    """Probabilities over guide ids (and NONE) for a question."""

    def __init__(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        normalise: Callable[[str], str],
        *,
        c: float = 8.0,
    ) -> None:
        """Learn from texts (raw questions) and labels (guide ids or NONE).

        The fit happens on the first question (about a second, more on a busy machine), so a
        process starts without it and one that never answers a question never loads
        scikit-learn; `wait` fits at once. A model fitted on the same normalised texts and
        labels is reused (a process that builds the search several times fits it once).
        """
        self._normalise = normalise
        self.labels: tuple[str, ...] = ()
        self._parts: list[tuple[Callable[[str], list[str]], dict[str, int], Any, int]] = []
        self._weights: Any = None
        self._bias: Any = None
        self._last: tuple[str, dict[str, float]] | None = None
        self._pending: tuple[tuple[str, ...], tuple[str, ...], float] | None = (
            tuple(texts),
            tuple(labels),
            c,
        )

    def wait(self) -> None:
        """Fit the model now if it is not fitted yet."""
        with _LOCK:
            if self._pending is not None:
                self._build(*self._pending)
                self._pending = None

    def _build(self, texts: tuple[str, ...], labels: tuple[str, ...], c: float) -> None:
        docs = tuple(self._normalise(t) for t in texts)
        key = (docs, labels, c)
        fitted = _FITTED.get(key)
        if fitted is None:
            fitted = _fit(docs, labels, c)
            _FITTED.clear()  # keep one model: content changes only between runs
            _FITTED[key] = fitted
        chars, words, model = fitted
        # Scoring one question repeats the fitted vectorisers' and model's arithmetic (sublinear
        # tf times idf, L2-normalised per vectoriser; a softmax over linear scores) without
        # scikit-learn's per-call input checks, which cost milliseconds a question.
        offset = 0
        for vectoriser in (chars, words):
            vocabulary = {str(k): int(v) for k, v in vectoriser.vocabulary_.items()}
            analyse = vectoriser.build_analyzer()
            self._parts.append((analyse, vocabulary, vectoriser.idf_, offset))
            offset += len(vocabulary)
        self._weights = np.ascontiguousarray(model.coef_.T)
        self._bias = model.intercept_
        self.labels = tuple(str(x) for x in model.classes_)

    def _scores(self, doc: str) -> Any:
        """Linear scores of the model for one normalised question."""
        scores = self._bias.copy()
        for analyse, vocabulary, idf, offset in self._parts:
            counts: dict[int, int] = {}
            for gram in analyse(doc):
                index = vocabulary.get(gram)
                if index is not None:
                    counts[index] = counts.get(index, 0) + 1
            if not counts:
                continue
            indices = np.fromiter(counts, dtype=np.int64, count=len(counts))
            values = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64))) * idf[indices]
            values /= np.sqrt(values @ values)
            scores = scores + values @ self._weights[indices + offset]
        return scores

    def probabilities(self, text: str) -> dict[str, float]:
        """Label -> probability for one question (the last answer is kept for a repeat)."""
        if self._last is not None and self._last[0] == text:
            return self._last[1]
        if self._pending is not None:
            self.wait()
        scores = self._scores(self._normalise(text))
        scores = np.exp(scores - scores.max())
        row = scores / scores.sum()
        result = dict(zip(self.labels, (float(p) for p in row), strict=True))
        self._last = (text, result)
        return result


_Fitted = tuple[Any, Any, Any]
"""The character and word vectorisers and the logistic regression, fitted."""
_FITTED: dict[tuple[tuple[str, ...], tuple[str, ...], float], _Fitted] = {}
_LOCK = threading.Lock()
"""One fit at a time (several threads may ask at once)."""


def _fit(docs: Sequence[str], labels: Sequence[str], c: float) -> _Fitted:
    # imported here: a process that never answers a question does not load scikit-learn
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    chars = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, dtype=np.float32
    )
    words = TfidfVectorizer(
        analyzer="word",
        ngram_range=(1, 2),
        sublinear_tf=True,
        token_pattern=r"\S+",
        dtype=np.float32,
    )
    features = hstack([chars.fit_transform(docs), words.fit_transform(docs)])
    model = LogisticRegression(C=c, max_iter=2000)
    with threadpool_limits(1):  # a small problem: threads only contend (5 s against 1 s here)
        model.fit(features, list(labels))
    return chars, words, model

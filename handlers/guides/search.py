"""Find the guide that answers a resident's question, typed the way residents type.

Built once at start-up (`GuideSearch(library, lexicon)`); `ask` is pure and takes well under a
millisecond per question. How a message is read:

1. It is split into sentences; in a long message the sentences that look like the question
   weigh more than the story around them.
2. Each word is lower-cased and folded (no tone marks, đ -> d) with its written form kept beside
   it. Central Vietnamese words (răng, mô, rứa...) are mapped while their marks are still there,
   chat abbreviations (ko, dc, mk, sdt...) expanded and phrase synonyms ("app bộ công an" ->
   "vneid") rewritten, all from the lexicon. Guides go through the same steps, so both meet.
3. A message made only of greetings or thanks is answered as such. Otherwise stop words go and
   the remaining words, and pairs of neighbouring words, are the search terms. A word unknown to
   the guides is mended when it is words run together ("cquangngai") or one edit away from a
   known word that fits its neighbours ("chuyen khoang" -> "chuyen khoan").
4. Each guide gets two scores: BM25F over its fields (title, aliases, keywords, intro, steps),
   and the cosine between the question and its nearest title or alias. A word typed with tone
   marks counts fully only where the guide spells it the same way ("giá" is not "giả"); typed
   without marks it matches every spelling.
5. Guides are ranked on the mean of the two scores. Confidence is the better of the two for the
   best guide, where words the guides never use count against it; below a threshold the answer
   is "none". Guides scoring close to the best are offered as choices.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from core.text import strip_diacritics
from handlers.guides.classifier import NONE, Example, ExampleClassifier, load_examples
from handlers.guides.library import Guide, GuideLibrary
from handlers.guides.urgent import UrgentDetector, load_rules

AnswerKind = Literal["guide", "choices", "none", "greeting", "thanks"]


class LexiconError(ValueError):
    """The search vocabulary file is malformed."""


@dataclass(frozen=True, slots=True)
class Answer:
    """What the search makes of one message.

    kind: "guide" (one clear answer), "choices" (guide_id is the best, alternatives are close
    runners-up), "none" (no guide fits), "greeting" or "thanks" (not a question).
    score: confidence from 0 to 1 (1.0 for greetings and thanks).
    """

    kind: AnswerKind
    guide_id: str | None
    score: float
    alternatives: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Tuning:
    """Scoring constants (measured with bench/ask.py on tests/data/ask_eval.jsonl)."""

    field_weights: Mapping[str, float] = field(
        default_factory=lambda: {
            "title": 2.5,
            "aliases": 4.0,
            "keywords": 2.0,
            "intro": 0.8,
            "steps": 0.6,
        }
    )
    field_b: float = 0.3
    k1: float = 1.2
    bigram_weight: float = 1.0
    story_weight: float = 0.6
    body_df_share: float = 0.3
    accent_mismatch: float = 0.35
    fuzzy_factor: float = 0.75
    ceiling_floor: float = 5.0
    unknown_pair_weight: float = 0.3
    alias_weight: float = 1.0
    min_confidence: float = 0.34
    close_ratio: float = 0.8
    max_alternatives: int = 2
    # with authored examples (the hybrid): weight of the classifier against the lexical
    # score, the least combined score that is an answer, the most "no guide" probability
    # that still is one, and the classifier's regularisation (chosen on the dev set, 5-fold
    # cross-validation and fresh authored sets, never on the holdout: README "Guide search")
    learnt_weight: float = 0.7
    min_combined: float = 0.25
    max_none: float = 0.4
    classifier_c: float = 8.0
    # an answer below this score is "low confidence" for content editors (/cauhoi, questions)
    low_confidence: float = 0.5


Token = tuple[str, str | None]
"""A word as (folded form, written form); the written form is None when typed without marks."""

_WORD = re.compile(r"\d+|[^\W\d_]+")
_SENTENCE = re.compile(r"(\.+(?=\s|$)|[!?;\n]+)")
"""Sentence ends; a dot inside a word (dichvucong.gov.vn, 1.000) is not one."""
_SYLLABLE = re.compile(
    r"(?:ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|[bcdghklmnpqrstvx])?"
    r"(?:[aeiouy]{1,3})(?:ng|nh|ch|[cmnpt])?"
)
"""A folded Vietnamese syllable."""


def load_lexicon(path: Path) -> dict[str, Any]:
    """Read the search vocabulary (content/guides/_lexicon.yaml)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise LexiconError(f"{path}: {exc}") from exc
    if not isinstance(data, dict):
        raise LexiconError(f"{path}: not a mapping")
    return data


def _is_plain(word: str) -> bool:
    """True when a word carries no tone or vowel marks (đ allowed)."""
    bare = word.replace("đ", "d")
    return bare.isascii() or strip_diacritics(bare) == bare


class _Analyzer:
    """Turns text into clauses of (folded, written) tokens using the lexicon."""

    def __init__(self, lexicon: Mapping[str, Any]) -> None:
        self.dialect: dict[str, list[Token]] = {
            _nfc_lower(k): self._raw_tokens(str(v)) for k, v in _mapping(lexicon, "dialect").items()
        }
        self.abbreviations: dict[str, list[Token]] = {}
        for key, value in _mapping(lexicon, "abbreviations").items():
            self.abbreviations[strip_diacritics(_nfc_lower(str(key)))] = self._raw_tokens(
                str(value)
            )
        # folded phrase -> [(spelling of each word, or None when written without marks; target)]
        self.synonyms: dict[tuple[str, ...], list[tuple[tuple[str | None, ...], list[Token]]]]
        self.synonyms = defaultdict(list)
        for key, value in _mapping(lexicon, "synonyms").items():
            source = self._expand(self._raw_tokens(str(key)), synonyms=False)
            target = self._expand(self._raw_tokens(str(value)), synonyms=False)
            if source:
                folds = tuple(f for f, _ in source)
                spelled = tuple(None if w == f else w for f, w in source)
                self.synonyms[folds].append((spelled, target))
        self.max_phrase = max((len(k) for k in self.synonyms), default=1)
        self.stop_forms: set[str] = set()
        self.stop_bare: set[str] = set()
        for word in _list(lexicon, "stop_words"):
            word = _nfc_lower(str(word))
            self.stop_forms.add(word)
            if _is_plain(word):
                self.stop_bare.add(strip_diacritics(word))
        self.weak: dict[tuple[str, ...], float] = {}
        for key, value in _mapping(lexicon, "weak_words").items():
            phrase = tuple(f for f, _ in self._expand(self._raw_tokens(str(key))))
            try:
                self.weak[phrase] = float(value)
            except (TypeError, ValueError) as exc:
                raise LexiconError(f"weak_words {key!r}: not a number") from exc
        self.question_words = self._phrases(_list(lexicon, "question_words"))
        self.greetings = self._phrases(_list(lexicon, "greetings"))
        self.thanks = self._phrases(_list(lexicon, "thanks"))

    def _phrases(self, items: Iterable[object]) -> set[tuple[str, ...]]:
        return {
            tuple(f for f, _ in self._expand(self._raw_tokens(str(p)), synonyms=False))
            for p in items
        }

    @staticmethod
    def _raw_tokens(text: str) -> list[Token]:
        return [(strip_diacritics(w), w) for w in _WORD.findall(_nfc_lower(text))]

    def _expand(self, tokens: list[Token], *, synonyms: bool = True) -> list[Token]:
        out: list[Token] = []
        for fold, form in tokens:
            raw = form if form is not None else fold
            if raw in self.dialect:
                out.extend(self.dialect[raw])
            elif fold in self.abbreviations and _is_plain(raw):
                out.extend(self.abbreviations[fold])
            else:
                out.append((fold, form))
        out = [_y_to_i(t) for t in out]
        if synonyms:
            for _ in range(2):  # a second pass lets rules build on each other
                out = self._rewrite(out)
        return out

    def _rewrite(self, tokens: list[Token]) -> list[Token]:
        out: list[Token] = []
        i = 0
        while i < len(tokens):
            for n in range(min(self.max_phrase, len(tokens) - i), 0, -1):
                span = tokens[i : i + n]
                target = self._synonym(span)
                if target is not None:
                    out.extend(target)
                    i += n
                    break
            else:
                out.append(tokens[i])
                i += 1
        return out

    def _synonym(self, span: list[Token]) -> list[Token] | None:
        """The replacement for span, if a synonym matches it.

        A phrase of two or more words matches however it is spelled ("chứ ký số", "dau
        phong"); a single word written with marks only matches that spelling ("tỏi", garlic,
        is not "tôi" or "toi", I).
        """
        for spelled, target in self.synonyms.get(tuple(f for f, _ in span), ()):
            if len(span) > 1 or spelled[0] is None or span[0][1] == spelled[0]:
                return target
        return None

    def words(self, text: str, *, typed: bool) -> list[Token]:
        """Tokens of text; when typed, words without marks get no written form."""
        tokens: list[Token] = []
        for word in _WORD.findall(_nfc_lower(text)):
            fold = strip_diacritics(word)
            written = None if typed and fold == word else word
            tokens.append((fold, written))
        return self._expand(tokens)

    def clauses(self, text: str, *, typed: bool) -> list[tuple[list[Token], bool]]:
        """Sentences of text as (tokens with stop words, ends with a question mark)."""
        parts = _SENTENCE.split(text)
        out: list[tuple[list[Token], bool]] = []
        for i in range(0, len(parts), 2):
            tokens = self.words(parts[i], typed=typed)
            if tokens:
                ends = parts[i + 1] if i + 1 < len(parts) else ""
                out.append((tokens, "?" in ends))
        return out

    def weaken(
        self, words: list[tuple[str, str | None, float]]
    ) -> list[tuple[str, str | None, float]]:
        """Words with the weight of place names and the like lowered."""
        out = list(words)
        for phrase, factor in self.weak.items():
            n = len(phrase)
            for i in range(len(out) - n + 1):
                if tuple(w[0] for w in out[i : i + n]) == phrase:
                    for j in range(i, i + n):
                        fold, written, weight = out[j]
                        out[j] = (fold, written, weight * factor)
        return out

    def is_stop(self, token: Token) -> bool:
        """True for words that carry no meaning for search."""
        fold, form = token
        if form is not None:
            return form in self.stop_forms
        return fold in self.stop_bare

    def content(self, tokens: Sequence[Token]) -> list[Token]:
        """Tokens without stop words."""
        return [t for t in tokens if not self.is_stop(t)]

    def has_phrase(self, tokens: Sequence[Token], phrases: set[tuple[str, ...]]) -> bool:
        """True when any of phrases occurs in tokens (folded)."""
        folds = [f for f, _ in tokens]
        for phrase in phrases:
            n = len(phrase)
            if any(tuple(folds[i : i + n]) == phrase for i in range(len(folds) - n + 1)):
                return True
        return False

    def strip_phrases(self, tokens: Sequence[Token], phrases: set[tuple[str, ...]]) -> list[Token]:
        """Tokens with every occurrence of phrases removed (longest first)."""
        longest = max((len(p) for p in phrases), default=0)
        out: list[Token] = []
        i = 0
        while i < len(tokens):
            for n in range(min(longest, len(tokens) - i), 0, -1):
                if tuple(f for f, _ in tokens[i : i + n]) in phrases:
                    i += n
                    break
            else:
                out.append(tokens[i])
                i += 1
        return out


_CONSONANT_Y = re.compile(r"(?:b|c|ch|d|g|gh|h|k|kh|l|m|n|nh|p|ph|qu|r|s|t|th|tr|v|x)y")
_Y_MARKS = str.maketrans("yýỳỷỹỵ", "iíìỉĩị")


def _y_to_i(token: Token) -> Token:
    """Spell a final y after a consonant as i, as many people do: ký/kí, lý/lí, mỹ/mĩ."""
    fold, written = token
    if not _CONSONANT_Y.fullmatch(fold):
        return token
    return fold[:-1] + "i", written.translate(_Y_MARKS) if written else None


def _nfc_lower(text: str) -> str:
    return unicodedata.normalize("NFC", text).lower()


def _mapping(lexicon: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = lexicon.get(key) or {}
    if not isinstance(value, Mapping):
        raise LexiconError(f"lexicon '{key}' must be a mapping")
    return value


def _list(lexicon: Mapping[str, Any], key: str) -> list[object]:
    value = lexicon.get(key) or []
    if not isinstance(value, list):
        raise LexiconError(f"lexicon '{key}' must be a list")
    return value


@dataclass(frozen=True, slots=True)
class _Term:
    """One query term: a word or a pair of neighbouring words, folded and as written."""

    fold: str
    written: str | None
    weight: float


class GuideSearch:
    """Ranks guides for a question; all indexing happens in the constructor."""

    def __init__(
        self,
        library: GuideLibrary,
        synonyms: Mapping[str, Any] | None = None,
        tuning: Tuning | None = None,
        *,
        examples: Sequence[Example] | None = None,
        urgent_rules: Mapping[str, list[str]] | None = None,
    ) -> None:
        """Index library; synonyms is the whole lexicon (content/guides/_lexicon.yaml).

        examples: authored example questions (content/guides/_examples); when given, a
        classifier learns from them and each guide's title and aliases, and ranks guides
        together with the lexical score. urgent_rules: content/guides/_urgent.yaml.
        """
        self.tuning = tuning or Tuning()
        self._analyzer = _Analyzer(synonyms or {})
        self._ids: list[str] = [g.id for g in library.all()]
        self._categories = {g.id: g.category for g in library.all()}
        self._classifier: ExampleClassifier | None = None
        if examples is not None:
            texts: list[str] = []
            labels: list[str] = []
            for guide in library.all():
                for phrase in (guide.title, *guide.aliases):
                    texts.append(phrase)
                    labels.append(guide.id)
            for example in examples:
                if example.guide_id is None or example.guide_id in library:
                    texts.append(example.text)
                    labels.append(example.guide_id or NONE)
            self._classifier = ExampleClassifier(
                texts, labels, self.normalise, c=self.tuning.classifier_c
            )
        self._urgent = UrgentDetector(urgent_rules or {}, self.normalise)
        self._postings: dict[str, dict[int, float]] = {}
        self._vocab_freq: dict[str, int] = defaultdict(int)
        self._build(library.all())
        self._deletes: dict[str, list[str]] = defaultdict(list)
        for word in self._vocab_freq:
            if len(word) >= 4 and not word.isdigit():
                for variant in _deletions(word):
                    self._deletes[variant].append(word)
        n = len(self._ids)
        self._idf_unknown = math.log(1 + (n + 0.5) / 0.5)

    # -- indexing --------------------------------------------------------------------------

    def _fields(self, guide: Guide) -> dict[str, list[str]]:
        steps: list[str] = []
        for step in guide.steps:
            steps.extend((step.title, step.text))
        return {
            "title": [guide.title],
            "aliases": list(guide.aliases),
            "keywords": list(guide.keywords),
            "intro": [guide.intro] if guide.intro else [],
            "steps": steps,
        }

    def _build(self, guides: Sequence[Guide]) -> None:
        tuning = self.tuning
        counts: dict[str, list[dict[str, int]]] = {}
        lengths: dict[str, list[int]] = {}
        concat: dict[str, tuple[str, ...]] = {}
        for name in tuning.field_weights:
            counts[name] = []
            lengths[name] = []
        for guide in guides:
            for name, texts in self._fields(guide).items():
                if name not in counts:
                    continue
                tf: dict[str, int] = defaultdict(int)
                length = 0
                for text in texts:
                    for clause, _ in self._analyzer.clauses(text, typed=False):
                        words = self._analyzer.content(clause)
                        length += len(words)
                        for key in _keys(words):
                            tf[key] += 1
                        for fold, _ in words:
                            self._vocab_freq[fold] += 1
                        folds = [f for f, _ in clause]
                        for size in (2, 3):
                            for i in range(len(folds) - size + 1):
                                concat.setdefault(
                                    "".join(folds[i : i + size]), tuple(folds[i : i + size])
                                )
                counts[name].append(tf)
                lengths[name].append(length)
        self._concat = {k: v for k, v in concat.items() if k not in self._vocab_freq}
        postings: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
        for name, weight in tuning.field_weights.items():
            avg = max(1.0, sum(lengths[name]) / max(1, len(lengths[name])))
            for g, tf in enumerate(counts[name]):
                norm = 1 - tuning.field_b + tuning.field_b * lengths[name][g] / avg
                for key, n in tf.items():
                    postings[key][g] += weight * n / norm
        self._postings = {k: dict(v) for k, v in postings.items()}
        # A word in many guides' step text but in one guide's title or aliases still points
        # to that guide: text-only occurrences count as a fraction of a document.
        n = len(self._ids)
        self._idf: dict[str, float] = {}
        for key, docs in self._postings.items():
            strong = {
                g
                for name in ("title", "aliases", "keywords")
                for g, tf in enumerate(counts[name])
                if key in tf
            }
            df = len(strong) + tuning.body_df_share * (len(docs) - len(strong))
            self._idf[key] = math.log(1 + (n - df + 0.5) / (df + 0.5))
        # each title and alias as a small vector, for nearest-phrase matching
        self._phrases: list[tuple[int, float]] = []
        self._phrase_index: dict[str, list[tuple[int, frozenset[str]]]] = defaultdict(list)
        for g, guide in enumerate(guides):
            for text in (guide.title, *guide.aliases):
                spellings: dict[str, set[str]] = defaultdict(set)
                for clause, _ in self._analyzer.clauses(text, typed=False):
                    words = self._analyzer.content(clause)
                    for key in _keys(words):
                        if key[0] in "fF":
                            fold_key = key
                        else:
                            spellings[fold_key].add(key)
                            continue
                        spellings.setdefault(fold_key, set())
                if not spellings:
                    continue
                norm = math.sqrt(sum(self._idf[k] ** 2 for k in spellings))
                index = len(self._phrases)
                self._phrases.append((g, norm))
                for key, forms in spellings.items():
                    plain = {f for f in forms if f[2:] == key[2:]}
                    # a phrase written without marks accepts any spelling
                    self._phrase_index[key].append(
                        (index, frozenset() if plain else frozenset(forms))
                    )

    # -- asking ----------------------------------------------------------------------------

    def normalise(self, text: str, *, stop_words: bool = True) -> str:
        """Text as the search reads it: folded words after dialect, abbreviation and synonym
        rules, space-separated (stop words kept unless stop_words is False)."""
        tokens = self._analyzer.words(text, typed=True)
        if not stop_words:
            tokens = self._analyzer.content(tokens)
        return " ".join(fold for fold, _ in tokens)

    def ask(self, text: str) -> Answer:
        """The best guide for a message, a choice of guides, a greeting or thanks, or none
        (never none for a message the urgent rules flag: then its urgent guide)."""
        clauses = self._analyzer.clauses(text, typed=True)
        everything = [t for c, _ in clauses for t in c]
        if not everything:
            return Answer("none", None, 0.0)
        social = self._social(everything)
        if social is not None:
            return Answer(social, None, 1.0)
        terms = self._terms(clauses)
        if self._classifier is not None:
            answer = self._hybrid(text, terms)
        elif terms:
            answer = self._rank(terms)
        else:
            answer = Answer("none", None, 0.0)
        if answer.kind == "none":
            # danger now never gets "no guide"
            urgent = self.urgent(text)
            if urgent is not None and urgent in self._ids:
                return Answer("guide", urgent, answer.score)
        return answer

    def _hybrid(self, text: str, terms: Mapping[str, _Term]) -> Answer:
        """Rank on the classifier's probability and the lexical score together."""
        assert self._classifier is not None
        tuning = self.tuning
        learnt = self._classifier.probabilities(text)
        lexical = self._lexical(terms) if terms else None
        totals = lexical[0] if lexical else [0.0] * len(self._ids)
        weight = tuning.learnt_weight
        combined = [
            weight * learnt.get(gid, 0.0) + (1 - weight) * totals[g]
            for g, gid in enumerate(self._ids)
        ]
        best = max(combined)
        if learnt.get(NONE, 0.0) > tuning.max_none or best < tuning.min_combined:
            return Answer("none", None, round(best, 4))
        return self._decide(combined, best)

    def wait_ready(self) -> None:
        """Fit the classifier now (otherwise the first question does)."""
        if self._classifier is not None:
            self._classifier.wait()

    def probabilities(self, text: str) -> dict[str, float]:
        """The classifier's label -> probability for text ({} without examples)."""
        return self._classifier.probabilities(text) if self._classifier else {}

    def respond(self, text: str) -> tuple[Answer, str | None]:
        """What the chat answers: the answer, and the urgent guide when the message describes
        danger now. Then the answer is one guide: the best match when it is a safety guide,
        else the urgent guide."""
        answer = self.ask(text)
        if answer.kind in ("greeting", "thanks"):
            return answer, None
        urgent = self.urgent(text)
        if urgent is None:
            return answer, None
        chosen = answer.guide_id
        if chosen is None or self._categories.get(chosen) != "safety":
            chosen = urgent if urgent in self._categories else chosen
        if chosen is None:
            return Answer("none", None, answer.score), urgent
        return Answer("guide", chosen, answer.score), urgent

    def urgent(self, text: str) -> str | None:
        """The urgent guide for a message that describes danger now, or None."""
        return self._urgent.detect(text, self.probabilities(text))

    def _social(self, tokens: list[Token]) -> AnswerKind | None:
        analyzer = self._analyzer
        thanks = analyzer.has_phrase(tokens, analyzer.thanks)
        greeting = analyzer.has_phrase(tokens, analyzer.greetings)
        if not (thanks or greeting):
            return None
        rest = analyzer.strip_phrases(tokens, analyzer.thanks | analyzer.greetings)
        if analyzer.content(rest):
            return None
        return "thanks" if thanks else "greeting"

    def _terms(self, clauses: list[tuple[list[Token], bool]]) -> dict[str, _Term]:
        """Search terms with weights; in a long message the story weighs less than the ask."""
        tuning = self.tuning
        analyzer = self._analyzer
        asks = [q or analyzer.has_phrase(c, analyzer.question_words) for c, q in clauses]
        weights = [1.0] * len(clauses)
        if any(asks) and not all(asks):
            weights = [1.0 if a else tuning.story_weight for a in asks]
        terms: dict[str, _Term] = {}
        for (clause, _), weight in zip(clauses, weights, strict=True):
            words = analyzer.weaken(self._mend(analyzer.content(clause)))
            for fold, written, factor in words:
                if len(fold) < 3 and fold.isdigit():
                    continue  # "mức 2", "lớp 3": a short number only counts beside a word
                _add(terms, "f:" + fold, written and "w:" + written, weight * factor)
            for a, b in zip(words, words[1:], strict=False):
                written = a[1] and b[1] and f"W:{a[1]} {b[1]}"
                _add(
                    terms,
                    f"F:{a[0]} {b[0]}",
                    written,
                    weight * tuning.bigram_weight * min(a[2], b[2]),
                )
        return terms

    def _mend(self, words: list[Token]) -> list[tuple[str, str | None, float]]:
        """Words with unknown ones split or corrected, each with a trust factor.

        A Vietnamese syllable one letter off is usually another real syllable ("phong",
        "thong"), so a syllable is only corrected when the result pairs with a neighbour as
        the guides pair it ("chuyen khoang" -> "chuyen khoan"); other words ("vnied") are
        corrected on their own.
        """
        out: list[tuple[str, str | None, float]] = []
        for i, (fold, written) in enumerate(words):
            before = words[i - 1][0] if i > 0 else None
            after = words[i + 1][0] if i + 1 < len(words) else None
            if fold.isdigit() or len(fold) < 4:
                out.append((fold, written, 1.0))
                continue
            if fold in self._vocab_freq:
                # a real word can still be a typo for another ("chuyen khoang"): trust the
                # neighbours when they pair with a close word and not with this one
                fix = None
                if written is None and not self._pairs(before, fold, after):
                    fix = self._correct(fold, before, after, paired_only=True)
                if fix is None:
                    out.append((fold, written, 1.0))
                else:
                    out.append((fix, None, self.tuning.fuzzy_factor))
                continue
            if fold in self._concat:
                out.extend((part, None, 1.0) for part in self._concat[fold])
                continue
            fix = self._correct(fold, before, after, paired_only=written is not None)
            if fix is None:
                out.append((fold, written, 1.0))
            else:
                out.append((fix, None, self.tuning.fuzzy_factor))
        return out

    def _pairs(self, before: str | None, word: str, after: str | None) -> bool:
        """True when word forms a pair the guides use with a neighbour."""
        return bool(
            (before and f"F:{before} {word}" in self._postings)
            or (after and f"F:{word} {after}" in self._postings)
        )

    def _correct(
        self, word: str, before: str | None, after: str | None, *, paired_only: bool = False
    ) -> str | None:
        candidates: set[str] = set(self._deletes.get(word, ()))
        for variant in _deletions(word):
            if variant in self._vocab_freq:
                candidates.add(variant)
            candidates.update(self._deletes.get(variant, ()))
        candidates.discard(word)
        syllable = _SYLLABLE.fullmatch(word) is not None
        paired = {
            c
            for c in candidates
            if self._pairs(before, c, after) and not (syllable and c[0] != word[0])
        }
        if paired:
            candidates = paired
        elif paired_only or syllable:
            return None
        if not candidates:
            return None
        return max(sorted(candidates), key=lambda w: self._vocab_freq[w])

    def _rank(self, terms: Mapping[str, _Term]) -> Answer:
        lexical = self._lexical(terms)
        if lexical is None:
            return Answer("none", None, 0.0)
        total, confidence = lexical
        return self._decide(total, confidence[int(max(range(len(total)), key=total.__getitem__))])

    def _decide(self, total: Sequence[float], confidence: float) -> Answer:
        """One guide, close choices, or none, from per-guide totals and the best's confidence."""
        tuning = self.tuning
        ranked = sorted(range(len(total)), key=lambda g: -total[g])
        best = total[ranked[0]]
        confidence = round(confidence, 4)
        if self._classifier is None and confidence < tuning.min_confidence:
            return Answer("none", None, confidence)
        close = tuple(
            self._ids[g]
            for g in ranked[1 : 1 + tuning.max_alternatives]
            if total[g] >= tuning.close_ratio * best
        )
        return Answer("choices" if close else "guide", self._ids[ranked[0]], confidence, close)

    def lexical(self, text: str) -> tuple[list[float], list[float]] | None:
        """Per-guide lexical score and confidence for text (None: nothing to search on)."""
        clauses = self._analyzer.clauses(text, typed=True)
        terms = self._terms(clauses)
        return self._lexical(terms) if terms else None

    def _lexical(self, terms: Mapping[str, _Term]) -> tuple[list[float], list[float]] | None:
        """Each guide's score (mean of text match and nearest alias) and confidence."""
        tuning = self.tuning
        n = len(self._ids)
        scores = [0.0] * n
        ceiling = 0.0
        query_norm = 0.0
        dots = [0.0] * len(self._phrases)
        for key, term in terms.items():
            folded = self._postings.get(key)
            if not folded:
                # words the guides never use are a sign of another topic; so, less, are
                # known words the guides never put side by side
                share = 1.0 if key.startswith("f:") else tuning.unknown_pair_weight
                ceiling += share * term.weight * self._idf_unknown
                query_norm += (share * term.weight * self._idf_unknown) ** 2
                continue
            idf = self._idf[key]
            spelled: dict[int, float] = {}
            plain: dict[int, float] = {}
            if term.written:
                # same spelling, or written without marks in the guide (an alias like "tai vneid")
                spelled = self._postings.get(term.written, {})
                plain = self._postings.get(term.written[:2] + key[2:], {})
            # a word typed with marks that no guide spells that way ("lúa" beside "lừa")
            # is most likely another word (aliases typed without marks do not vouch for it)
            surprise = self._idf_unknown if term.written and not spelled else idf
            ceiling += term.weight * surprise
            query_norm += (term.weight * surprise) ** 2
            for g, tf in folded.items():
                gain = tf / (tuning.k1 + tf)
                if term.written:
                    exact = spelled.get(g, 0.0) + plain.get(g, 0.0)
                    gain = max(tuning.accent_mismatch * gain, exact / (tuning.k1 + exact))
                scores[g] += term.weight * idf * gain
            for phrase, spellings in self._phrase_index.get(key, ()):
                factor = 1.0
                if term.written and spellings and term.written not in spellings:
                    factor = tuning.accent_mismatch
                dots[phrase] += term.weight * idf * idf * factor
        if ceiling <= 0:
            return None
        # nearest alias or title, by cosine over weighted terms
        nearest = [0.0] * n
        query_norm = math.sqrt(query_norm)
        for phrase, dot in enumerate(dots):
            if dot:
                g, norm = self._phrases[phrase]
                nearest[g] = max(nearest[g], dot / (norm * query_norm))
        floor = max(ceiling, tuning.ceiling_floor)
        total = [
            (scores[g] / floor + tuning.alias_weight * nearest[g]) / (1 + tuning.alias_weight)
            for g in range(n)
        ]
        # confident when either the text match or the nearest alias explains the question
        confidence = [max(scores[g] / floor, nearest[g]) for g in range(n)]
        return total, confidence


def _add(terms: dict[str, _Term], key: str, written: str | None, weight: float) -> None:
    old = terms.get(key)
    if old is None or old.weight < weight:
        if written is None and old is not None:
            written = old.written
        terms[key] = _Term(key, written or None, weight)


def _keys(words: Sequence[Token]) -> Iterable[str]:
    """Index keys of a clause: words and neighbour pairs, folded and as written."""
    for fold, written in words:
        yield "f:" + fold
        if written:
            yield "w:" + written
    for (fa, wa), (fb, wb) in zip(words, words[1:], strict=False):
        yield f"F:{fa} {fb}"
        if wa and wb:
            yield f"W:{wa} {wb}"


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def ask_json(search: GuideSearch, question: str) -> dict[str, Any]:
    """The answer as {"guide_id": id or None, "score": float, "alternatives": [ids],
    "urgent": id of the urgent guide or None}.

    "urgent" is set when the message describes danger now; the chat then sends the urgent
    steps first, then "guide_id".
    """
    answer, urgent = search.respond(question)
    return {
        "guide_id": answer.guide_id if answer.kind in ("guide", "choices") else None,
        "score": float(answer.score),
        "alternatives": list(answer.alternatives),
        "urgent": urgent,
    }


def build_search(
    library: GuideLibrary, folder: Path, examples_folder: Path | None = None
) -> GuideSearch:
    """The search as the bot runs it, from a guides folder: its lexicon (`_lexicon.yaml`),
    example questions (`_examples/`, or examples_folder) and urgent rules (`_urgent.yaml`)."""
    return GuideSearch(
        library,
        load_lexicon(folder / "_lexicon.yaml"),
        examples=load_examples(examples_folder or folder / "_examples"),
        urgent_rules=load_rules(folder / "_urgent.yaml"),
    )

"""Tell a message that describes danger now (money just sent, a code given away, a scam call
in progress, an account or phone taken over, threats) from an ordinary question.

Two signals, either is enough (recall matters more than precision here):
- rules: regular expressions from content/guides/_urgent.yaml, matched against the message
  folded (no tone marks, lower case) as typed and as the search reads it (abbreviations and
  dialect expanded), each group naming the guide to show;
- the guide search's classifier: a message whose best guide is one of the urgent guides
  (safety-act-now, safety-account-hijacked, safety-phone-hijacked) with enough probability.

Errors:
    UrgentRulesError -- the rules file is malformed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path

import yaml

from core.text import fold

URGENT_GUIDES = ("safety-act-now", "safety-account-hijacked", "safety-phone-hijacked")
"""Guides written for danger now; the first is the default."""


class UrgentRulesError(ValueError):
    """content/guides/_urgent.yaml is malformed."""


def load_rules(path: Path) -> dict[str, list[str]]:
    """Guide id -> patterns, from the rules file ({} when there is none)."""
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise UrgentRulesError(f"{path}: {exc}") from exc
    groups = data.get("groups") if isinstance(data, dict) else None
    if not isinstance(groups, dict):
        raise UrgentRulesError(f"{path}: needs 'groups:' mapping guide ids to patterns")
    out: dict[str, list[str]] = {}
    for guide_id, patterns in groups.items():
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            raise UrgentRulesError(f"{path}: '{guide_id}' must be a list of patterns")
        out[str(guide_id)] = patterns
    return out


class UrgentDetector:
    """Decides whether a message is urgent and which guide fits it."""

    def __init__(
        self,
        rules: Mapping[str, list[str]],
        normalise: Callable[[str], str] | None = None,
        *,
        min_probability: float = 0.3,
    ) -> None:
        self._normalise = normalise
        self.min_probability = min_probability
        self._rules: list[tuple[str, re.Pattern[str]]] = []
        for guide_id, patterns in rules.items():
            for pattern in patterns:
                try:
                    self._rules.append((guide_id, re.compile(pattern)))
                except re.error as exc:
                    raise UrgentRulesError(f"{guide_id}: bad pattern {pattern!r}: {exc}") from exc

    def by_rules(self, text: str) -> str | None:
        """The guide of the first rule group that matches, or None."""
        forms = [fold(text)]
        if self._normalise is not None:
            forms.append(self._normalise(text))
        for guide_id, pattern in self._rules:
            if any(pattern.search(form) for form in forms):
                return guide_id
        return None

    def detect(self, text: str, probabilities: Mapping[str, float] | None = None) -> str | None:
        """The urgent guide for text, or None when nothing says danger now.

        probabilities: the classifier's label -> probability for text, if there is one.
        """
        probabilities = probabilities or {}
        ranked = sorted(probabilities.items(), key=lambda kv: -kv[1])
        learnt = None
        if ranked and ranked[0][0] in URGENT_GUIDES and ranked[0][1] >= self.min_probability:
            learnt = ranked[0][0]
        ruled = self.by_rules(text)
        if ruled is None:
            return learnt
        # the rules say urgent; the classifier may know better which urgent guide fits
        if ruled == URGENT_GUIDES[0] and learnt is not None:
            return learnt
        return ruled

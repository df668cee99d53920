"""Guides: the Markdown library residents are answered from, and the search over it."""

from handlers.guides.library import (
    CATEGORIES,
    Guide,
    GuideFormatError,
    GuideLibrary,
    Step,
)
from handlers.guides.search import (
    Answer,
    GuideSearch,
    LexiconError,
    ask_json,
    build_search,
    load_lexicon,
)

__all__ = [
    "CATEGORIES",
    "Answer",
    "Guide",
    "GuideFormatError",
    "GuideLibrary",
    "GuideSearch",
    "LexiconError",
    "Step",
    "ask_json",
    "build_search",
    "load_lexicon",
]

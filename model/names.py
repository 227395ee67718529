"""How names are compared everywhere: one folding, so a name stored, searched and checked is the
same string in the registry, the API and the detectors."""

from __future__ import annotations

import re
import unicodedata

from model.common_words import COMMON_WORDS

_TOKEN = re.compile(r"[a-z0-9]+")


def fold(text: str) -> str:
    """Lower case, accents removed, anything but letters and digits turned into spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(_TOKEN.findall(stripped.casefold()))


MIN_ALIAS_CHARACTERS = 3  # letters and digits, after folding


def common_words_only(text: str) -> bool:
    """Every word of the folded text is a common word (an empty text counts as common)."""
    return all(word in COMMON_WORDS for word in fold(text).split())


def alias_problem(alias: str) -> str | None:
    """Why `alias` cannot stand for a person in the name checks (None: it can): it must keep at
    least MIN_ALIAS_CHARACTERS letters or digits once folded, and not be only common words
    (an alias "the" would flag every title with "the" in it)."""
    folded = fold(alias)
    if not folded:
        return f"alias {alias!r} has no letters or digits"
    if len(folded.replace(" ", "")) < MIN_ALIAS_CHARACTERS:
        return f"alias {alias!r} is too short (at least {MIN_ALIAS_CHARACTERS} letters or digits)"
    if common_words_only(folded):
        return f"alias {alias!r} is made of common words and would match unrelated titles"
    return None

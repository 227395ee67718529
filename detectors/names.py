"""Finding people's names in free text: case, accents, punctuation, spacing and small misspellings
do not hide a name ("taylor  swift", "Taylor-Swift", "Tayler Swift", "TAYLORSWIFT").

Names are compared token window by token window with rapidfuzz's edit-distance ratio. Short
names must match exactly (one edit turns "Sia" into "Sea"); longer names tolerate about one edit
in ten characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from model.names import fold

_TOKEN = re.compile(r"[a-z0-9]+")
EXACT_BELOW = 5  # names shorter than this (without spaces) must match exactly
MIN_RATIO_LONG = 86.0  # for names of 8+ characters
MIN_RATIO_MEDIUM = 90.0  # for names of 5-7 characters


@dataclass(frozen=True)
class Person:
    """A real person who may be named: a catalog artist, an opted-out artist, anyone registered."""

    name: str
    aliases: tuple[str, ...] = ()
    opted_out: bool = False


@dataclass(frozen=True)
class NameHit:
    person: Person
    matched: str  # the text as written
    start: int  # character offsets into the text searched
    end: int
    similarity: float  # 0-100


def tokens(text: str) -> list[tuple[str, int, int]]:
    """Folded tokens with their character spans in `text` (spans index the original text)."""
    found = []
    for match in re.finditer(r"\w+", text):
        folded = fold(match.group())
        if folded:
            found.append((folded.replace(" ", ""), match.start(), match.end()))
    return found


def _min_ratio(name: str) -> float:
    length = len(name.replace(" ", ""))
    if length < EXACT_BELOW:
        return 100.0
    return MIN_RATIO_MEDIUM if length < 8 else MIN_RATIO_LONG


class NameIndex:
    """All the names to look for, grouped by their number of tokens."""

    def __init__(self, people: list[Person]) -> None:
        self.by_length: dict[int, tuple[list[str], list[Person]]] = {}
        self.glued: dict[str, Person] = {}
        for person in people:
            for alias in (person.name, *person.aliases):
                folded = fold(alias)
                if not folded:
                    continue
                words = folded.count(" ") + 1
                names, owners = self.by_length.setdefault(words, ([], []))
                names.append(folded)
                owners.append(person)
                # also as one glued token ("taylorswift"), exactly, for texts that drop the spaces
                if words > 1:
                    self.glued.setdefault(folded.replace(" ", ""), person)

    def find(self, text: str) -> list[NameHit]:
        words = tokens(text)
        hits: dict[tuple[str, int], NameHit] = {}
        for word, start, end in words:
            if word in self.glued:
                hits[(self.glued[word].name, start)] = NameHit(
                    self.glued[word], text[start:end], start, end, 100.0
                )
        for length, (names, owners) in self.by_length.items():
            for i in range(len(words) - length + 1):
                window = words[i : i + length]
                candidate = " ".join(w for w, _, _ in window)
                best = process.extractOne(candidate, names, scorer=fuzz.ratio)
                if best is None:
                    continue
                name, score, index = best
                if score < _min_ratio(name):
                    continue
                person = owners[index]
                start, end = window[0][1], window[-1][2]
                key = (person.name, start)
                if key not in hits or hits[key].similarity < score:
                    hits[key] = NameHit(person, text[start:end], start, end, float(score))
        return _without_overlaps(list(hits.values()))


def _without_overlaps(hits: list[NameHit]) -> list[NameHit]:
    """Where hits overlap ("Ed Sheeran" and "Sheeran"), keep the longest, then the closest."""
    kept: list[NameHit] = []
    for hit in sorted(hits, key=lambda h: (-(h.end - h.start), -h.similarity, h.start)):
        if all(hit.end <= k.start or hit.start >= k.end for k in kept):
            kept.append(hit)
    return sorted(kept, key=lambda h: h.start)

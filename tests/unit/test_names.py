import pytest

from detectors.names import NameIndex, Person
from model.common_words import COMMON_WORDS
from model.names import alias_problem, fold

PEOPLE = [
    Person("Taylor Swift", aliases=("T-Swift",)),
    Person("Sia"),
    Person("Beyoncé"),
    Person("Ed Sheeran"),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("in the style of TAYLOR SWIFT", ["Taylor Swift"]),
        ("taylor  swift voice", ["Taylor Swift"]),
        ("Tayler Swift type beat", ["Taylor Swift"]),  # one letter off
        ("#taylorswift vibes", ["Taylor Swift"]),  # spaces dropped
        ("sounds like t-swift", ["Taylor Swift"]),  # registered alias
        ("beyonce ballad", ["Beyoncé"]),  # accents folded
        ("a song like Sia", ["Sia"]),
        ("walking by the sea", []),  # short names must match exactly
        ("a swift taylor-made suit", []),  # the words, but not the name
        ("Ed Sheeran's loop pedal", ["Ed Sheeran"]),  # one hit, not two overlapping ones
    ],
)
def test_names_are_found_despite_case_spacing_accents_and_typos(text: str, expected: list[str]) -> None:
    assert [h.person.name for h in NameIndex(PEOPLE).find(text)] == expected


def test_hits_point_at_the_text_as_written() -> None:
    text = "remix in the style of TAYLOR   swift please"
    (hit,) = NameIndex(PEOPLE).find(text)
    assert text[hit.start : hit.end] == hit.matched == "TAYLOR   swift"


def test_fold() -> None:
    assert fold("  Beyoncé—Knowles! ") == "beyonce knowles"


@pytest.mark.parametrize(
    ("alias", "why"),
    [
        ("the", "common words"),
        ("Love", "common words"),
        ("BABY", "common words"),
        ("you", "common words"),
        ("The Love", "common words"),  # only common words, however many
        ("Oh, Baby!", "common words"),
        ("DJ", "too short"),
        ("a.b", "too short"),
        ("—!?", "no letters or digits"),
    ],
)
def test_aliases_too_short_or_too_common_are_refused_with_the_reason(alias: str, why: str) -> None:
    problem = alias_problem(alias)
    assert problem is not None and why in problem and repr(alias) in problem


@pytest.mark.parametrize("alias", ["T-Swift", "Sia", "Baby Keem", "Queen B", "AC/DC", "Beyoncé"])
def test_aliases_that_name_someone_are_accepted(alias: str) -> None:
    assert alias_problem(alias) is None


def test_common_words_are_stored_folded() -> None:
    assert all(fold(word) == word for word in COMMON_WORDS)

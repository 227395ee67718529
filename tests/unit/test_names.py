import pytest

from detectors.names import NameIndex, Person
from model.names import fold

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

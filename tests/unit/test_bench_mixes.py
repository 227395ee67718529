"""How `bench.harassment` tells whether a line aimed at nobody is read as aimed once a line that
names someone stands beside it."""

from __future__ import annotations

from bench.harassment.__main__ import other_line_aimed
from detectors.names import NameIndex, Person

NAMES = NameIndex([Person("Jonah Pike"), Person("Marisol Okafor")])
SHOUT_OUT = "Jonah Pike played the best set of the year"


def test_a_pronoun_after_the_name_is_counted_as_aimed() -> None:
    assert other_line_aimed(SHOUT_OUT, "he about to learn", other_first=False, names=NAMES)


def test_a_line_before_the_name_or_about_someone_else_is_not() -> None:
    assert not other_line_aimed(SHOUT_OUT, "he about to learn", other_first=True, names=NAMES)
    ballad = "the sheriff left his badge in the river"
    assert not other_line_aimed(SHOUT_OUT, ballad, other_first=False, names=NAMES)


def test_only_the_other_lines_units_are_read() -> None:
    """The shout-out is itself aimed at Pike; only the other line's units count."""
    two_units = "rain on the roof / nobody home"
    assert not other_line_aimed(SHOUT_OUT, two_units, other_first=False, names=NAMES)
    assert not other_line_aimed(SHOUT_OUT, two_units, other_first=True, names=NAMES)

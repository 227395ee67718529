"""Which corpus lines the harassment classifier learns from."""

from __future__ import annotations

import json

from corpus.texts import Line
from detectors.text_classifier import NEUTRAL_NAME, WEIGHTS
from training.harassment.__main__ import lines_digest, named_by_writer, training_lines


def _line(text: str, target: str | None) -> Line:
    return Line(text, "lyrics", "threat", "threat", "Saoirse Byrne", "folk", "g", "w", target)


def test_a_line_whose_writer_names_its_target_is_read_with_the_neutral_name_in_every_spelling() -> None:
    read = named_by_writer(_line("saoirse better run, SAOIRSE knows what she did", "Saoirse"))
    assert read == f"{NEUTRAL_NAME} better run, {NEUTRAL_NAME} knows what she did"


def test_a_target_written_with_symbols_is_replaced_as_written() -> None:
    read = named_by_writer(_line("s.a.o.i.r.s.e, spell it out, fake to the core", "s.a.o.i.r.s.e"))
    assert read == f"{NEUTRAL_NAME}, spell it out, fake to the core"


def test_a_line_that_names_nobody_is_not_learnt_as_aimed() -> None:
    assert named_by_writer(_line("knives out at the show tonight", None)) is None
    assert named_by_writer(_line("knives out at the show tonight", "Saoirse")) is None


def test_the_shipped_classifier_was_fitted_on_the_lines_training_reads_today() -> None:
    """A change to the corpus or to how names are read changes what `python -m
    training.harassment` fits on: the classifier must then be trained again, or it is one that
    training no longer reproduces."""
    trained_on = json.loads(WEIGHTS.read_text())["trained_on"]
    kept = training_lines(tuple(trained_on["authors"]), None)
    assert (len(kept), lines_digest(kept)) == (trained_on["lines"], trained_on["lines_digest"]), (
        "the classifier was fitted on other lines: run python -m training.harassment"
    )

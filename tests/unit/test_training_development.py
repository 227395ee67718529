"""The fixed development measure scores every line of the measured writers, out of fold, and
lists the threat errors it finds there."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer

from corpus.texts import Line
from training.harassment.__main__ import Aimed, Blend, OutOfFold, UnitScores
from training.harassment.development import measure, threat_errors

OWN = (0.85, 0.9, 0.95)  # harm_at, threat_at, threat_share_at


def _line(text: str, label: str, author: str = "a") -> Line:
    return Line(text, "lyrics", label, "kind", None, "style", "group", author)  # type: ignore[arg-type]


def _out_of_fold() -> OutOfFold:
    sure_threat = _line("Alex will be dealt with tonight", "threat")
    false_threat = _line("Alex killed it on stage tonight", "none")
    missed_threat = _line("Alex knows what comes next", "threat")
    never_aimed = _line("he knows what comes next", "threat")
    other_writer = _line("Alex is lethal on the mic", "none", author="b")
    lines = [sure_threat, false_threat, missed_threat, never_aimed, other_writer]
    # training reads the corpus again for the lines it keeps: equal lines, not the same objects
    kept = [
        Aimed(replace(line), line.text, [line.text], [False], [False])
        for line in lines
        if line is not never_aimed
    ]
    # probabilities per unit, in CLASSES order (none, abuse, threat)
    combined = np.asarray([[0.01, 0.0, 0.99], [0.03, 0.0, 0.97], [0.1, 0.4, 0.5], [0.9, 0.05, 0.05]])
    scores = UnitScores(
        np.arange(len(kept)), combined, combined, np.zeros(len(kept), bool), np.zeros(len(kept), bool)
    )
    y = np.asarray([2, 0, 2, 0])
    blend = Blend(0.0, combined, OWN, {})
    return OutOfFold(
        lines,
        kept,
        y,
        None,
        CountVectorizer(),
        1.0,
        scores,
        0.0,
        np.ones(len(kept), bool),
        np.ones(len(kept), bool),
        [blend],
    )


def test_a_harmful_line_the_check_never_aims_at_is_a_miss() -> None:
    figures = measure(_out_of_fold(), ("a",))
    assert figures["lines"] == 4
    own = figures["at_own_thresholds"]
    assert own["threat_recall"] == round(1 / 3, 4)  # the line aimed at nobody counts
    assert own["threat_precision"] == 0.5


def test_thresholds_chosen_on_the_measured_lines_hold_the_target_precision() -> None:
    figures = measure(_out_of_fold(), ("a",))
    assert figures["own_thresholds"] == list(OWN)
    assert figures["at_retuned_thresholds"]["threat_precision"] == 1.0
    assert figures["retuned_thresholds"][1] > 0.97  # above the false threat, under the true one


def test_errors_are_the_likeliest_false_threats_and_the_closest_misses() -> None:
    false, missed = threat_errors(_out_of_fold(), 5)
    assert [e.text for e in false] == ["Alex killed it on stage tonight"]
    assert [(e.text, e.found) for e in missed] == [("Alex knows what comes next", "abuse")]

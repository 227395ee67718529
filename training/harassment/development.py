"""The fixed development measure: `python -m training.harassment.development`.

How a change to the harassment check (more writers, the name finder, the rules, the settings) is
judged before the test part is read. The training writers' lines are read out of fold, as
`python -m training.harassment` reads them to choose its settings (folds grouped by writer; each
fold's tuned model comes from training/.cache/harassment, or is tuned now), and the check is
scored as the detector runs it on the lines of the writers `--measured-on` (by default those the
shipped classifier was trained on, the seed set aside). Every line of those writers counts, so two
configurations (trained on more writers, or with another finder that aims at other lines) are
scored on the same lines: a harmful line the finder does not aim at is a miss.

Two readings: at the configuration's own thresholds (what it would ship with), and at thresholds
chosen on the measured lines alone, threat and harassment precision at least TARGET_PRECISION (so
that a configuration whose extra writers make its own thresholds stricter is compared on what it
ranks, not on where its thresholds fell). Test figures of two trainings that differ in a few lines
move by more than their difference here: the final fit varies, the folds average it out.

`--errors N` lists the N likeliest false threats and the N closest missed threats out of fold (at
the configuration's own thresholds), for briefing corpus writers or designing a change; only
training writers' lines are ever listed. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from corpus import texts
from detectors.text_classifier import CLASSES
from training.harassment.__main__ import THREAT, OutOfFold, out_of_fold, severities, thresholds
from training.harassment.scores import rates

SHIPPED_WRITERS = tuple(a for a in texts.TRAIN_AUTHORS if a != "seed")


def line_key(line: texts.Line) -> tuple[str, str, str]:
    return line.author, line.field, line.text


def line_findings(oof: OutOfFold, at: tuple[float, float, float]) -> dict[tuple[str, str, str], str]:
    """Each kept line the detector judges, with what the check finds in it out of fold at the
    thresholds `at` (a line written twice is read the same both times)."""
    combined = oof.best.combined
    found = severities(oof.scores, combined, len(oof.y), at)
    return {
        line_key(a.line): CLASSES[int(f)]
        for a, f, judged in zip(oof.kept, found, oof.judged, strict=True)
        if judged
    }


def scored_lines(oof: OutOfFold, measured_on: tuple[str, ...], at: tuple[float, float, float]) -> Any:
    """Rates over every line of the measured writers: lines the check never judges find nothing."""
    findings = line_findings(oof, at)
    measured = [line for line in oof.lines if line.author in measured_on]
    return rates((line.label, findings.get(line_key(line), "none")) for line in measured)


def measure(oof: OutOfFold, measured_on: tuple[str, ...]) -> dict[str, Any]:
    on_measured = oof.judged & np.asarray([a.line.author in measured_on for a in oof.kept])
    retuned_at, _ = thresholds(oof.scores, oof.best.combined, oof.y, on_measured)
    return {
        "measured_on": list(measured_on),
        "lines": sum(line.author in measured_on for line in oof.lines),
        "own_thresholds": list(oof.best.at),
        "at_own_thresholds": scored_lines(oof, measured_on, oof.best.at),
        "retuned_thresholds": list(retuned_at),
        "at_retuned_thresholds": scored_lines(oof, measured_on, retuned_at),
    }


@dataclass(frozen=True)
class Error:
    author: str
    field: str
    kind: str
    label: str
    found: str
    threat: float  # the largest out-of-fold probability of threat over the line's units
    text: str


def threat_errors(oof: OutOfFold, n: int) -> tuple[list[Error], list[Error]]:
    """The `n` false threats the check is surest of, and the `n` missed threats it came closest
    to, out of fold at the configuration's own thresholds."""
    found = severities(oof.scores, oof.best.combined, len(oof.y), oof.best.at)
    threat = np.zeros(len(oof.y))
    np.maximum.at(threat, oof.scores.line, oof.best.combined[:, THREAT])
    false, missed = [], []
    for i, a in enumerate(oof.kept):
        if not oof.judged[i]:
            continue
        error = Error(
            a.line.author,
            a.line.field,
            a.line.kind,
            a.line.label,
            CLASSES[int(found[i])],
            round(float(threat[i]), 3),
            a.line.text,
        )
        if found[i] == THREAT and oof.y[i] != THREAT:
            false.append(error)
        elif oof.y[i] == THREAT and found[i] != THREAT:
            missed.append(error)
    return _likeliest(false, n), _likeliest(missed, n)


def _likeliest(errors: list[Error], n: int) -> list[Error]:
    return sorted(errors, key=lambda e: (-e.threat, e.author, e.text))[:n]


def _print_errors(title: str, errors: list[Error]) -> None:
    print(f"{title}:")
    for e in errors:
        print(f"  {e.threat:.3f} [{e.author} {e.field} {e.kind} {e.label}->{e.found}] {e.text}")


def counts(values: npt.NDArray[np.int64]) -> dict[str, int]:
    return {CLASSES[c]: int((values == c).sum()) for c in range(len(CLASSES))}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--authors", default=",".join(texts.TRAIN_AUTHORS), help="corpus parts trained on")
    parser.add_argument(
        "--measured-on", default=",".join(SHIPPED_WRITERS), help="the writers whose lines are scored"
    )
    parser.add_argument("--errors", type=int, default=0, help="list this many threat errors of each kind")
    args = parser.parse_args()
    authors = tuple(args.authors.split(","))
    measured_on = tuple(args.measured_on.split(","))
    unknown = [
        a for a in (*authors, *measured_on) if a not in texts.TRAIN_AUTHORS + texts.NOT_YET_TRAINED_AUTHORS
    ]
    if unknown:
        parser.error(f"not training writers: {', '.join(unknown)} (the test part is never read here)")
    if not set(measured_on) <= set(authors):
        parser.error("--measured-on must be writers trained on: out of fold needs their folds")
    oof = out_of_fold(authors, print)
    if args.errors:
        false, missed = threat_errors(oof, args.errors)
        _print_errors("false threats, likeliest first", false)
        _print_errors("missed threats, closest first", missed)
    print(json.dumps({"trained_on": list(authors), "kept_lines": counts(oof.y), **measure(oof, measured_on)}))


if __name__ == "__main__":
    main()

"""Harassment and name checks on text nobody here wrote beside the rules: `python -m bench.harassment`.

The test part of corpus/harassment (`corpus.texts.TEST_AUTHORS`: writers, registers, templates
and target names the classifier never saw; see corpus/texts.py) goes line by line through the
pipeline's own text detectors, each line in the field it was written for (title, description,
prompt, lyrics), with the registry its writers wrote about. Reported:

- threat and abuse precision and recall (a line is a threat when its finding is `threat`, abuse
  when it is `abuse`), overall and per field, and `harassment_precision` / `harassment_recall`
  for either (a threat found as abuse still reaches a reviewer);
- `untargeted_false_alarm_rate`: explicit or violent lines aimed at nobody real that were flagged;
- `mixed_lyrics_false_alarm_rate` / `mixed_lyrics_false_threat_rate`: lyrics of two test lines,
  a harmless one that names a registered person (praise, news, critique, a love song...) and an
  explicit or violent one aimed at nobody, in either order, as a track's lyrics put them side by
  side (three such lines drawn for each harmless one, seeded): flagged at all, and as threats;
  `mixed_lyrics_aimed_rate`: how often the line aimed at nobody is read as aimed at the person the
  other names, before any model judges it (how a change to who a pronoun means is judged on
  training writers, `--authors`, without reading the test part);
- `name_request_recall`: requests for an opted-out artist's voice or style (misspelt, leetspeak,
  partial names, look-alike letters) found, and `name_request_false_alarms` on lines that name an
  opted-out artist without asking for them;
- the time the text checks take on a track with 60 lines of lyrics, one core (p50, p95).

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from rich.console import Console

from corpus import texts
from detectors.harassment import harassment, load_text_models, units
from detectors.impersonation import name_requests
from detectors.names import NameIndex, Person
from detectors.text import TrackText
from training.harassment.scores import rates

UNTARGETED = ("explicit_untargeted", "violence_fictional")
NAMING_HARMLESS = ("praise", "news_mention", "neutral", "critique", "love_song", "mention_no_request")
MIXES_PER_LINE = 3
SPEED_TRACKS = 60
LYRIC_LINES = 60


@dataclass(frozen=True)
class Checked:
    line: texts.Line
    found: str  # the harassment finding's severity
    requested: set[str]  # opted-out artists the name check found asked for

    @property
    def label(self) -> str:
        return self.line.label


def _speed(lines: list[texts.Line], names: NameIndex, opted_out: NameIndex) -> dict[str, float]:
    """Text checks of tracks with 60 lines of lyrics drawn from the test lines, a title naming
    a registered person (so second-person lines have someone to aim at), on one core."""
    torch.set_num_threads(1)
    rng = random.Random(7)
    lyric_lines = [
        part.strip() for line in lines if line.field == "lyrics" for part in line.text.split(" / ")
    ]
    titled = [line.text for line in lines if line.field == "title" and line.person]
    models = load_text_models()
    took = []
    for _ in range(SPEED_TRACKS):
        track = TrackText(
            source="upload",
            title=rng.choice(titled),
            lyrics="\n".join(rng.choice(lyric_lines) for _ in range(LYRIC_LINES)),
        )
        start = time.perf_counter()
        harassment(track, names, models)
        name_requests(track, opted_out)
        took.append((time.perf_counter() - start) * 1000)
    return {
        "text_checks_ms_p50": round(float(np.percentile(took, 50)), 1),
        "text_checks_ms_p95": round(float(np.percentile(took, 95)), 1),
    }


def two_line_lyric(named: str, other: str, other_first: bool) -> TrackText:
    """The lyrics of a track that puts `named` and `other` side by side, in that order or the other."""
    return TrackText.one_field("lyrics", f"{other} / {named}" if other_first else f"{named} / {other}")


def other_line_aimed(named: str, other: str, other_first: bool, names: NameIndex) -> bool:
    """In the lyric of `named` and `other` (a line aimed at nobody), in that order or the other,
    whether a unit of `other` is read as aimed at someone."""
    alone = len(units(TrackText.one_field("lyrics", other), names))
    read = units(two_line_lyric(named, other, other_first), names)
    return any(u.targets for u in (read[:alone] if other_first else read[-alone:]))


def _mixed_lyrics(lines: list[texts.Line], names: NameIndex) -> dict[str, Any]:
    """Each harmless line naming a registered person beside explicit or violent lines aimed at
    nobody, in one lyric, either order: how often the check flags the pair, and how often the
    line aimed at nobody is read as aimed at the person the other names (before any model)."""
    rng = random.Random(3)
    naming = [ln for ln in lines if ln.label == "none" and ln.kind in NAMING_HARMLESS and ln.person]
    untargeted = [ln for ln in lines if ln.label == "none" and ln.kind in UNTARGETED]
    models = load_text_models()
    found: Counter[str] = Counter()
    aimed = 0
    for named in naming:
        for other in rng.sample(untargeted, min(MIXES_PER_LINE, len(untargeted))):
            for other_first in (False, True):
                lyric = two_line_lyric(named.text, other.text, other_first)
                found[harassment(lyric, names, models).severity] += 1
                aimed += other_line_aimed(named.text, other.text, other_first, names)
    total = sum(found.values())
    return {
        "mixed_lyrics": total,
        "mixed_lyrics_false_alarm_rate": round((total - found["none"]) / max(1, total), 4),
        "mixed_lyrics_false_threat_rate": round(found["threat"] / max(1, total), 4),
        "mixed_lyrics_aimed_rate": round(aimed / max(1, total), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--authors",
        default=",".join(texts.TEST_AUTHORS),
        help="corpus parts to check (the test part unless developing on a training author)",
    )
    authors = tuple(parser.parse_args().authors.split(","))
    lines = texts.lines(authors)
    registered = [Person(p.name, opted_out=p.opted_out) for p in texts.people(authors)]
    names = NameIndex(registered)
    opted_out = NameIndex([p for p in registered if p.opted_out], among=registered)
    models = load_text_models()
    rows: list[Checked] = []
    for line in lines:
        text = TrackText.one_field(line.field, line.text)
        found = harassment(text, names, models).severity
        requested = {r.artist for r in name_requests(text, opted_out).requests}
        rows.append(Checked(line, found, requested))
    report: dict[str, Any] = {
        "test_lines": len(lines),
        "by_label": dict(Counter(line.label for line in lines)),
    }
    report.update(rates((r.label, r.found) for r in rows))
    untargeted = [r for r in rows if r.line.kind in UNTARGETED]
    report["untargeted_lines"] = len(untargeted)
    report["untargeted_false_alarm_rate"] = round(
        sum(r.found != "none" for r in untargeted) / max(1, len(untargeted)), 4
    )
    report["false_alarms_by_kind"] = dict(
        Counter(r.line.kind for r in rows if r.label in ("none", "name_request") and r.found != "none")
    )
    requests = [r for r in rows if r.label == "name_request"]
    report["name_request_recall"] = round(
        sum(r.line.person in r.requested for r in requests) / max(1, len(requests)), 4
    )
    mentions = [r for r in rows if r.line.kind == "mention_no_request"]
    report["name_request_false_alarms"] = f"{sum(bool(r.requested) for r in mentions)}/{len(mentions)}"
    by_field: dict[str, Any] = defaultdict(dict)
    for field in ("title", "description", "prompt", "lyrics"):
        in_field = [r for r in rows if r.line.field == field]
        by_field[field] = {**rates((r.label, r.found) for r in in_field), "lines": len(in_field)}
        field_requests = [r for r in requests if r.line.field == field]
        if field_requests:
            by_field[field]["name_request_recall"] = round(
                sum(r.line.person in r.requested for r in field_requests) / len(field_requests), 4
            )
    report["by_field"] = by_field
    report.update(_mixed_lyrics(lines, names))
    report.update(_speed(lines, names, opted_out))
    console = Console(stderr=True)
    for r in rows:
        line = r.line
        if r.found != r.label and not (r.label == "name_request" and r.found == "none"):
            console.print(
                f"[yellow]{line.label}->{r.found}[/yellow] {line.field}: {line.text}", highlight=False
            )
        if r.label == "name_request" and line.person not in r.requested:
            console.print(f"[yellow]request missed[/yellow] {line.field}: {line.text}", highlight=False)
    print(json.dumps(report))


if __name__ == "__main__":
    main()

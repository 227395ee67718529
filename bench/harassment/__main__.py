"""Harassment check on a labelled set the project wrote: `python -m bench.harassment`.

bench/harassment/labelled.jsonl holds one line per text with its label: `none` (explicit but
fine lyrics, and friendly mentions of real people), `abuse` (insults aimed at a real person:
review) or `threat` (threats against a real person: takedown). Each line is checked as lyrics
by the pipeline's detector, with the people it knows: a few real artists and catalog artists.
The last line printed is one JSON object: precision and recall per class and the confusion.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from rich.console import Console

from detectors.harassment import harassment, load_text_models
from detectors.names import NameIndex, Person
from detectors.text import TrackText

LABELLED = Path(__file__).with_name("labelled.jsonl")
PEOPLE = [
    Person(n) for n in ("Taylor Swift", "Drake", "Billie Eilish", "Kanye West", "Ed Sheeran", "Nova Reyes")
]
CLASSES = ("none", "abuse", "threat")


def main() -> None:
    rows = [json.loads(line) for line in LABELLED.read_text().splitlines() if line.strip()]
    names, models = NameIndex(PEOPLE), load_text_models()
    confusion: Counter[tuple[str, str]] = Counter()
    misses = []
    for row in rows:
        found = harassment(TrackText(source="upload", lyrics=row["text"]), names, models).severity
        confusion[(row["label"], found)] += 1
        if found != row["label"]:
            misses.append({"text": row["text"], "label": row["label"], "found": found})
    report: dict[str, object] = {
        "lines": len(rows),
        "by_label": dict(Counter(r["label"] for r in rows)),
        "explicit_lyrics_lines": sum(1 for r in rows if r["group"] == "explicit_lyrics"),
    }
    for cls in ("threat", "abuse"):
        predicted = sum(v for (_, f), v in confusion.items() if f == cls)
        actual = sum(v for (label, _), v in confusion.items() if label == cls)
        hit = confusion[(cls, cls)]
        report[f"{cls}_precision"] = round(hit / predicted, 4) if predicted else None
        report[f"{cls}_recall"] = round(hit / actual, 4) if actual else None
    flagged = sum(v for (label, f), v in confusion.items() if label != "none" and f != "none")
    report["any_harassment_recall"] = round(
        flagged / sum(v for (label, _), v in confusion.items() if label != "none"), 4
    )
    report["explicit_lyrics_flagged"] = sum(
        1 for r in rows if r["group"] == "explicit_lyrics" and any(m["text"] == r["text"] for m in misses)
    )
    report["confusion"] = {
        f"{label}->{found}": confusion[(label, found)] for label in CLASSES for found in CLASSES
    }
    console = Console(stderr=True)
    for miss in misses:
        console.print(f"[yellow]{miss['label']} -> {miss['found']}[/yellow] {miss['text']}", highlight=False)
    print(json.dumps(report))


if __name__ == "__main__":
    main()

"""The labelled text corpus and its split: what `bench.harassment` reports is only honest while the
test writers share no target name with the training writers and every line is well formed."""

from __future__ import annotations

import json
import re
from typing import get_args

from corpus import texts


def _name_parts(author: str) -> set[str]:
    """Every word of three letters or more in the author's registered names and aliases (a
    double-barrelled surname is one word, as the name finder reads it), but for titles and the
    words of band names that name no one."""
    rows = json.loads((texts.HERE / f"people_{author}.json").read_text())
    words = (
        w.lower() for row in rows for n in [row["name"], *row["aliases"]] for w in re.split(r"[^A-Za-z-]+", n)
    )
    return {w for w in words if len(w) >= 3} - {"the", "and", "crew", "band", "choir", "lil"}


def test_test_writers_share_no_name_part_with_training_writers() -> None:
    training = set().union(
        *(_name_parts(a) for a in (*texts.TRAIN_AUTHORS, *texts.NOT_YET_TRAINED_AUTHORS) if a != "seed")
    )
    training |= {w.lower() for n in texts.SEED_PEOPLE for w in n.split()}
    for author in texts.TEST_AUTHORS:
        assert _name_parts(author) & training == set(), author


def test_every_line_is_labelled_and_names_only_its_writers_people() -> None:
    for author in (*texts.TRAIN_AUTHORS, *texts.NOT_YET_TRAINED_AUTHORS, *texts.TEST_AUTHORS):
        if author == "seed":
            continue
        registered = {p.name for p in texts.people((author,))}
        for line in texts.lines((author,)):
            assert line.label in get_args(texts.Label) and line.field in get_args(texts.Field), line
            assert line.person is None or line.person in registered, line
            assert line.author == author and line.text.strip(), line


def test_no_writer_is_both_trained_on_and_tested_on() -> None:
    assert set((*texts.TRAIN_AUTHORS, *texts.NOT_YET_TRAINED_AUTHORS)).isdisjoint(texts.TEST_AUTHORS)

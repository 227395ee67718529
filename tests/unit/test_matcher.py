from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from corpus import synth
from detectors.audio import decode
from detectors.catalog import decode_items
from detectors.fingerprint import chromaprint_fingerprint
from detectors.matcher import Items, align, terms, totals

RATE = synth.SAMPLE_RATE


@cache
def song(seed: int) -> npt.NDArray[np.float32]:
    return synth.song(seed=seed, seconds=90)


def items_of(samples: npt.NDArray[np.float32], path: Path) -> Items:
    synth.write(path, samples)
    return decode_items(chromaprint_fingerprint(decode(path, 22050, 600)).fingerprint)


def clip(seed: int, start_s: float, end_s: float) -> npt.NDArray[np.float32]:
    return song(seed)[int(start_s * RATE) : int(end_s * RATE)]


@pytest.fixture(scope="module")
def masters(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Items]:
    folder = tmp_path_factory.mktemp("masters")
    return {seed: items_of(song(seed), folder / f"{seed}.wav") for seed in (1, 2)}


def test_whole_copy_matches_end_to_end(masters: dict[int, Items]) -> None:
    (segment,) = align(masters[1], masters[1])
    assert segment.upload_start_s == 0 and segment.upload_end_s == pytest.approx(90, abs=0.5)
    assert segment.bit_error_rate == 0


@pytest.mark.parametrize(
    ("start", "length", "suffix"), [(17.3, 10, ".mp3"), (40.0, 5, ".wav"), (61.1, 30, ".mp3")]
)
def test_an_excerpt_is_found_where_it_comes_from(
    masters: dict[int, Items], tmp_path: Path, start: float, length: float, suffix: str
) -> None:
    query = items_of(clip(1, start, start + length), tmp_path / f"excerpt{suffix}")
    segments = align(query, masters[1])
    assert len(segments) == 1
    assert segments[0].reference_start_s == pytest.approx(start, abs=0.5)
    assert totals(segments, length).share_of_upload > 0.9


def test_a_medley_finds_each_master_with_boundaries_within_a_second(
    masters: dict[int, Items], tmp_path: Path
) -> None:
    filler = synth.song(seed=3, seconds=40)
    medley = np.concatenate(
        [
            filler[: 10 * RATE],
            clip(1, 20, 35),
            filler[10 * RATE : 20 * RATE],
            clip(2, 50, 62),
            filler[20 * RATE : 30 * RATE],
        ]
    )
    query = items_of(medley, tmp_path / "medley.wav")
    for seed, (start, end) in ((1, (10, 25)), (2, (35, 47))):
        (segment,) = align(query, masters[seed])
        assert segment.upload_start_s == pytest.approx(start, abs=1.0)
        assert segment.upload_end_s == pytest.approx(end, abs=1.0)


@pytest.mark.parametrize(
    ("name", "samples"),
    [
        ("unrelated song", lambda: synth.song(seed=4, seconds=30)),
        ("silence", lambda: np.zeros(20 * RATE, dtype=np.float32)),
        ("a loop of another song", lambda: np.tile(clip(2, 30, 32), 10)),
        ("too short", lambda: clip(1, 20, 22.5)),
    ],
)
def test_no_false_match(masters: dict[int, Items], tmp_path: Path, name: str, samples: object) -> None:
    query = items_of(samples(), tmp_path / "q.wav")  # type: ignore[operator]
    assert align(query, masters[1]) == []


def test_terms_are_item_halves_without_silence() -> None:
    items = np.array([0x12345678, 627964279, 0x12349999], dtype=np.uint32)
    assert sorted(terms(items)) == ["h1234", "l5678", "l9999"]

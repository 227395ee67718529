from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from corpus import synth


def sine(freq: float, seconds: float, amplitude: float, rate: int = 44100) -> npt.NDArray[np.float32]:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture
def song_file(tmp_path: Path) -> Path:
    return synth.write(tmp_path / "song.wav", synth.song(seed=11, seconds=20))

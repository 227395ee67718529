"""A worker reads ahead only as far as configured: past that its streams stop fetching."""

from __future__ import annotations

from pathlib import Path

from model.settings import Settings
from streams.app import create_app


def test_streams_stop_fetching_past_the_configured_buffer(tmp_path: Path) -> None:
    app = create_app(Settings(stream_buffer_size=7, store_dir=tmp_path / "store"))
    assert app.conf.stream_buffer_maxsize == 7

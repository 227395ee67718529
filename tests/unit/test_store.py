from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from streams.store import UnsupportedAudioUri, local_path, put


def test_store_is_content_addressed_and_keeps_one_copy(tmp_path: Path) -> None:
    store = tmp_path / "store"
    a, b = tmp_path / "a.mp3", tmp_path / "b.mp3"
    a.write_bytes(b"same bytes")
    b.write_bytes(b"same bytes")
    first, second = put(a, store), put(b, store)
    assert first == second
    assert first.sha256 == hashlib.sha256(b"same bytes").hexdigest()
    assert local_path(first.uri).name == first.sha256
    assert local_path(first.uri).read_bytes() == b"same bytes"
    assert len([p for p in store.rglob("*") if p.is_file()]) == 1


def test_other_uri_schemes_are_refused_clearly() -> None:
    with pytest.raises(UnsupportedAudioUri, match="'s3' is not supported"):
        local_path("s3://bucket/key")

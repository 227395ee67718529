from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from streams.store import AudioUnavailable, UnsupportedAudioUri, local_file_within, local_path, put


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


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path]:
    """An ingest folder with audio in it, and a folder outside it with a secret."""
    inside, outside = tmp_path / "ingest", tmp_path / "elsewhere"
    (inside / "sub").mkdir(parents=True)
    outside.mkdir()
    (inside / "sub" / "take 1 (100%).wav").write_bytes(b"audio")
    (outside / "secret").write_bytes(b"secret")
    (inside / "link-out").symlink_to(outside / "secret")
    (inside / "dir-link").symlink_to(outside)
    return inside, outside


def test_a_uri_inside_the_roots_resolves_whatever_its_name_holds(roots: tuple[Path, Path]) -> None:
    inside, _ = roots
    target = inside / "sub" / "take 1 (100%).wav"
    assert target.as_uri().endswith("take%201%20%28100%25%29.wav")
    assert local_file_within(target.as_uri(), [inside]) == target.resolve()
    localhost = target.as_uri().replace("file://", "file://localhost")
    assert local_file_within(localhost, [inside]) == target.resolve()


@pytest.mark.parametrize(
    "where",
    [
        "{outside}/secret",  # outside the roots
        "{outside}/absent",  # absent outside
        "{inside}/absent.wav",  # absent inside
        "{inside}/link-out",  # a symlink inside pointing outside
        "{inside}/dir-link/secret",  # through a symlinked folder
        "{inside}/sub/../../elsewhere/secret",  # climbing out
        "{inside}/sub/..%2F..%2Felsewhere%2Fsecret",  # climbing out, encoded
        "{inside}/sub",  # a folder
        "/etc/shadow",
        "/proc/self/environ",
    ],
)
def test_absent_and_forbidden_get_the_same_answer(roots: tuple[Path, Path], where: str) -> None:
    inside, outside = roots
    uri = "file://" + where.format(inside=inside, outside=outside)
    with pytest.raises(AudioUnavailable) as refused:
        local_file_within(uri, [inside])
    assert str(refused.value) == "no audio file at that URI inside the ingest folders"


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        ("file://fileserver/ingest/a.wav", "this machine"),
        ("file://user@localhost:22/ingest/a.wav", "this machine"),
        ("https://example.com/a.wav", "'https' is not supported"),
        ("file:///ingest/a.wav?x=1", "no query"),
    ],
)
def test_other_hosts_and_schemes_are_refused(roots: tuple[Path, Path], uri: str, says: str) -> None:
    with pytest.raises(UnsupportedAudioUri, match=says):
        local_file_within(uri, [roots[0]])

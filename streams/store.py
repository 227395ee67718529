"""A local content-addressed audio store: each file is kept once, named by its sha256.

Audio is referred to by URI so other stores (object storage, say) can be added by scheme.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

_CHUNK = 1 << 20


class UnsupportedAudioUri(ValueError):
    """An audio URI whose scheme no configured store serves, or a file:// URI of another host."""


class AudioUnavailable(ValueError):
    """No audio file at that URI inside the allowed folders. Absent, outside the folders and not
    a regular file are one answer, so the answer tells nothing about files outside them."""

    def __init__(self) -> None:
        super().__init__("no audio file at that URI inside the ingest folders")


@dataclass(frozen=True)
class StoredAudio:
    sha256: str
    uri: str
    size: int


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def object_path(store_dir: Path, sha256: str) -> Path:
    return store_dir / "sha256" / sha256[:2] / sha256


def put(path: Path, store_dir: Path) -> StoredAudio:
    """Copy `path` into the store (once) and return its content address."""
    sha256 = sha256_of(path)
    target = object_path(store_dir, sha256)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp, path.open("rb") as source:
            shutil.copyfileobj(source, tmp, _CHUNK)
        os.replace(tmp.name, target)
    return StoredAudio(sha256=sha256, uri=target.resolve().as_uri(), size=target.stat().st_size)


def local_path(uri: str) -> Path:
    """The local file behind an audio URI (only `file://` on this machine, for now)."""
    parsed = urlsplit(uri)
    if parsed.scheme != "file":
        raise UnsupportedAudioUri(
            f"audio URI scheme {parsed.scheme or '(none)'!r} is not supported; use file://"
        )
    if parsed.netloc.lower() not in ("", "localhost"):
        raise UnsupportedAudioUri("a file:// URI must name this machine: no host, or localhost")
    if parsed.query or parsed.fragment:
        raise UnsupportedAudioUri("a file:// URI has no query or fragment; percent-encode ? and # in names")
    return Path(unquote(parsed.path))


def local_file_within(uri: str, roots: Sequence[Path]) -> Path:
    """The regular file behind a `file://` URI, with every symlink resolved, if it lies inside
    one of `roots` (resolved too); raises UnsupportedAudioUri (scheme, host) or AudioUnavailable."""
    path = local_path(uri)
    if "\0" in str(path) or not path.is_absolute():
        raise AudioUnavailable
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError) as exc:  # absent, unreadable folder, symlink loop
        raise AudioUnavailable from exc
    if not any(real.is_relative_to(root.resolve()) for root in roots) or not real.is_file():
        raise AudioUnavailable
    return real

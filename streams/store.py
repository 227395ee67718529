"""A local content-addressed audio store: each file is kept once, named by its sha256.

Audio is referred to by URI so other stores (object storage, say) can be added by scheme.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

_CHUNK = 1 << 20


class UnsupportedAudioUri(ValueError):
    """An audio URI whose scheme no configured store serves."""


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
    """The local file behind an audio URI (only `file://` for now)."""
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        raise UnsupportedAudioUri(
            f"audio URI scheme {parsed.scheme or '(none)'!r} is not supported; use file://"
        )
    return Path(unquote(parsed.path))

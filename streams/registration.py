"""Registering masters in the catalog, for every client (the CLI's manifests, the API): decode
the whole recording, take its reference prints, write them under the recording's metadata."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from detectors.audio import DecodeError, decode
from detectors.catalog import ReferencePrints, reference_prints
from index.catalog import CatalogStore
from model.findings import RecordingMetadata
from model.settings import Settings

_BATCH = 50


class Registration:
    def __init__(self, settings: Settings, catalog: CatalogStore) -> None:
        self._settings, self._catalog = settings, catalog

    def fingerprint(self, path: Path) -> ReferencePrints:
        """Raises DecodeError for audio that cannot be read."""
        audio = decode(
            path,
            sample_rate=self._settings.analysis_sample_rate,
            max_seconds=self._settings.max_audio_seconds,
            min_seconds=self._settings.min_audio_seconds,
        )
        return reference_prints(audio)

    def register(self, meta: RecordingMetadata, path: Path) -> ReferencePrints:
        prints = self.fingerprint(path)
        self._catalog.register([(meta, prints)])
        return prints

    def register_many(
        self,
        entries: Iterable[tuple[Path, RecordingMetadata]],
        advance: Callable[[int], None] = lambda n: None,
        on_error: Callable[[RecordingMetadata, DecodeError], Exception] = lambda meta, exc: exc,
    ) -> int:
        """Fingerprint and register in batches; `on_error` turns a recording's DecodeError into
        the exception to raise. Returns how many were written."""
        written = 0
        batch: list[tuple[RecordingMetadata, ReferencePrints]] = []
        for path, meta in entries:
            try:
                batch.append((meta, self.fingerprint(path)))
            except DecodeError as exc:
                raise on_error(meta, exc) from exc
            advance(1)
            if len(batch) == _BATCH:
                written += self._catalog.register(batch)
                batch = []
        if batch:
            written += self._catalog.register(batch)
        return written

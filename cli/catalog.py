"""Catalog registration from a manifest (JSONL or CSV) of recordings and their audio files."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from detectors import modified
from detectors.audio import DecodeError
from detectors.catalog import decode_items
from detectors.matcher import Items, popcount
from index.catalog import CatalogStore
from index.compositions import CompositionConflict, CompositionStore
from model.events import describe_validation_error
from model.findings import CompositionMetadata, RecordingMetadata
from model.settings import Settings
from streams.registration import Registration

_TRUE = {"1", "true", "yes", "y"}
M = TypeVar("M", RecordingMetadata, CompositionMetadata)


class ManifestError(ValueError):
    """A manifest row that cannot be registered; the message names the row and the problem."""


def _normalise(row: dict[str, Any]) -> dict[str, Any]:
    """CSV cells are strings: split lists of names on ';', read booleans and royalty rates."""
    out = {k: v for k, v in row.items() if v not in (None, "") and k != "file"}
    for names in ("artists", "writers"):
        if isinstance(out.get(names), str):
            out[names] = [a.strip() for a in out[names].split(";") if a.strip()]
    for flag in ("artist_opt_out", "opt_out"):
        if isinstance(out.get(flag), str):
            out[flag] = out[flag].strip().lower() in _TRUE
    if "royalty_rate" in out:  # a fraction such as 0.15, converted exactly to basis points
        try:
            out["royalty_rate_bp"] = int((Decimal(str(out.pop("royalty_rate"))) * 10_000).to_integral_exact())
        except InvalidOperation as exc:
            raise ValueError(f"royalty_rate is not a number: {row.get('royalty_rate')!r}") from exc
    return out


def read_manifest(manifest: Path) -> list[tuple[Path, RecordingMetadata]]:
    entries = [(audio, meta) for audio, meta in _read_rows(manifest, RecordingMetadata, True) if audio]
    isrcs = [meta.isrc for _, meta in entries]
    duplicates = sorted({i for i in isrcs if isrcs.count(i) > 1})
    if duplicates:
        raise ManifestError(f"{manifest.name}: ISRC listed more than once: {', '.join(duplicates)}")
    return entries


def read_compositions(manifest: Path) -> list[tuple[Path | None, CompositionMetadata]]:
    """Compositions, each with the file of a reference performance if the row names one."""
    entries = _read_rows(manifest, CompositionMetadata, False)
    ids = [meta.work_id for _, meta in entries]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ManifestError(f"{manifest.name}: work id listed more than once: {', '.join(duplicates)}")
    return entries


def _read_rows(manifest: Path, model: type[M], file_required: bool) -> list[tuple[Path | None, M]]:
    if manifest.suffix.lower() == ".csv":
        with manifest.open(newline="") as handle:
            rows: list[dict[str, Any]] = list(csv.DictReader(handle))
    else:
        rows = []
        for number, line in enumerate(manifest.read_text().splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ManifestError(f"{manifest.name} line {number}: not JSON ({exc})") from exc
    entries: list[tuple[Path | None, M]] = []
    for number, row in enumerate(rows, 1):
        where = f"{manifest.name} row {number}"
        if not isinstance(row, dict):
            raise ManifestError(f"{where}: expected an object")
        audio = None
        if row.get("file"):
            audio = (manifest.parent / str(row["file"])).resolve()
            if not audio.is_file():
                raise ManifestError(f"{where}: audio file not found: {audio}")
        elif file_required:
            raise ManifestError(f"{where}: no 'file' column naming the audio")
        try:
            entries.append((audio, model.model_validate(_normalise(row))))
        except ValidationError as exc:
            raise ManifestError(f"{where}: {describe_validation_error(exc)}") from exc
        except ValueError as exc:
            raise ManifestError(f"{where}: {exc}") from exc
    return entries


def add_from_manifest(
    manifest: Path,
    settings: Settings,
    catalog: CatalogStore,
    advance: Callable[[int], None] = lambda n: None,
    compositions: CompositionStore | None = None,
) -> int:
    """Fingerprint every recording (the whole of it) and register them in batches; a recording
    naming its composition (`work_id`, registered before) becomes a performance of it."""
    entries = read_manifest(manifest)
    named = sorted({meta.work_id for _, meta in entries if meta.work_id})
    if named and compositions is None:
        raise ManifestError(f"{manifest.name}: rows name compositions, but no composition catalog is open")
    unknown = [w for w in named if compositions is not None and compositions.get(w) is None]
    if unknown:
        raise ManifestError(
            f"{manifest.name}: composition(s) not registered: {', '.join(unknown)} "
            "(register them first with `clearance catalog add-compositions`)"
        )
    return Registration(settings, catalog, compositions).register_many(
        entries, advance, on_error=lambda meta, exc: ManifestError(f"{meta.isrc}: {exc}")
    )


def add_compositions(
    manifest: Path,
    settings: Settings,
    catalog: CatalogStore,
    compositions: CompositionStore,
    advance: Callable[[int], None] = lambda n: None,
) -> int:
    """Register compositions, and the reference performance of each row that names a file.
    Each is written on its own: a rerun after an interruption repeats only idempotent writes."""
    registration = Registration(settings, catalog, compositions)
    written = 0
    for audio, meta in read_compositions(manifest):
        try:
            performance = registration.cover_print(audio) if audio is not None else None
        except DecodeError as exc:
            raise ManifestError(f"{meta.work_id}: {exc}") from exc
        try:
            compositions.register(meta)
        except CompositionConflict as exc:
            raise ManifestError(str(exc)) from exc
        if performance is not None:
            compositions.add_performance(meta.work_id, "reference", performance)
        written += 1
        advance(1)
    return written


@dataclass
class Reprint:
    """What `reprint_from_manifest` did, recording by recording."""

    updated: int = 0
    already_current: int = 0
    not_registered: int = 0
    not_the_registered_audio: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)


# A file whose Chromaprint differs from the stored one by more than this is not the recording
# that was registered (a re-encode of the same master stays far below it).
_SAME_AUDIO_MAX_BER = 0.15


def reprint_from_manifest(
    manifest: Path, settings: Settings, catalog: CatalogStore, advance: Callable[[int], None] = lambda n: None
) -> Reprint:
    """Add the current third fingerprint (peaks for modified matches) to recordings registered
    before it or with peaks of an older format, from the manifest they were registered with. Each
    recording is updated on its own, so an interrupted run loses nothing and the next one goes on
    where it stopped; recordings already current, not registered, or whose file is not the
    registered audio are left alone."""
    registration = Registration(settings, catalog)
    report = Reprint()
    for path, meta in read_manifest(manifest):
        stored = catalog.stored_fingerprint(meta.isrc)
        if stored is None:
            report.not_registered += 1
        elif stored[1] == modified.VERSION:
            report.already_current += 1
        else:
            try:
                prints = registration.fingerprint(path)
            except DecodeError:
                report.unreadable.append(meta.isrc)
            else:
                same = _same_audio(decode_items(prints.chromaprint.fingerprint), decode_items(stored[0]))
                if not same:
                    report.not_the_registered_audio.append(meta.isrc)
                elif catalog.add_peaks(meta.isrc, prints.peaks):
                    report.updated += 1
        advance(1)
    return report


def _same_audio(file_items: Items, stored_items: Items) -> bool:
    n = min(len(file_items), len(stored_items))
    if n == 0 or abs(len(file_items) - len(stored_items)) > max(8, n // 50):
        return False
    return float(popcount(file_items[:n] ^ stored_items[:n]).mean()) / 32 <= _SAME_AUDIO_MAX_BER

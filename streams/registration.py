"""Registering masters in the catalog, for every client (the CLI's manifests, the API): decode
the whole recording, take its reference prints, write them under the recording's metadata.

The API registers in the background (`RegistrationJobs`): a decode of up to 30 minutes of audio
does not belong in a request."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from detectors.audio import DecodedAudio, DecodeError, decode
from detectors.catalog import ReferencePrints, reference_prints
from detectors.covers import CoverPrint, cover_print
from index.catalog import CatalogStore, OwnershipConflict
from index.compositions import CompositionStore
from index.jobs import JobStore
from model.findings import RecordingMetadata
from model.settings import Settings
from streams.logs import get_logger

_BATCH = 50
KIND = "registration"
log = get_logger("clearance.registration")


class Registration:
    def __init__(
        self, settings: Settings, catalog: CatalogStore, compositions: CompositionStore | None = None
    ) -> None:
        self._settings, self._catalog, self._compositions = settings, catalog, compositions

    def fingerprint(self, path: Path, with_cover: bool = False) -> ReferencePrints:
        """Raises DecodeError for audio that cannot be read."""
        return reference_prints(self._decode(path), with_cover)

    def cover_print(self, path: Path) -> CoverPrint:
        """A composition's print from a performance of it; raises DecodeError."""
        audio = self._decode(path)
        return cover_print(audio.samples, audio.sample_rate)

    def _decode(self, path: Path) -> DecodedAudio:
        return decode(
            path,
            sample_rate=self._settings.analysis_sample_rate,
            max_seconds=self._settings.max_audio_seconds,
            min_seconds=self._settings.min_audio_seconds,
        )

    def register(self, meta: RecordingMetadata, path: Path) -> ReferencePrints:
        """One recording for its rights holder; raises DecodeError, or OwnershipConflict when the
        ISRC is another holder's (checked by the write, not before the decode)."""
        prints = self.fingerprint(path, with_cover=self._performs_composition(meta))
        self._catalog.register_owned(meta, prints)
        self._add_performance(meta, prints)
        return prints

    def _performs_composition(self, meta: RecordingMetadata) -> bool:
        return meta.work_id is not None and self._compositions is not None

    def _add_performance(self, meta: RecordingMetadata, prints: ReferencePrints) -> None:
        """The master's print as a performance of the composition it names (registered first)."""
        if self._compositions is not None and meta.work_id is not None and prints.cover is not None:
            self._compositions.add_performance(meta.work_id, meta.isrc, prints.cover)

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
                batch.append((meta, self.fingerprint(path, with_cover=self._performs_composition(meta))))
            except DecodeError as exc:
                raise on_error(meta, exc) from exc
            advance(1)
            if len(batch) == _BATCH:
                written += self._register_batch(batch)
                batch = []
        if batch:
            written += self._register_batch(batch)
        return written

    def _register_batch(self, batch: list[tuple[RecordingMetadata, ReferencePrints]]) -> int:
        written = self._catalog.register(batch)
        for meta, prints in batch:
            self._add_performance(meta, prints)
        return written


class QueueFull(Exception):
    """As many registrations are waiting as the API takes; retry later."""


class RegistrationJobs:
    """Registrations off the request path: the upload is moved to a spool folder, a small pool of
    threads (decoding runs in ffmpeg, fingerprinting mostly in numpy and libchromaprint) registers
    it, and the job's state is kept in Elasticsearch (index/jobs.py)."""

    def __init__(
        self,
        registration: Registration,
        jobs: JobStore,
        settings: Settings,
        on_registered: Callable[[RecordingMetadata], str | None] = lambda meta: None,
    ) -> None:
        self._registration, self._jobs = registration, jobs
        self._on_registered = on_registered  # starts the recording's backfill; returns its job id
        self._spool = settings.store_dir.parent / "registrations"
        self._pool = ThreadPoolExecutor(settings.api_registration_workers, thread_name_prefix="registration")
        self._max_waiting = settings.api_registration_queue
        self._waiting: dict[str, Future[None]] = {}
        self._lock = threading.Lock()

    def submit(self, meta: RecordingMetadata, upload: Path) -> dict[str, Any]:
        """Queue the registration of `upload` (moved away: the caller's copy is gone); returns the
        job. Raises QueueFull."""
        with self._lock:
            if len(self._waiting) >= self._max_waiting:
                raise QueueFull(f"{len(self._waiting)} registrations are waiting; retry in a minute")
            job = self._jobs.create(KIND, meta.rights_holder, meta.isrc)
            self._spool.mkdir(parents=True, exist_ok=True)
            spooled = Path(shutil.move(upload, self._spool / job["job_id"]))
            self._waiting[job["job_id"]] = self._pool.submit(self._run, job["job_id"], meta, spooled)
        return job

    def _run(self, job_id: str, meta: RecordingMetadata, path: Path) -> None:
        try:
            self._jobs.update(job_id, "running")
            prints = self._registration.register(meta, path)
            result = {
                "duration_s": prints.chromaprint.duration_s,
                "item_count": prints.chromaprint.item_count,
                "landmark_count": len(prints.landmarks),
                "backfill_job": self._claim_retroactively(meta),
            }
            self._jobs.update(job_id, "done", result=result)
        except DecodeError as exc:
            self._jobs.update(job_id, "failed", reason=f"unsupported audio: {exc}")
        except OwnershipConflict as exc:
            self._jobs.update(job_id, "failed", reason=str(exc))
        except Exception:
            log.exception("registration failed", job_id=job_id, isrc=meta.isrc)
            self._jobs.update(job_id, "failed", reason="the registration failed on the server; retry")
        finally:
            path.unlink(missing_ok=True)
            with self._lock:
                self._waiting.pop(job_id, None)

    def _claim_retroactively(self, meta: RecordingMetadata) -> str | None:
        """Start the recording's backfill; the registration stands if it cannot be started (it
        can be started by hand: `clearance backfill request recording ISRC`)."""
        try:
            return self._on_registered(meta)
        except Exception:
            log.exception("backfill not started", isrc=meta.isrc)
            return None

    def shutdown(self) -> None:
        """Let the running registrations finish; the queued ones fail (they would be lost)."""
        with self._lock:
            cancelled = [job_id for job_id, future in self._waiting.items() if future.cancel()]
        self._pool.shutdown(wait=True)
        for job_id in cancelled:
            self._jobs.update(job_id, "failed", reason="the API stopped before the job ran; submit it again")
            (self._spool / job_id).unlink(missing_ok=True)
            with self._lock:
                self._waiting.pop(job_id, None)

"""Runs every available detector on one decoded track, timing each one.

A detector that fails yields an `error` finding; the others still run, so one broken
detector never loses a track.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from detectors import facts, fingerprint
from detectors.audio import DecodedAudio
from detectors.findings import Finding, FindingResult


@dataclass(frozen=True)
class Detector:
    name: str
    version: str
    run: Callable[[DecodedAudio], FindingResult]


DETECTORS: tuple[Detector, ...] = (
    Detector(facts.NAME, facts.VERSION, facts.audio_facts),
    Detector(fingerprint.NAME, fingerprint.VERSION, fingerprint.chromaprint_fingerprint),
)


def run_detectors(audio: DecodedAudio, detectors: tuple[Detector, ...] = DETECTORS) -> list[Finding]:
    return [_run_one(detector, audio) for detector in detectors]


def _run_one(detector: Detector, audio: DecodedAudio) -> Finding:
    started = time.perf_counter()
    try:
        result = detector.run(audio)
    except Exception as exc:  # a detector bug must not lose the track
        return Finding(
            detector=detector.name,
            version=detector.version,
            took_ms=_ms_since(started),
            status="error",
            error=f"{type(exc).__name__}: {exc}",
        )
    return Finding(
        detector=detector.name,
        version=detector.version,
        took_ms=_ms_since(started),
        status="ok",
        result=result,
    )


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)

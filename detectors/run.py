"""Runs the detectors on one decoded track, in order, timing each one. A detector sees the
results of those before it (catalog matching uses the fingerprint).

A detector that fails yields an `error` finding; the others still run, so one broken
detector never loses a track.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from detectors import catalog, facts, fingerprint
from detectors.audio import DecodedAudio
from detectors.catalog import CatalogLookup, CatalogMatcher
from detectors.findings import Finding, FindingResult
from detectors.watermark import detect

DetectorFunction = Callable[[DecodedAudio, Mapping[str, FindingResult]], FindingResult]


@dataclass(frozen=True)
class Detector:
    name: str
    version: str
    run: DetectorFunction


@dataclass(frozen=True)
class WatermarkModel:
    source: str
    threshold: float


def standard_detectors(
    lookup: CatalogLookup | None, watermark: WatermarkModel | None = None
) -> tuple[Detector, ...]:
    """Audio facts and the fingerprint always; catalog matching when a catalog is available;
    watermark detection when a detector model is configured."""
    detectors: tuple[Detector, ...] = (
        Detector(facts.NAME, facts.VERSION, lambda audio, _: facts.audio_facts(audio)),
        Detector(
            fingerprint.NAME, fingerprint.VERSION, lambda audio, _: fingerprint.chromaprint_fingerprint(audio)
        ),
    )
    if watermark is not None:
        detectors = (
            *detectors,
            Detector(
                detect.NAME,
                detect.VERSION,
                lambda audio, _: detect.detect(
                    audio.samples, audio.sample_rate, watermark.source, watermark.threshold
                ),
            ),
        )
    if lookup is None:
        return detectors
    return (*detectors, Detector(catalog.NAME, catalog.VERSION, CatalogMatcher(lookup)))


def run_detectors(audio: DecodedAudio, detectors: tuple[Detector, ...]) -> list[Finding]:
    findings: list[Finding] = []
    results: dict[str, FindingResult] = {}
    for detector in detectors:
        finding = _run_one(detector, audio, results)
        if finding.result is not None:
            results[detector.name] = finding.result
        findings.append(finding)
    return findings


def _run_one(detector: Detector, audio: DecodedAudio, earlier: Mapping[str, FindingResult]) -> Finding:
    started = time.perf_counter()
    try:
        result = detector.run(audio, earlier)
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

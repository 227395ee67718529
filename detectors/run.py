"""Runs the detectors on one track (decoded audio and its text), in order, timing each one. A
detector sees the results of those before it (catalog matching uses the fingerprint).

A detector that fails yields an `error` finding; the others still run, so one broken
detector never loses a track.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from detectors import catalog, facts, fingerprint, harassment, impersonation, voice
from detectors.audio import DecodedAudio
from detectors.catalog import CatalogLookup, CatalogMatcher
from detectors.names import NameIndex, Person
from detectors.text import TrackText
from detectors.voice import Voiceprint
from detectors.watermark import detect
from model.findings import Finding, FindingResult
from model.limits import MESSAGE_CHARS, clip


@dataclass(frozen=True)
class Track:
    audio: DecodedAudio
    text: TrackText


DetectorFunction = Callable[[Track, Mapping[str, FindingResult]], FindingResult]


@dataclass(frozen=True)
class Detector:
    name: str
    version: str
    run: DetectorFunction


@dataclass(frozen=True)
class WatermarkModel:
    source: str
    threshold: float


class PeopleLookup(Protocol):
    """Real people the text and voice checks know: catalog artists, registered people, opt-outs."""

    def people(self) -> list[Person]: ...

    def names(self) -> NameIndex: ...

    def opted_out_names(self) -> NameIndex: ...

    def voiceprints(self) -> list[Voiceprint]: ...


@dataclass(frozen=True)
class VoiceThresholds:
    takedown: float
    review: float


def standard_detectors(
    lookup: CatalogLookup | None,
    watermark: WatermarkModel | None = None,
    people: PeopleLookup | None = None,
    voice_thresholds: VoiceThresholds | None = None,
) -> tuple[Detector, ...]:
    """Audio facts and the fingerprint always; watermark detection with a detector model;
    catalog matching with a catalog; the text and voice checks with a people registry."""
    detectors: list[Detector] = [
        Detector(facts.NAME, facts.VERSION, lambda track, _: facts.audio_facts(track.audio)),
        Detector(
            fingerprint.NAME,
            fingerprint.VERSION,
            lambda track, _: fingerprint.chromaprint_fingerprint(track.audio),
        ),
    ]
    if watermark is not None:
        detectors.append(
            Detector(
                detect.NAME,
                detect.VERSION,
                lambda track, _: detect.detect(
                    track.audio.samples, track.audio.sample_rate, watermark.source, watermark.threshold
                ),
            )
        )
    if lookup is not None:
        matcher = CatalogMatcher(lookup)
        detectors.append(
            Detector(catalog.NAME, catalog.VERSION, lambda track, earlier: matcher(track.audio, earlier))
        )
    if people is not None:
        detectors.extend(_people_detectors(people, voice_thresholds or VoiceThresholds(0.8, 0.74)))
    return tuple(detectors)


def _people_detectors(people: PeopleLookup, thresholds: VoiceThresholds) -> list[Detector]:
    def names_check(track: Track, _: Mapping[str, FindingResult]) -> FindingResult:
        return impersonation.name_requests(track.text, people.opted_out_names())

    def harassment_check(track: Track, _: Mapping[str, FindingResult]) -> FindingResult:
        return harassment.harassment(track.text, people.names(), harassment.load_text_models())

    def voice_check(track: Track, _: Mapping[str, FindingResult]) -> FindingResult:
        return voice.match_voiceprints(
            track.audio.samples,
            track.audio.sample_rate,
            people.voiceprints(),
            thresholds.takedown,
            thresholds.review,
        )

    return [
        Detector(impersonation.NAME, impersonation.VERSION, names_check),
        Detector(harassment.NAME, harassment.VERSION, harassment_check),
        Detector(voice.NAME, voice.VERSION, voice_check),
    ]


def run_detectors(track: Track, detectors: tuple[Detector, ...]) -> list[Finding]:
    findings: list[Finding] = []
    results: dict[str, FindingResult] = {}
    for detector in detectors:
        finding = _run_one(detector, track, results)
        if finding.result is not None:
            results[detector.name] = finding.result
        findings.append(finding)
    return findings


def _run_one(detector: Detector, track: Track, earlier: Mapping[str, FindingResult]) -> Finding:
    started = time.perf_counter()
    try:
        result = detector.run(track, earlier)
    except Exception as exc:  # a detector bug must not lose the track
        return Finding(
            detector=detector.name,
            version=detector.version,
            took_ms=_ms_since(started),
            status="error",
            error=clip(f"{type(exc).__name__}: {exc}", MESSAGE_CHARS),
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

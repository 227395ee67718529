"""Runs the detectors on one track (decoded audio and its text), in order, timing each one. A
detector sees the results of those before it (catalog matching uses the fingerprint).

A detector that fails yields an `error` finding; the others still run, so one broken
detector never loses a track.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, cast

import numpy as np
import numpy.typing as npt

from detectors import (
    catalog,
    covers,
    credentials,
    facts,
    fingerprint,
    harassment,
    impersonation,
    provenance,
    voice,
)
from detectors.audio import DecodedAudio
from detectors.catalog import CatalogLookup, CatalogMatcher, QueryPrints, query_prints
from detectors.covers import CompositionLookup, CoverMatcher
from detectors.names import NameIndex, Person
from detectors.provenance import GeneratedLookup, GenerationFinder
from detectors.text import TrackText
from detectors.voice import Voiceprint
from detectors.watermark import detect
from detectors.watermark.architecture import SAMPLE_RATE as MONO_16K_RATE
from detectors.watermark.detect import to_mono_16k
from model.findings import (
    CatalogMatch,
    CompositionMatches,
    ContentCredentials,
    Finding,
    FindingResult,
    WatermarkDetection,
)
from model.limits import MESSAGE_CHARS, clip


@dataclass(frozen=True)
class Track:
    audio: DecodedAudio
    text: TrackText
    file: Path | None = None  # the file as uploaded (what Content Credentials are read from)
    memo: dict[str, object] = field(default_factory=dict, compare=False)  # work detectors share

    def mono_16k(self) -> npt.NDArray[np.float32]:
        """The audio as mono 16 kHz, resampled once for the detectors that read it at that rate
        (watermark and voice)."""
        resampled = self.memo.get("mono_16k")
        if not isinstance(resampled, np.ndarray):
            audio = self.audio
            resampled = self.memo["mono_16k"] = to_mono_16k(audio.samples, audio.sample_rate).numpy()
        return cast(npt.NDArray[np.float32], resampled)

    def prints(self, earlier: Mapping[str, FindingResult]) -> QueryPrints:
        """The upload's query fingerprints, taken once for every catalog searched."""
        taken = self.memo.get("query_prints")
        if not isinstance(taken, QueryPrints):
            taken = self.memo["query_prints"] = query_prints(self.audio, earlier)
        return taken


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
class VoiceCheck:
    takedown: float
    review: float
    bfloat16: bool = False  # uploads' segments embedded in bfloat16 where the CPU has it natively


@dataclass(frozen=True)
class ProvenanceSources:
    """Where generations are recognised from: the trust anchors Content Credentials are validated
    against (PEM; None trusts no signer) and the catalog of generated tracks."""

    trust_anchors_pem: str | None
    generated: GeneratedLookup | None


def detector_versions() -> dict[str, str]:
    """Every detector's current version by name."""
    modules = (
        facts,
        fingerprint,
        detect,
        catalog,
        covers,
        credentials,
        provenance,
        impersonation,
        harassment,
        voice,
    )
    return {module.NAME: module.VERSION for module in modules}


def standard_detectors(
    lookup: CatalogLookup | None,
    watermark: WatermarkModel | None = None,
    people: PeopleLookup | None = None,
    voice_check: VoiceCheck | None = None,
    provenance_sources: ProvenanceSources | None = None,
    compositions: CompositionLookup | None = None,
) -> tuple[Detector, ...]:
    """Audio facts and the fingerprint always; watermark detection with a detector model;
    catalog matching with a catalog; cover detection with registered compositions; Content
    Credentials and generation records with their sources; the text and voice checks with a
    people registry."""
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
                    track.mono_16k(),
                    MONO_16K_RATE,
                    watermark.source,
                    watermark.threshold,
                    screen=track.text.source == "upload",
                ),
            )
        )
    if lookup is not None:
        matcher = CatalogMatcher(lookup)
        detectors.append(
            Detector(catalog.NAME, catalog.VERSION, lambda track, earlier: matcher(track.prints(earlier)))
        )
    if compositions is not None:
        detectors.append(_composition_detector(compositions))
    if provenance_sources is not None:
        detectors.extend(_provenance_detectors(provenance_sources))
    if people is not None:
        detectors.extend(_people_detectors(people, voice_check or VoiceCheck(0.8, 0.74)))
    return tuple(detectors)


def _composition_detector(lookup: CompositionLookup) -> Detector:
    matcher = CoverMatcher(lookup)

    def find_covers(track: Track, earlier: Mapping[str, FindingResult]) -> FindingResult:
        found = matcher(
            covers.cover_print(track.audio.samples, track.audio.sample_rate), track.audio.duration_s
        )
        recordings = earlier.get(catalog.NAME)
        return with_recordings(found, recordings if isinstance(recordings, CatalogMatch) else None)

    return Detector(covers.NAME, covers.VERSION, find_covers)


def with_recordings(found: CompositionMatches, recordings: CatalogMatch | None) -> CompositionMatches:
    """Marks the compositions a matched recording performs: the upload copies or samples a
    master of the song (its label is paid by the recording match; the song's publisher by this)."""
    performed = {m.work_id for m in recordings.matches if m.work_id} if recordings is not None else set()
    if not performed:
        return found
    return found.model_copy(
        update={
            "matches": [
                m.model_copy(update={"also_recording": m.work_id in performed}) for m in found.matches
            ]
        }
    )


def _provenance_detectors(sources: ProvenanceSources) -> list[Detector]:
    def read_credentials(track: Track, _: Mapping[str, FindingResult]) -> FindingResult:
        if track.file is None:
            return ContentCredentials(state="absent")
        return credentials.read_credentials(track.file, sources.trust_anchors_pem)

    found = [Detector(credentials.NAME, credentials.VERSION, read_credentials)]
    if sources.generated is not None:
        finder = GenerationFinder(sources.generated)

        def find_generation(track: Track, earlier: Mapping[str, FindingResult]) -> FindingResult:
            read = earlier.get(credentials.NAME)
            mark = earlier.get(detect.NAME)
            return finder(
                track.prints(earlier),
                read if isinstance(read, ContentCredentials) else None,
                mark if isinstance(mark, WatermarkDetection) else None,
            )

        found.append(Detector(provenance.NAME, provenance.VERSION, find_generation))
    return found


def _people_detectors(people: PeopleLookup, check: VoiceCheck) -> list[Detector]:
    def names_check(track: Track, _: Mapping[str, FindingResult]) -> FindingResult:
        return impersonation.name_requests(track.text, people.opted_out_names())

    def harassment_check(track: Track, _: Mapping[str, FindingResult]) -> FindingResult:
        return harassment.harassment(track.text, people.names(), harassment.load_text_models())

    def voice_check(track: Track, _: Mapping[str, FindingResult]) -> FindingResult:
        return voice.match_voiceprints(
            track.mono_16k(),
            MONO_16K_RATE,
            people.voiceprints(),
            check.takedown,
            check.review,
            check.bfloat16,
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

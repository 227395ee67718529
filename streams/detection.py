"""The detectors a worker runs, built from the settings and the stores they look things up in."""

from __future__ import annotations

from decisions.policy import PlatformPolicy
from detectors.run import (
    Detector,
    ProvenanceSources,
    VoiceCheck,
    WatermarkModel,
    standard_detectors,
)
from index.registry import EsPeopleLookup
from index.stores import Stores
from model.settings import Settings


def worker_detectors(settings: Settings, stores: Stores, people: EsPeopleLookup) -> tuple[Detector, ...]:
    return standard_detectors(
        stores.catalog.lookup(),
        watermark_model(settings),
        people,
        voice_check(settings),
        ProvenanceSources(trust_anchors(settings), stores.generated.lookup()),
        stores.compositions.lookup(),
    )


def watermark_model(settings: Settings) -> WatermarkModel:
    return WatermarkModel(settings.watermark_detector, settings.watermark_threshold)


def voice_check(settings: Settings) -> VoiceCheck:
    """The platform's voice thresholds, as every worker applies them."""
    platform = PlatformPolicy()
    return VoiceCheck(
        platform.voice_takedown_similarity, platform.voice_review_similarity, settings.voice_bfloat16
    )


def trust_anchors(settings: Settings) -> str | None:
    """The PEM roots Content Credentials are validated against; without the file no signer is
    trusted (manifests still validate, as untrusted)."""
    path = settings.trust_anchors_path
    return path.read_text() if path.is_file() else None

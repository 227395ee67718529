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
    platform = PlatformPolicy()
    return standard_detectors(
        stores.catalog.lookup(),
        WatermarkModel(settings.watermark_detector, settings.watermark_threshold),
        people,
        VoiceCheck(
            platform.voice_takedown_similarity, platform.voice_review_similarity, settings.voice_bfloat16
        ),
        ProvenanceSources(trust_anchors(settings), stores.generated.lookup()),
        stores.compositions.lookup(),
    )


def trust_anchors(settings: Settings) -> str | None:
    """The PEM roots Content Credentials are validated against; without the file no signer is
    trusted (manifests still validate, as untrusted)."""
    path = settings.trust_anchors_path
    return path.read_text() if path.is_file() else None

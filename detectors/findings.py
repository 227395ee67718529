"""Typed findings, the detectors' output and part of the `TrackAnalyzed` event."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True)


class AudioFacts(_Result):
    """What the decoder saw, and the loudness of what it decoded."""

    kind: Literal["audio_facts"] = "audio_facts"
    duration_s: float = Field(ge=0)
    source_sample_rate: int = Field(gt=0)
    source_channels: int = Field(gt=0)
    codec: str
    container: str
    loudness_lufs: float | None = Field(description="ITU-R BS.1770-4 integrated loudness; None when silent")
    peak_dbfs: float | None = Field(description="sample peak of the mono mix; None when digital silence")
    silent: bool


class ChromaprintFingerprint(_Result):
    """Chromaprint fingerprint of the whole track (not only its first 120 s)."""

    kind: Literal["chromaprint"] = "chromaprint"
    algorithm: int
    item_count: int = Field(ge=0)
    items_per_second: float
    duration_s: float = Field(ge=0)
    fingerprint: str = Field(description="compressed, base64 as produced by chromaprint_encode_fingerprint")


FindingResult = Annotated[AudioFacts | ChromaprintFingerprint, Field(discriminator="kind")]


class Finding(BaseModel):
    """One detector's run on one track: who ran, how long it took, and what it found."""

    model_config = ConfigDict(frozen=True)

    detector: str
    version: str
    took_ms: float = Field(ge=0)
    status: Literal["ok", "error"]
    error: str | None = None
    result: FindingResult | None = None

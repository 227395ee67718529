"""Typed findings, the detectors' output and part of the `TrackAnalyzed` event."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from model.generation import AI_SOURCE_TYPES, GenerationRecord
from model.limits import LIST_ITEMS, MESSAGE_CHARS, NAME_CHARS, SENTENCE_CHARS, Label, Name, Title, WorkId


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True)


class AudioFacts(_Result):
    """What the decoder saw, and the loudness of what it decoded."""

    kind: Literal["audio_facts"] = "audio_facts"
    duration_s: float = Field(ge=0)
    source_sample_rate: int = Field(gt=0)
    source_channels: int = Field(gt=0)
    codec: Label
    container: str = Field(max_length=NAME_CHARS)
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


Modification = Literal[
    "none", "sped_up", "slowed", "pitch_shifted", "time_stretched", "pitch_shifted_and_time_stretched"
]
MODIFICATION_WORDS: dict[str, str] = {
    "none": "as registered",
    "sped_up": "sped up",
    "slowed": "slowed",
    "pitch_shifted": "pitch-shifted",
    "time_stretched": "time-stretched",
    "pitch_shifted_and_time_stretched": "pitch-shifted and time-stretched",
}


class MatchSegment(BaseModel):
    model_config = ConfigDict(frozen=True)

    upload_start_s: float
    upload_end_s: float
    reference_start_s: float
    reference_end_s: float
    method: Literal["chromaprint", "landmarks", "modified"] = Field(
        "chromaprint",
        description="chromaprint: frame-by-frame alignment; landmarks: spectral peaks shared at one "
        "time offset (what survives when the recording is mixed under other audio); modified: peak "
        "triplets that agree on one tempo factor and pitch shift (a sped-up, slowed, pitch-shifted "
        "or time-stretched copy)",
    )
    bit_error_rate: float | None = Field(None, description="chromaprint segments: mean bit error rate")
    aligned_landmarks: int | None = Field(
        None, description="landmark and modified segments: landmarks (triplets) that agree on the alignment"
    )
    peak_hit_rate: float | None = Field(
        None,
        description="landmark and modified segments: share of the reference's spectral peaks over the "
        "segment that the upload has where the alignment puts them (chance is a few percent)",
    )
    tempo_factor: float | None = Field(
        None,
        gt=0,
        description="modified segments: how many times as fast as the master the upload plays "
        "(1.25: sped up by a quarter; 0.85: slowed)",
    )
    pitch_shift_semitones: float | None = Field(
        None, description="modified segments: how far the upload's pitch is from the master's"
    )
    modification: Modification = Field(
        "none", description="what was done to the master in this segment, from the two figures"
    )
    score: float


class RecordingMetadata(BaseModel):
    """What a rights holder says about a recording when registering it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    isrc: str = Field(pattern=r"^[A-Z]{2}[A-Z0-9]{3}\d{7}$", description="e.g. USRC17607839")
    title: Title = Field(min_length=1)
    artists: list[Name] = Field(min_length=1, max_length=LIST_ITEMS)
    rights_holder: Name = Field(min_length=1)
    catalog: Label = Field("label-masters", min_length=1)
    policy: Literal["block", "monetize", "track"] = "track"
    artist_opt_out: bool = False
    royalty_rate_bp: int = Field(0, ge=0, le=10_000, description="royalty rate in basis points")
    work_id: WorkId | None = Field(
        None, description="the composition this recording performs (its registered work id)"
    )


class RecordingMatch(RecordingMetadata):
    """One catalog recording that part of the upload comes from."""

    segments: list[MatchSegment]
    seconds_matched: float
    share_of_upload: float
    longest_segment_s: float
    score: float
    modification: Modification = Field(
        "none", description="the longest segment's modification ('none': the master as registered)"
    )
    tempo_factor: float | None = Field(None, description="the longest segment's tempo factor, if modified")
    pitch_shift_semitones: float | None = Field(
        None, description="the longest segment's pitch shift, if modified"
    )


class CompositionMetadata(BaseModel):
    """What a publisher says about a composition (a song, as written) when registering it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    work_id: WorkId = Field(description="the composition's id: its ISWC, or the publisher's own id")
    iswc: str | None = Field(
        None, pattern=r"^T-?\d{3}\.?\d{3}\.?\d{3}-?\d$", description="e.g. T-345.246.800-1"
    )
    title: Title = Field(min_length=1)
    writers: list[Name] = Field(min_length=1, max_length=LIST_ITEMS)
    artists: list[Name] = Field(
        default_factory=list, max_length=LIST_ITEMS, description="artists the song is known by"
    )
    rights_holder: Name = Field(min_length=1, description="the publisher")
    catalog: Label = Field("publisher-songs", min_length=1)
    policy: Literal["block", "monetize", "track"] = "track"
    opt_out: bool = Field(False, description="its writers or artists opted out of AI covers")
    royalty_rate_bp: int = Field(0, ge=0, le=10_000, description="royalty rate in basis points")


class CompositionSegment(BaseModel):
    """A stretch of the upload that performs a stretch of the composition."""

    model_config = ConfigDict(frozen=True)

    upload_start_s: float
    upload_end_s: float
    reference_start_s: float = Field(description="in the registered performance it was aligned with")
    reference_end_s: float
    method: Literal["composition"] = Field(
        "composition",
        description="beat-synchronous pitch classes aligned in any key and tempo: the song, not "
        "the recording",
    )
    performance: Label = Field(
        description="the registered performance aligned with (an ISRC, or 'reference')"
    )
    transposition_semitones: int = Field(ge=-6, le=6, description="how far above the performance")
    tempo_factor: float = Field(gt=0, description="how many times as fast as the performance")
    score: float = Field(
        description="aligned beats, less gaps (Qmax), weighed by how much the phrases and the lead "
        "lines agree"
    )
    lead_agreement: float | None = Field(
        None,
        ge=0,
        le=1,
        description="share of the aligned half beats whose lead line (the tune over the chords) has the "
        "performance's pitch class in the found key; null when the performance was registered before "
        "prints had a lead line",
    )


class CompositionMatch(CompositionMetadata):
    """One registered composition the upload performs."""

    segments: list[CompositionSegment] = Field(max_length=1000)
    seconds_matched: float
    share_of_upload: float
    transposition_semitones: int = Field(ge=-6, le=6)
    tempo_factor: float = Field(gt=0)
    score: float
    also_recording: bool = Field(
        False, description="a recording of it was matched too (a copy or sample, not only a cover)"
    )


class CompositionMatches(_Result):
    kind: Literal["composition_match"] = "composition_match"
    matches: list[CompositionMatch] = Field(max_length=LIST_ITEMS)
    candidates_considered: int
    too_short: bool = Field(description="too few beats to compare; nothing was looked up")


class CatalogMatch(_Result):
    kind: Literal["catalog_match"] = "catalog_match"
    matches: list[RecordingMatch]
    candidates_considered: int
    too_short: bool = Field(description="the upload is too short to match reliably; nothing was looked up")


class WatermarkSpan(BaseModel):
    """A stretch of the track that carries the watermark."""

    model_config = ConfigDict(frozen=True)

    start_s: float = Field(ge=0)
    end_s: float = Field(ge=0)
    probability: float = Field(ge=0, le=1, description="mean detection probability over the span")


class WatermarkDetection(_Result):
    """AudioSeal detection: is the track watermarked, where, and what payload does it carry."""

    kind: Literal["watermark"] = "watermark"
    model: str = Field(max_length=NAME_CHARS, description="detector checkpoint and its content hash")
    detected: bool
    probability: float = Field(
        ge=0,
        le=1,
        description="track score: best 5 s window's mean probability (of a screened upload, its best "
        "screened second's)",
    )
    threshold: float = Field(ge=0, le=1, description="score at or above which `detected` is true")
    spans: list[WatermarkSpan]
    watermarked_seconds: float = Field(ge=0)
    per_second: list[float | None] = Field(
        max_length=86_400,
        description="mean detection probability of each second of the track (a day at most); None "
        "for a second not read",
    )
    read_share: float = Field(
        1.0,
        ge=0,
        le=1,
        description="share of the track the detector read: 1, or about a quarter for an upload "
        "whose screen (one second in four) showed no sign of a watermark",
    )
    payload: int | None = Field(None, description="16-bit payload; None when nothing is detected")
    bit_confidence: list[float] = Field(default_factory=list, description="per bit, 0 (a coin toss) to 1")
    generator_id: int | None = None
    generator_version: int | None = None
    generator_name: Name | None = None
    generator_registered: bool | None = Field(
        None,
        description="the payload names a registered generator; when it does not, the watermark was "
        "probably cropped or edited (its bits misread) or comes from another generator",
    )
    grid_offset_samples: float | None = Field(
        None,
        description="how far (in samples at 16 kHz) the audio was moved to put it back on the grid "
        "the watermark was embedded on before its payload was read: 0 when read where it lay, "
        "otherwise the start was trimmed or the clip placed off the grid",
    )


class HarassmentHit(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: Literal["threat", "abuse"]
    field: Label = Field(description="title | description | prompt | lyrics")
    sentence: str = Field(max_length=SENTENCE_CHARS)
    words: list[Name] = Field(max_length=20, description="the words that made it a threat or abuse")
    targets: list[Name] = Field(max_length=20, description="the real people it is aimed at")
    score: float


class HarassmentFinding(_Result):
    """Abuse or threats aimed at real people in the track's text."""

    kind: Literal["harassment"] = "harassment"
    severity: Literal["none", "abuse", "threat"]
    hits: list[HarassmentHit] = Field(max_length=LIST_ITEMS)


class NameRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    artist: Name = Field(description="the opted-out artist, as registered")
    field: Label = Field(description="title | description | prompt | credits")
    written: Name = Field(description="how the text wrote the name")
    similarity: float = Field(ge=0, le=1)
    cue: Label | None = Field(description='the request around the name ("style of", "voice", ...)')


class NameRequests(_Result):
    """Opted-out artists named in the track's metadata."""

    kind: Literal["name_opt_out"] = "name_opt_out"
    requests: list[NameRequest] = Field(max_length=LIST_ITEMS)


class VoiceMatch(BaseModel):
    model_config = ConfigDict(frozen=True)

    artist: Name
    similarity: float = Field(description="cosine similarity of speaker embeddings")
    start_s: float = Field(ge=0)
    end_s: float = Field(ge=0)


class VoiceMatches(_Result):
    """Voices in the track that resemble a registered voiceprint of an opted-out artist."""

    kind: Literal["voice_opt_out"] = "voice_opt_out"
    threshold: float
    review_threshold: float
    voiced_seconds: float = Field(ge=0)
    matches: list[VoiceMatch] = Field(description="best segment per artist at or above review_threshold")


CredentialState = Literal["absent", "trusted", "untrusted", "tampered", "unreadable"]


class ManifestIngredient(BaseModel):
    model_config = ConfigDict(frozen=True)

    title: Title = ""
    relationship: Label = ""
    identifier: Name = Field("", description="the ingredient's instance id (ours: isrc:<ISRC>)")


class ContentCredentials(_Result):
    """The C2PA manifest embedded in the upload, if any, and what its validation said."""

    kind: Literal["content_credentials"] = "content_credentials"
    state: CredentialState = Field(
        description="absent: no manifest; trusted: valid and signed by a trusted signer; untrusted: "
        "valid but its signer is not on the trust list; tampered: the file or the claim changed "
        "after signing; unreadable: a manifest store that could not be parsed"
    )
    claim_generator: Name | None = None
    digital_source_type: Name | None = Field(None, description="IPTC term, e.g. trainedAlgorithmicMedia")
    ingredients: list[ManifestIngredient] = Field(default_factory=list, max_length=LIST_ITEMS)
    generation_id: Label | None = Field(None, description="a Clearance generation record it names")
    signer: Name | None = Field(None, description="the signing certificate's issuer and common name")
    failures: list[Label] = Field(default_factory=list, max_length=LIST_ITEMS, description="C2PA codes")
    error: str | None = Field(None, max_length=MESSAGE_CHARS)

    @property
    def declares_ai(self) -> bool:
        return self.digital_source_type in AI_SOURCE_TYPES


class GenerationMatch(_Result):
    """The platform generation the upload comes from, and how that was found out."""

    kind: Literal["generation"] = "generation"
    record: GenerationRecord | None = None
    recovered_by: Literal["manifest", "watermark", "fingerprint"] | None = Field(
        None,
        description="manifest: a trusted Content Credential names it; watermark: the watermark's "
        "payload (generator and version) agrees with the generation the fingerprint found; "
        "fingerprint: the generated-track catalog alone",
    )
    segments: list[MatchSegment] = Field(default_factory=list, max_length=1000)
    seconds_matched: float = Field(0.0, ge=0)
    modification: Modification = "none"
    tempo_factor: float | None = None
    pitch_shift_semitones: float | None = None
    candidates_considered: int = 0


FindingResult = Annotated[
    AudioFacts
    | ChromaprintFingerprint
    | CatalogMatch
    | CompositionMatches
    | WatermarkDetection
    | HarassmentFinding
    | NameRequests
    | VoiceMatches
    | ContentCredentials
    | GenerationMatch,
    Field(discriminator="kind"),
]


class Finding(BaseModel):
    """One detector's run on one track: who ran, how long it took, and what it found."""

    model_config = ConfigDict(frozen=True)

    detector: Label
    version: Label
    took_ms: float = Field(ge=0)
    status: Literal["ok", "error"]
    error: str | None = Field(None, max_length=MESSAGE_CHARS)
    result: FindingResult | None = None

"""The decision rules. Each reads the analysis (findings + the submission it carries), the
policies and the decision context, and yields outcomes: an action with its reason and evidence,
and, for AI involvement, the label to publish."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from decisions.policy import MatchAction, Policies
from decisions.royalties import Claim
from model.events import Action, AiLabel, Evidence, Reason, TrackAnalyzed
from model.findings import (
    MODIFICATION_WORDS,
    CatalogMatch,
    CompositionMatch,
    CompositionMatches,
    ContentCredentials,
    FindingResult,
    GenerationMatch,
    HarassmentFinding,
    NameRequests,
    RecordingMatch,
    VoiceMatches,
    WatermarkDetection,
)
from model.generation import COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA, TRAINED_ALGORITHMIC_MEDIA
from model.names import fold
from model.reasons import ReasonCode

FULLY_WATERMARKED_SHARE = 0.9


@dataclass(frozen=True)
class DecisionContext:
    """What the decision needs besides findings and policies, looked up by the worker."""

    opted_out_artists: frozenset[str] = frozenset()  # folded names
    paid_royalty_ids: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Outcome:
    action: Action
    reason: Reason
    label: AiLabel | None = None
    claims: tuple[Claim, ...] = field(default_factory=tuple)


def _result(analysis: TrackAnalyzed, kind: str) -> FindingResult | None:
    return next((f.result for f in analysis.findings if f.result is not None and f.result.kind == kind), None)


def matches_of(analysis: TrackAnalyzed) -> list[RecordingMatch]:
    result = _result(analysis, "catalog_match")
    return list(result.matches) if isinstance(result, CatalogMatch) else []


def compositions_of(analysis: TrackAnalyzed) -> list[CompositionMatch]:
    result = _result(analysis, "composition_match")
    return list(result.matches) if isinstance(result, CompositionMatches) else []


def watermark_of(analysis: TrackAnalyzed) -> WatermarkDetection | None:
    result = _result(analysis, "watermark")
    return result if isinstance(result, WatermarkDetection) and result.detected else None


def _works(matches: list[RecordingMatch]) -> str:
    return " and ".join(f"'{m.title}' by {', '.join(m.artists) or 'unknown artist'}" for m in matches)


def _songs(matches: list[CompositionMatch]) -> str:
    return " and ".join(f"'{m.title}' (written by {', '.join(m.writers)})" for m in matches)


def ai_label_rule(analysis: TrackAnalyzed, policies: Policies, context: DecisionContext) -> Iterable[Outcome]:
    """What is known about AI involvement, and how it is known: the platform's generation record
    (found by the file's Content Credential, its watermark or its fingerprint), a Content
    Credential declaring AI, the submission's own declaration, a registered generator's
    watermark. A watermark naming no registered generator labels nothing: it goes to review."""
    sub = analysis.submission
    watermark = watermark_of(analysis)
    generation = generation_of(analysis)
    manifest = credentials_of(analysis)
    manifest_ai = manifest is not None and manifest.state in ("trusted", "untrusted") and manifest.declares_ai
    declared = sub.source == "generated" or sub.declared_ai_use != "none"
    named_mark = watermark is not None and _names_generator(watermark)
    evidence = _ai_evidence(analysis, watermark, generation, manifest)
    label = None
    if generation is not None and generation.record is not None:
        label = _generation_label(generation)
    elif manifest_ai and manifest is not None:
        label = _manifest_label(manifest, sub.title)
    elif declared or named_mark:
        label = _declared_label(analysis, watermark if named_mark else None, declared)
    if label is not None:
        yield Outcome(
            Action.LABEL,
            Reason(code=ReasonCode.AI_LABEL, message=label.summary, evidence=evidence),
            label=label,
        )
    if manifest is not None and manifest.state == "tampered":
        yield Outcome(
            Action.NEEDS_REVIEW,
            Reason(
                code=ReasonCode.CREDENTIALS_TAMPERED,
                message="the file's Content Credential no longer matches it (changed after signing: "
                f"{', '.join(manifest.failures) or 'invalid'})",
                evidence=[e for e in evidence if e.detector == "content_credentials"],
            ),
        )
    undeclared = not declared and not manifest_ai
    if undeclared and (watermark is not None or (generation is not None and generation.record is not None)):
        yield Outcome(
            Action.NEEDS_REVIEW,
            Reason(
                code=ReasonCode.AI_UNDECLARED,
                message=f"{_undeclared_what(watermark, generation)} on an upload that declared no AI use",
                evidence=evidence[1:],
            ),
            label=label,
        )


def generation_of(analysis: TrackAnalyzed) -> GenerationMatch | None:
    result = _result(analysis, "generation")
    return result if isinstance(result, GenerationMatch) and result.record is not None else None


def credentials_of(analysis: TrackAnalyzed) -> ContentCredentials | None:
    result = _result(analysis, "content_credentials")
    return result if isinstance(result, ContentCredentials) and result.state != "absent" else None


def _ai_evidence(
    analysis: TrackAnalyzed,
    watermark: WatermarkDetection | None,
    generation: GenerationMatch | None,
    manifest: ContentCredentials | None,
) -> list[Evidence]:
    sub = analysis.submission
    evidence = [
        Evidence(
            detector="submission",
            summary=f"source={sub.source}, declared_ai_use={sub.declared_ai_use}",
            data={
                "source": sub.source,
                "declared_ai_use": sub.declared_ai_use,
                "parents": sub.parent_track_ids,
            },
        )
    ]
    if generation is not None and generation.record is not None:
        evidence.append(
            Evidence(
                detector="generation",
                summary=f"generation {generation.record.generation_id}, found by {generation.recovered_by}",
                data=generation.model_dump(mode="json"),
            )
        )
    if manifest is not None:
        evidence.append(
            Evidence(
                detector="content_credentials",
                summary=(
                    f"Content Credential {manifest.state}: "
                    f"{manifest.claim_generator or 'unknown generator'}, "
                    f"{manifest.digital_source_type or 'no digital source type'}"
                ),
                data=manifest.model_dump(mode="json"),
            )
        )
    if watermark is not None:
        evidence.append(
            Evidence(
                detector="watermark",
                summary=(
                    f"AudioSeal watermark {_watermark_source(watermark)} "
                    f"on {watermark.watermarked_seconds:.0f} s (score {watermark.probability:.2f})"
                ),
                data=watermark.model_dump(mode="json", exclude={"per_second"}),
            )
        )
    return evidence


_RECOVERED_BY_WORDS = {
    "manifest": "found by its Content Credential",
    "watermark": "found by its watermark and fingerprint",
    "fingerprint": "found by its fingerprint",
}


def _generation_label(generation: GenerationMatch) -> AiLabel:
    record = generation.record
    assert record is not None
    how = _RECOVERED_BY_WORDS[generation.recovered_by or "fingerprint"]
    if generation.modification != "none" and generation.tempo_factor is not None:
        pitch = generation.pitch_shift_semitones or 0.0
        how += (
            f": {MODIFICATION_WORDS[generation.modification]} {generation.tempo_factor:.2f}x, "
            f"{pitch:+.1f} semitones"
        )
    return AiLabel(digital_source_type=record.digital_source_type, summary=f"{record.summary}, {how}")


def _manifest_label(manifest: ContentCredentials, title: str) -> AiLabel:
    source_type = manifest.digital_source_type or TRAINED_ALGORITHMIC_MEDIA
    kind = "AI remix" if source_type == COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA else "AI-generated track"
    of = (
        " of " + " and ".join(f"'{i.title}'" for i in manifest.ingredients if i.title)
        if manifest.ingredients
        else ""
    )
    signer = (
        "signed by a trusted signer" if manifest.state == "trusted" else "its signer not on the trust list"
    )
    summary = (
        f"{kind}{of}"
        + (f" '{title}'" if title and not of else "")
        + f" made by {manifest.claim_generator or 'an unnamed generator'}"
        + f" (declared by its Content Credential, {signer})"
    )
    return AiLabel(digital_source_type=source_type, summary=summary)


def _declared_label(analysis: TrackAnalyzed, watermark: WatermarkDetection | None, declared: bool) -> AiLabel:
    sub = analysis.submission
    matches = matches_of(analysis)
    generated = sub.source == "generated" or sub.declared_ai_use == "generated"
    how = (
        ["the platform generator" if sub.source == "generated" else "the uploader's declaration"]
        if declared
        else []
    )
    if watermark is not None:
        how.append(f"its watermark ({watermark.generator_name})")
    duration = _duration(analysis)
    fully_marked = (
        watermark is not None and watermark.watermarked_seconds >= FULLY_WATERMARKED_SHARE * duration
    )
    songs = [c for c in compositions_of(analysis) if not c.also_recording]
    if matches or sub.parent_track_ids:
        source_type = COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA
        of = _works(matches) if matches else "track(s) " + ", ".join(sub.parent_track_ids)
        summary = f"AI remix of {of}"
    elif songs and (generated or fully_marked):
        source_type = TRAINED_ALGORITHMIC_MEDIA  # a new performance, all of it generated
        summary = f"AI cover of {_songs(songs)}"
    elif generated or fully_marked:
        source_type = TRAINED_ALGORITHMIC_MEDIA
        summary = "AI-generated track" + (f" '{sub.title}'" if sub.title else "")
    else:
        source_type = COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA
        summary = "AI-assisted track" + (f" '{sub.title}'" if sub.title else "")
    summary += f" (known from {' and '.join(how)})"
    return AiLabel(digital_source_type=source_type, summary=summary)


def _undeclared_what(watermark: WatermarkDetection | None, generation: GenerationMatch | None) -> str:
    if generation is not None and generation.record is not None:
        return f"a platform generation ({generation.record.generation_id}, {generation.record.generator})"
    assert watermark is not None
    return _watermark_kind(watermark)


def _names_generator(watermark: WatermarkDetection) -> bool:
    """Findings from before the registry check (None) are taken at their name."""
    return watermark.generator_registered is not False


def _watermark_kind(watermark: WatermarkDetection) -> str:
    if _names_generator(watermark):
        return f"a {watermark.generator_name} watermark"
    return "an AudioSeal watermark naming no registered generator"


def _watermark_source(watermark: WatermarkDetection) -> str:
    if _names_generator(watermark):
        return f"of {watermark.generator_name} v{watermark.generator_version}"
    return (
        f"whose payload names no registered generator (id {watermark.generator_id}: "
        "read from a cropped or edited copy, or another generator's)"
    )


def _duration(analysis: TrackAnalyzed) -> float:
    facts = _result(analysis, "audio_facts")
    return float(getattr(facts, "duration_s", 0.0) or 0.0)


def catalog_rule(analysis: TrackAnalyzed, policies: Policies, context: DecisionContext) -> Iterable[Outcome]:
    """Each matched recording under its rights holder's policy; masters of opted-out artists are
    taken down whatever the policy."""
    source = analysis.submission.source
    for match in matches_of(analysis):
        holder_policy = policies.for_holder(match.rights_holder)
        action = holder_policy.action_for(
            match.seconds_matched, match.share_of_upload, source, match.policy, match.modification
        )
        evidence = Evidence(
            detector="catalog_match",
            summary=(
                f"{len(match.segments)} segment(s), longest {match.longest_segment_s:.1f} s, "
                f"score {match.score:.2f}"
            ),
            data=match.model_dump(mode="json"),
        )
        where = (
            f"{_modified_words(match)}{match.seconds_matched:.1f} s ({match.share_of_upload:.0%} of the "
            f"upload) come from '{match.title}' by {', '.join(match.artists)} "
            f"({match.isrc}, {match.rights_holder})"
        )
        opted_out = match.artist_opt_out or any(fold(a) in context.opted_out_artists for a in match.artists)
        if opted_out:
            yield Outcome(
                Action.TAKEDOWN,
                Reason(
                    code=ReasonCode.OPT_OUT_RECORDING,
                    message=f"{where}; the artist opted out of AI remixes and covers",
                    evidence=[evidence],
                ),
            )
            continue
        claim = Claim(
            rights_holder=match.rights_holder,
            isrc=match.isrc,
            title=match.title,
            royalty_rate_bp=match.royalty_rate_bp,
            segments=tuple((s.upload_start_s, s.upload_end_s) for s in match.segments),
        )
        message = f"{where}; policy {holder_policy.label}: {action}"
        yield _policy_outcome(action, _CATALOG_CODES, message, evidence, claim)


def composition_rule(
    analysis: TrackAnalyzed, policies: Policies, context: DecisionContext
) -> Iterable[Outcome]:
    """Each performed composition under its publisher's policy. A cover of a song whose writers
    or artists opted out is taken down when the platform generated it and goes to review when
    uploaded (a human cover is not for a rule alone to remove)."""
    source = analysis.submission.source
    for match in compositions_of(analysis):
        holder_policy = policies.for_holder(match.rights_holder)
        action = holder_policy.action_for(match.seconds_matched, match.share_of_upload, source, match.policy)
        segment = match.segments[0] if match.segments else None
        stretch = (
            f" at {segment.upload_start_s:.0f}-{segment.upload_end_s:.0f} s" if segment is not None else ""
        )
        where = (
            f"{match.seconds_matched:.1f} s{stretch} ({match.share_of_upload:.0%} of the upload) perform "
            f"'{match.title}' written by {', '.join(match.writers)} "
            f"({match.work_id}, {match.rights_holder}), "
            f"{match.transposition_semitones:+d} semitones, tempo {match.tempo_factor:.2f}x"
        )
        evidence = Evidence(
            detector="composition_match",
            summary=f"{len(match.segments)} segment(s), similarity {match.score:.1f}",
            data=match.model_dump(mode="json"),
        )
        people = [*match.writers, *match.artists]
        if match.opt_out or any(fold(p) in context.opted_out_artists for p in people):
            yield Outcome(
                Action.TAKEDOWN if source == "generated" else Action.NEEDS_REVIEW,
                Reason(
                    code=ReasonCode.OPT_OUT_COMPOSITION,
                    message=f"{where}; its writers or artists opted out of AI covers",
                    evidence=[evidence],
                ),
            )
            continue
        claim = Claim(
            rights_holder=match.rights_holder,
            isrc="",
            title=match.title,
            royalty_rate_bp=match.royalty_rate_bp,
            segments=tuple((s.upload_start_s, s.upload_end_s) for s in match.segments),
            right="composition",
            work_id=match.work_id,
        )
        message = f"{where}; policy {holder_policy.label}: {action}"
        yield _policy_outcome(action, _COMPOSITION_CODES, message, evidence, claim)


# the reasons a policy's block, monetize and track give, for recordings and for compositions
_CATALOG_CODES = (ReasonCode.CATALOG_BLOCK, ReasonCode.CATALOG_MONETIZE, ReasonCode.CATALOG_TRACK)
_COMPOSITION_CODES = (
    ReasonCode.COMPOSITION_BLOCK,
    ReasonCode.COMPOSITION_MONETIZE,
    ReasonCode.COMPOSITION_TRACK,
)


def _policy_outcome(
    action: MatchAction,
    codes: tuple[ReasonCode, ReasonCode, ReasonCode],
    message: str,
    evidence: Evidence,
    claim: Claim,
) -> Outcome:
    """What a holder policy's action does to a match: block -> takedown, monetize -> royalty
    (the claim), track -> allow on record."""
    block, monetize, track = codes
    if action == "block":
        return Outcome(Action.TAKEDOWN, Reason(code=block, message=message, evidence=[evidence]))
    if action == "monetize":
        return Outcome(
            Action.ROYALTY, Reason(code=monetize, message=message, evidence=[evidence]), claims=(claim,)
        )
    return Outcome(Action.ALLOW, Reason(code=track, message=message, evidence=[evidence]))


def _modified_words(match: RecordingMatch) -> str:
    """e.g. "sped up 1.25x, +3.9 semitones: " for a modified match; nothing for a plain one."""
    if match.modification == "none" or match.tempo_factor is None:
        return ""
    pitch = match.pitch_shift_semitones or 0.0
    return f"{MODIFICATION_WORDS[match.modification]} {match.tempo_factor:.2f}x, {pitch:+.1f} semitones: "


def name_opt_out_rule(
    analysis: TrackAnalyzed, policies: Policies, context: DecisionContext
) -> Iterable[Outcome]:
    result = _result(analysis, "name_opt_out")
    if not isinstance(result, NameRequests):
        return
    generated = analysis.submission.source == "generated"
    for artist in sorted({r.artist for r in result.requests}):
        requests = [r for r in result.requests if r.artist == artist]
        where = "; ".join(f"{r.field}: '{r.written}'" + (f" ({r.cue})" if r.cue else "") for r in requests)
        yield Outcome(
            Action.TAKEDOWN if generated else Action.NEEDS_REVIEW,
            Reason(
                code=ReasonCode.OPT_OUT_NAME,
                message=f"asks for {artist}, who opted out ({where})",
                evidence=[
                    Evidence(
                        detector="name_opt_out",
                        summary=where,
                        data={"artist": artist, "requests": [r.model_dump(mode="json") for r in requests]},
                    )
                ],
            ),
        )


def voice_opt_out_rule(
    analysis: TrackAnalyzed, policies: Policies, context: DecisionContext
) -> Iterable[Outcome]:
    result = _result(analysis, "voice_opt_out")
    if not isinstance(result, VoiceMatches):
        return
    platform = policies.platform
    for match in result.matches:
        if match.similarity >= platform.voice_takedown_similarity:
            action = Action.TAKEDOWN
        elif match.similarity >= platform.voice_review_similarity:
            action = Action.NEEDS_REVIEW
        else:
            continue
        yield Outcome(
            action,
            Reason(
                code=ReasonCode.OPT_OUT_VOICE,
                message=(
                    f"the voice at {match.start_s:.0f}-{match.end_s:.0f} s resembles {match.artist}, "
                    f"who opted out (similarity {match.similarity:.2f}; takedown from "
                    f"{platform.voice_takedown_similarity:.2f}, review from "
                    f"{platform.voice_review_similarity:.2f})"
                ),
                evidence=[
                    Evidence(
                        detector="voice_opt_out",
                        summary=f"{match.artist}",
                        data=match.model_dump(mode="json"),
                    )
                ],
            ),
        )


def harassment_rule(
    analysis: TrackAnalyzed, policies: Policies, context: DecisionContext
) -> Iterable[Outcome]:
    result = _result(analysis, "harassment")
    if not isinstance(result, HarassmentFinding):
        return
    for hit in result.hits:
        action = Action.TAKEDOWN if hit.kind == "threat" else Action.NEEDS_REVIEW
        yield Outcome(
            action,
            Reason(
                code=ReasonCode(f"harassment_{hit.kind}"),
                message=(
                    f"{hit.kind} aimed at {', '.join(hit.targets)} in the {hit.field}: "
                    f"{', '.join(repr(w) for w in hit.words)}"
                ),
                evidence=[
                    Evidence(detector="harassment", summary=hit.sentence, data=hit.model_dump(mode="json"))
                ],
            ),
        )


def detector_error_rule(
    analysis: TrackAnalyzed, policies: Policies, context: DecisionContext
) -> Iterable[Outcome]:
    if not policies.platform.review_on_detector_error:
        return
    for finding in analysis.findings:
        if finding.status == "error":
            yield Outcome(
                Action.NEEDS_REVIEW,
                Reason(
                    code=ReasonCode.DETECTOR_ERROR,
                    message=f"detector {finding.detector} could not examine the track",
                    evidence=[Evidence(detector=finding.detector, summary=finding.error or "unknown error")],
                ),
            )

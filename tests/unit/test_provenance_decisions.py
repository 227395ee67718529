"""How generation records, Content Credentials and watermarks become labels and reviews."""

from __future__ import annotations

from datetime import UTC, datetime

from decisions.decide import decide
from decisions.policy import Policies
from model.events import Action, Decision
from model.findings import ContentCredentials, GenerationMatch, ManifestIngredient, MatchSegment
from model.generation import GenerationRecord, ParentWork
from tests.unit.test_decide import _finding, analysis, watermark

RECORD = GenerationRecord(
    generation_id="gen-0123456789abcdef",
    generator="clearance-remix",
    model_version=2,
    created_at=datetime(2026, 12, 1, 12, 0, tzinfo=UTC),
    parents=[ParentWork(id="USRC17607839", title="Glass Harbor")],
    watermark_payload=(1 << 4) | 2,
    digital_source_type="compositeWithTrainedAlgorithmicMedia",
)


def found(
    recovered_by: str = "fingerprint", tempo: float | None = 1.2, pitch: float = 3.2
) -> GenerationMatch:
    segment = MatchSegment(
        upload_start_s=0,
        upload_end_s=40,
        reference_start_s=0,
        reference_end_s=48,
        method="modified",
        tempo_factor=tempo,
        pitch_shift_semitones=pitch,
        modification="sped_up",
        score=0.5,
    )
    return GenerationMatch(
        record=RECORD,
        recovered_by=recovered_by,  # type: ignore[arg-type]
        segments=[segment],
        seconds_matched=40,
        modification="sped_up" if tempo else "none",
        tempo_factor=tempo,
        pitch_shift_semitones=pitch if tempo else None,
    )


def credentials(state: str, source_type: str | None = "trainedAlgorithmicMedia") -> ContentCredentials:
    return ContentCredentials(
        state=state,  # type: ignore[arg-type]
        claim_generator="SunoLike 4.5",
        digital_source_type=source_type,
        ingredients=[ManifestIngredient(title="Night Drive", relationship="parentOf")],
        failures=["assertion.dataHash.mismatch"] if state == "tampered" else [],
    )


def _verdict(decisions: list[Decision]) -> Decision:
    return next(d for d in decisions if d.verdict)


def _label(decisions: list[Decision]) -> str | None:
    return next((d.label.summary for d in decisions if d.label is not None), None)


def test_a_stripped_sped_up_generation_is_labelled_from_its_record_and_sent_to_review() -> None:
    decisions = decide(analysis([_finding("generation", found())]), Policies())
    verdict = _verdict(decisions)
    assert verdict.action == Action.NEEDS_REVIEW
    assert {r.code for r in verdict.reasons} >= {"ai_label", "ai_undeclared"}
    label = _label(decisions)
    assert label == (
        "AI remix of 'Glass Harbor' made by clearance-remix v2 on 2026-12-01, "
        "found by its fingerprint: sped up 1.20x, +3.2 semitones"
    )
    undeclared = next(r for r in verdict.reasons if r.code == "ai_undeclared")
    assert "gen-0123456789abcdef" in undeclared.message


def test_the_route_that_found_the_generation_is_named() -> None:
    by_mark = _label(decide(analysis([_finding("generation", found("watermark", tempo=None))]), Policies()))
    assert by_mark is not None and by_mark.endswith("found by its watermark and fingerprint")
    by_manifest = _label(decide(analysis([_finding("generation", found("manifest", None))]), Policies()))
    assert by_manifest is not None and by_manifest.endswith("found by its Content Credential")


def test_a_declared_generation_is_labelled_without_review() -> None:
    case = analysis([_finding("generation", found())], declared_ai_use="generated")
    assert _verdict(decide(case, Policies())).action == Action.LABEL


def test_a_valid_manifest_declaring_ai_labels_with_its_generator_and_needs_no_review() -> None:
    for state in ("trusted", "untrusted"):
        decisions = decide(analysis([_finding("content_credentials", credentials(state))]), Policies())
        assert _verdict(decisions).action == Action.LABEL
        label = _label(decisions)
        assert label is not None and "made by SunoLike 4.5" in label
        assert ("trusted signer" in label) == (state == "trusted")


def test_a_manifest_declaring_a_camera_recording_labels_nothing() -> None:
    case = analysis([_finding("content_credentials", credentials("trusted", "digitalCapture"))])
    decisions = decide(case, Policies())
    assert _verdict(decisions).action == Action.ALLOW
    assert _label(decisions) is None


def test_a_tampered_manifest_is_evidence_for_review_and_labels_nothing() -> None:
    decisions = decide(analysis([_finding("content_credentials", credentials("tampered"))]), Policies())
    verdict = _verdict(decisions)
    assert verdict.action == Action.NEEDS_REVIEW
    tampered = next(r for r in verdict.reasons if r.code == "credentials_tampered")
    assert "assertion.dataHash.mismatch" in tampered.message
    assert _label(decisions) is None


def test_a_registered_generators_watermark_alone_still_labels_and_reviews() -> None:
    decisions = decide(analysis([watermark()]), Policies())
    assert _verdict(decisions).action == Action.NEEDS_REVIEW
    assert _label(decisions) is not None

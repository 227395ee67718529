"""The decision function, table-driven: findings (real text detectors included) + policies +
context in, decision events out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from decisions.decide import decide, royalty_id
from decisions.policy import MatchRule, PlatformPolicy, Policies, RightsHolderPolicy
from decisions.rules import (
    COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
    TRAINED_ALGORITHMIC_MEDIA,
    DecisionContext,
)
from detectors import harassment, impersonation
from detectors.names import NameIndex, Person
from detectors.watermark.payload import Payload
from model.events import Action, Decision, TrackAnalyzed, TrackSubmitted
from model.findings import (
    AudioFacts,
    CatalogMatch,
    Finding,
    FindingResult,
    MatchSegment,
    RecordingMatch,
    VoiceMatch,
    VoiceMatches,
    WatermarkDetection,
    WatermarkSpan,
)
from streams.analysis import track_text

DURATION = 100.0
PEOPLE = [
    Person("Taylor Swift", opted_out=True),
    Person("Nova Reyes"),  # a catalog artist who did not opt out
    Person("Drake"),
]


def _finding(detector: str, result: FindingResult | None, status: str = "ok") -> Finding:
    return Finding(
        detector=detector,
        version="1",
        took_ms=1.0,
        status=status,  # type: ignore[arg-type]
        result=result,
        error=None if status == "ok" else "boom",
    )


FACTS = _finding(
    "audio_facts",
    AudioFacts(
        duration_s=DURATION,
        source_sample_rate=44100,
        source_channels=2,
        codec="mp3",
        container="mp3",
        loudness_lufs=-14.0,
        peak_dbfs=-1.0,
        silent=False,
    ),
)


def recording(
    isrc: str,
    segments: list[tuple[float, float]],
    *,
    policy: str = "monetize",
    holder: str = "Umbra Records",
    artist: str = "Nova Reyes",
    title: str = "Glass Harbor",
    rate_bp: int = 5000,
    opt_out: bool = False,
) -> RecordingMatch:
    seconds = sum(end - start for start, end in segments)
    return RecordingMatch(
        isrc=isrc,
        title=title,
        artists=[artist],
        rights_holder=holder,
        policy=policy,  # type: ignore[arg-type]
        artist_opt_out=opt_out,
        royalty_rate_bp=rate_bp,
        segments=[
            MatchSegment(
                upload_start_s=s,
                upload_end_s=e,
                reference_start_s=s,
                reference_end_s=e,
                bit_error_rate=0.05,
                score=0.9,
            )
            for s, e in segments
        ],
        seconds_matched=seconds,
        share_of_upload=seconds / DURATION,
        longest_segment_s=max(e - s for s, e in segments),
        score=0.9,
    )


def catalog(*matches: RecordingMatch) -> Finding:
    return _finding(
        "catalog_match",
        CatalogMatch(matches=list(matches), candidates_considered=len(matches), too_short=False),
    )


def watermark(seconds: float = DURATION, generator_id: int = 1) -> Finding:
    payload = Payload(generator_id, 2)
    return _finding(
        "watermark",
        WatermarkDetection(
            model="test",
            detected=True,
            probability=0.99,
            threshold=0.5,
            spans=[WatermarkSpan(start_s=0, end_s=seconds, probability=0.99)],
            watermarked_seconds=seconds,
            per_second=[0.99] * int(DURATION),
            payload=payload.value,
            bit_confidence=[0.9] * 16,
            generator_id=payload.generator_id,
            generator_version=payload.model_version,
            generator_name=payload.generator_name,
            generator_registered=payload.registered,
        ),
    )


def voice(similarity: float) -> Finding:
    return _finding(
        "voice_opt_out",
        VoiceMatches(
            threshold=0.8,
            review_threshold=0.74,
            voiced_seconds=20,
            matches=[VoiceMatch(artist="Taylor Swift", similarity=similarity, start_s=10, end_s=20)],
        ),
    )


def submission(**fields: Any) -> TrackSubmitted:
    base: dict[str, Any] = {
        "event_id": "sub-1",
        "track_id": "trk-9",
        "source": "upload",
        "audio_uri": "file:///a",
        "audio_sha256": "a" * 64,
        "uploader_id": "u",
        "title": "Song",
    }
    base.update(fields)
    return TrackSubmitted(**base)


def analysis(findings: list[Finding], **fields: Any) -> TrackAnalyzed:
    """Audio findings as given; the text findings come from the real text detectors."""
    sub = submission(**fields)
    text = track_text(sub)
    everyone = NameIndex(PEOPLE)
    text_findings = [
        _finding(
            "name_opt_out", impersonation.name_requests(text, NameIndex([p for p in PEOPLE if p.opted_out]))
        ),
        _finding("harassment", harassment.harassment(text, everyone, harassment.load_text_models())),
    ]
    return TrackAnalyzed(track_id=sub.track_id, submission=sub, findings=[FACTS, *findings, *text_findings])


@dataclass
class Case:
    name: str
    analysis: TrackAnalyzed
    verdict: Action
    reasons: set[str]
    label: str | None = None
    royalties: dict[str, int] = field(default_factory=dict)
    policies: Policies = field(default_factory=Policies)


STRICT = Policies(
    rights_holders={
        "Umbra Records": RightsHolderPolicy(
            rights_holder="Umbra Records",
            version=3,
            rules=[
                MatchRule(action="block", sources=["generated"]),
                MatchRule(action="monetize", min_matched_seconds=30),
            ],
        )
    }
)

CASES = [
    Case("plain upload", analysis([]), Action.ALLOW, set()),
    Case(
        "generated",
        analysis([], source="generated", prompt="lofi beat"),
        Action.LABEL,
        {"ai_label"},
        TRAINED_ALGORITHMIC_MEDIA,
    ),
    Case(
        "generated, watermark confirms",
        analysis([watermark()], source="generated"),
        Action.LABEL,
        {"ai_label"},
        TRAINED_ALGORITHMIC_MEDIA,
    ),
    Case(
        "undeclared watermark on an upload",
        analysis([watermark()]),
        Action.NEEDS_REVIEW,
        {"ai_label", "ai_undeclared"},
        TRAINED_ALGORITHMIC_MEDIA,
    ),
    Case(
        "declared assisted, watermark on part",
        analysis([watermark(20.0)], declared_ai_use="assisted"),
        Action.LABEL,
        {"ai_label"},
        COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
    ),
    Case(
        "AI remix of a monetized master",
        analysis([catalog(recording("QZABC2600001", [(0, 40)]))], declared_ai_use="assisted"),
        Action.ROYALTY,
        {"ai_label", "catalog_monetize"},
        COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
        {"Umbra Records": 2000},
    ),
    Case(
        "blocked master",
        analysis([catalog(recording("QZABC2600001", [(0, 40)], policy="block"))]),
        Action.TAKEDOWN,
        {"catalog_block"},
    ),
    Case(
        "tracked master",
        analysis([catalog(recording("QZABC2600001", [(0, 40)], policy="track"))]),
        Action.ALLOW,
        {"catalog_track"},
    ),
    Case(
        "below the default 5 s minimum",
        analysis([catalog(recording("QZABC2600001", [(0, 4)], policy="block"))]),
        Action.ALLOW,
        {"catalog_track"},
    ),
    Case(
        "holder policy: too little for monetize",
        analysis([catalog(recording("QZABC2600001", [(0, 10)]))]),
        Action.ALLOW,
        {"catalog_track"},
        policies=STRICT,
    ),
    Case(
        "holder policy: generated tracks blocked",
        analysis([catalog(recording("QZABC2600001", [(0, 10)]))], source="generated"),
        Action.TAKEDOWN,
        {"ai_label", "catalog_block"},
        COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
        policies=STRICT,
    ),
    Case(
        "master of an opted-out artist",
        analysis([catalog(recording("QZABC2600002", [(0, 30)], opt_out=True))]),
        Action.TAKEDOWN,
        {"opt_out_recording"},
    ),
    Case(
        "opted-out name, odd casing, generated prompt",
        analysis([], source="generated", prompt="a sad ballad in the style of tAyLoR sWiFFt"),
        Action.TAKEDOWN,
        {"ai_label", "opt_out_name"},
        TRAINED_ALGORITHMIC_MEDIA,
    ),
    Case(
        "opted-out name in an upload's title",
        analysis([], title="Taylor Swift voice - my cover"),
        Action.NEEDS_REVIEW,
        {"opt_out_name"},
    ),
    Case(
        "name of an artist who did not opt out",
        analysis([], source="generated", prompt="in the style of Nova Reyes"),
        Action.LABEL,
        {"ai_label"},
        TRAINED_ALGORITHMIC_MEDIA,
    ),
    Case("voice above the takedown threshold", analysis([voice(0.96)]), Action.TAKEDOWN, {"opt_out_voice"}),
    Case("voice in the review band", analysis([voice(0.86)]), Action.NEEDS_REVIEW, {"opt_out_voice"}),
    Case("voice below the band", analysis([voice(0.70)]), Action.ALLOW, set()),
    Case(
        "explicit but harmless lyrics",
        analysis(
            [],
            lyrics="Fuck the rules, we kill this beat tonight\nShake that ass, bitch I'm the best\n"
            "Shoot my shot, murder the mic, money on my mind",
        ),
        Action.ALLOW,
        set(),
    ),
    Case(
        "threat naming a catalog artist",
        analysis([], lyrics="Nova Reyes, I'm gonna kill you when I find you"),
        Action.TAKEDOWN,
        {"harassment_threat"},
    ),
    Case(
        "targeted abuse",
        analysis([], description="Drake is a talentless fucking fraud and a loser"),
        Action.NEEDS_REVIEW,
        {"harassment_abuse"},
    ),
    Case(
        "detector error",
        analysis([_finding("chromaprint", None, status="error")]),
        Action.NEEDS_REVIEW,
        {"detector_error"},
    ),
    Case(
        "sampled opted-out master and named in the prompt",
        analysis(
            [catalog(recording("QZABC2600002", [(0, 30)], artist="Taylor Swift", opt_out=True))],
            source="generated",
            prompt="remix it in the style of taylor swift",
        ),
        Action.TAKEDOWN,
        {"ai_label", "opt_out_recording", "opt_out_name"},
        COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
    ),
]


def _verdict(decisions: list[Decision]) -> Decision:
    verdicts = [d for d in decisions if d.verdict]
    assert len(verdicts) == 1, "exactly one verdict per track version"
    return verdicts[0]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_decision_table(case: Case) -> None:
    decisions = decide(case.analysis, case.policies)
    verdict = _verdict(decisions)
    assert verdict.action is case.verdict
    assert {r.code for r in verdict.reasons} == case.reasons
    labels = [d for d in decisions if d.label is not None and not d.verdict] or [verdict]
    assert (labels[0].label.digital_source_type if labels[0].label else None) == case.label
    paid = {d.royalty.rights_holder: d.royalty.basis_points for d in decisions if d.royalty is not None}
    assert paid == case.royalties
    assert all(d.policy_version.startswith("platform@") for d in decisions)


def test_decisions_name_the_policy_versions_they_applied() -> None:
    case = analysis([catalog(recording("QZABC2600001", [(0, 10)]))])
    assert _verdict(decide(case, STRICT)).policy_version == "platform@1 Umbra Records@3"
    assert _verdict(decide(case, Policies())).policy_version == "platform@1 _default@1"


def test_ai_remix_label_names_the_work() -> None:
    case = analysis([catalog(recording("QZABC2600001", [(0, 40)]))], source="generated")
    label = next(d.label for d in decide(case, Policies()) if d.label is not None)
    assert label.summary.startswith("AI remix of 'Glass Harbor' by Nova Reyes")
    assert "platform generator" in label.summary


def test_a_watermark_naming_no_registered_generator_goes_to_review_never_to_a_label() -> None:
    case = analysis([watermark(generator_id=2731)])  # bits misread, as on a cropped copy
    decisions = decide(case, Policies())
    verdict = _verdict(decisions)
    assert verdict.action == Action.NEEDS_REVIEW
    undeclared = next(r for r in verdict.reasons if r.code == "ai_undeclared")
    assert "naming no registered generator" in undeclared.message
    assert "unregistered-2731" not in undeclared.message
    assert all(d.label is None for d in decisions)
    assert all(r.code != "ai_label" for r in verdict.reasons)
    assert "id 2731" in undeclared.evidence[0].summary


def test_a_registered_generator_is_named_in_the_label() -> None:
    label = next(d.label for d in decide(analysis([watermark()]), Policies()) if d.label is not None)
    assert "(known from its watermark (clearance-remix))" in label.summary


def test_threat_finding_says_which_words_and_whom() -> None:
    case = analysis([], lyrics="Nova Reyes, I'm gonna kill you when I find you")
    reason = next(r for r in _verdict(decide(case, Policies())).reasons if r.code == "harassment_threat")
    hit = reason.evidence[0].data
    assert hit["targets"] == ["Nova Reyes"]
    assert any("kill" in w for w in hit["words"])


def test_two_claimants_split_overlaps_and_are_both_paid() -> None:
    """A (5000 bp) covers 0-40 s, B (2000 bp) covers 30-60 s of a 100 s upload. 30-40 s is
    claimed by both and split equally: A counts 35 s -> 5000 x 35/100 = 1750 bp; B counts 25 s
    -> 2000 x 25/100 = 500 bp."""
    a = recording("QZABC2600001", [(0, 40)], holder="Umbra Records", rate_bp=5000)
    b = recording("QZXYZ2600009", [(30, 60)], holder="Kite Music", rate_bp=2000, title="Other")
    decisions = decide(analysis([catalog(a, b)]), Policies())
    royalties = {d.royalty.rights_holder: d.royalty for d in decisions if d.royalty is not None}
    assert {h: r.basis_points for h, r in royalties.items()} == {"Umbra Records": 1750, "Kite Music": 500}
    assert royalties["Umbra Records"].recordings[0].counted_seconds == pytest.approx(35.0)
    assert all(isinstance(r.basis_points, int) for r in royalties.values())


def test_rounding_never_pays_more_than_the_exact_share() -> None:
    a = recording("QZABC2600001", [(0, 33.3)], rate_bp=3333)
    royalty = next(d.royalty for d in decide(analysis([catalog(a)]), Policies()) if d.royalty is not None)
    assert royalty.basis_points == 1109  # 3333 x 333/1000 = 1109.889, rounded down


def test_the_same_event_twice_pays_once() -> None:
    case = analysis([catalog(recording("QZABC2600001", [(0, 40)]))])
    first = decide(case, Policies())
    again = decide(case, Policies())
    assert [d.event_id for d in first] == [d.event_id for d in again]  # replays carry the same ids
    paid = frozenset(d.event_id for d in first if d.royalty is not None)
    assert paid == {royalty_id(case, "Umbra Records")}
    replay = decide(case, Policies(), DecisionContext(paid_royalty_ids=paid))
    assert [d for d in replay if d.royalty is not None] == []
    assert _verdict(replay).action is Action.ROYALTY


def test_a_resubmission_of_the_same_audio_is_the_same_royalty() -> None:
    first = analysis([catalog(recording("QZABC2600001", [(0, 40)]))])
    resubmitted = analysis([catalog(recording("QZABC2600001", [(0, 40)]))], event_id="sub-2")
    other_audio = analysis(
        [catalog(recording("QZABC2600001", [(0, 40)]))], event_id="sub-3", audio_sha256="b" * 64
    )
    assert royalty_id(first, "Umbra Records") == royalty_id(resubmitted, "Umbra Records")
    assert royalty_id(first, "Umbra Records") != royalty_id(other_audio, "Umbra Records")


def test_takedown_pays_nobody() -> None:
    monetized = recording("QZABC2600001", [(0, 40)])
    blocked = recording("QZXYZ2600009", [(50, 90)], policy="block", holder="Kite Music")
    decisions = decide(analysis([catalog(monetized, blocked)]), Policies())
    assert _verdict(decisions).action is Action.TAKEDOWN
    assert [d for d in decisions if d.royalty is not None] == []


def test_opt_out_set_by_registry_applies_to_matches() -> None:
    case = analysis([catalog(recording("QZABC2600001", [(0, 40)], artist="Nova Reyes"))])
    context = DecisionContext(opted_out_artists=frozenset({"nova reyes"}))
    verdict = _verdict(decide(case, Policies(), context))
    assert verdict.action is Action.TAKEDOWN
    assert {r.code for r in verdict.reasons} == {"opt_out_recording"}


def test_voice_thresholds_come_from_the_platform_policy() -> None:
    lenient = Policies(
        platform=PlatformPolicy(version=2, voice_takedown_similarity=0.9, voice_review_similarity=0.85)
    )
    assert _verdict(decide(analysis([voice(0.86)]), lenient)).action is Action.NEEDS_REVIEW


def modified_match(modification: str, tempo: float, semitones: float) -> RecordingMatch:
    plain = recording("QZABC2600001", [(0, 40)])
    return plain.model_copy(
        update={"modification": modification, "tempo_factor": tempo, "pitch_shift_semitones": semitones}
    )


SPED_UP_PAYS_PITCH_SHIFT_BLOCKED = Policies(
    rights_holders={
        "Umbra Records": RightsHolderPolicy(
            rights_holder="Umbra Records",
            version=4,
            rules=[
                MatchRule(action="monetize", modifications=["sped_up", "slowed"]),
                MatchRule(action="block", modifications=["pitch_shifted"]),
                MatchRule(action="track"),
            ],
        )
    }
)


def test_a_holder_may_monetize_sped_up_versions_and_block_pitch_shifted_ones() -> None:
    policies = SPED_UP_PAYS_PITCH_SHIFT_BLOCKED
    sped_up = _verdict(decide(analysis([catalog(modified_match("sped_up", 1.25, 3.86))]), policies))
    assert sped_up.action is Action.ROYALTY
    shifted = _verdict(decide(analysis([catalog(modified_match("pitch_shifted", 1.0, 3.0))]), policies))
    assert shifted.action is Action.TAKEDOWN
    plain = _verdict(decide(analysis([catalog(recording("QZABC2600001", [(0, 40)]))]), policies))
    assert plain.action is Action.ALLOW and {r.code for r in plain.reasons} == {"catalog_track"}


def test_the_reason_says_how_the_recording_was_modified() -> None:
    verdict = _verdict(decide(analysis([catalog(modified_match("sped_up", 1.25, 3.86))]), Policies()))
    (reason,) = [r for r in verdict.reasons if r.code == "catalog_monetize"]
    assert reason.message.startswith("sped up 1.25x, +3.9 semitones: 40.0 s (")
    assert "'Glass Harbor'" in reason.message
    plain = _verdict(decide(analysis([catalog(recording("QZABC2600001", [(0, 40)]))]), Policies()))
    assert plain.reasons[0].message.startswith("40.0 s (")


def test_a_policy_rule_names_only_known_modifications() -> None:
    with pytest.raises(ValueError, match="modifications"):
        MatchRule(action="block", modifications=["remixed"])  # type: ignore[list-item]

from __future__ import annotations

from typing import Any

import pytest

from decisions.decide import COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA, TRAINED_ALGORITHMIC_MEDIA, decide
from decisions.policy import Policy
from detectors.findings import AudioFacts, Finding
from streams.events import Action, TrackAnalyzed, TrackSubmitted

POLICY = Policy(version="test-7")
FACTS = Finding(
    detector="audio_facts",
    version="1",
    took_ms=1.0,
    status="ok",
    result=AudioFacts(
        duration_s=30,
        source_sample_rate=44100,
        source_channels=2,
        codec="mp3",
        container="mp3",
        loudness_lufs=-14.0,
        peak_dbfs=-1.0,
        silent=False,
    ),
)
BROKEN = Finding(detector="chromaprint", version="1", took_ms=1.0, status="error", error="boom")


def analysis(findings: list[Finding] | None = None, **submission: Any) -> TrackAnalyzed:
    fields: dict[str, Any] = {
        "track_id": "trk-9",
        "source": "upload",
        "audio_uri": "file:///a",
        "uploader_id": "u",
        "title": "Song",
    }
    fields.update(submission)
    sub = TrackSubmitted(**fields)
    return TrackAnalyzed(track_id=sub.track_id, submission=sub, findings=findings or [FACTS])


@pytest.mark.parametrize(
    ("case", "expected_verdict", "expected_actions", "source_type"),
    [
        (analysis(), Action.ALLOW, [Action.ALLOW], None),
        (
            analysis(source="generated", prompt="lofi"),
            Action.LABEL,
            [Action.LABEL],
            TRAINED_ALGORITHMIC_MEDIA,
        ),
        (analysis(declared_ai_use="generated"), Action.LABEL, [Action.LABEL], TRAINED_ALGORITHMIC_MEDIA),
        (
            analysis(declared_ai_use="assisted", parent_track_ids=["trk-1"]),
            Action.LABEL,
            [Action.LABEL],
            COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
        ),
        (analysis([FACTS, BROKEN]), Action.NEEDS_REVIEW, [Action.NEEDS_REVIEW], None),
        (
            analysis([FACTS, BROKEN], source="generated"),
            Action.NEEDS_REVIEW,
            [Action.NEEDS_REVIEW, Action.LABEL],
            TRAINED_ALGORITHMIC_MEDIA,
        ),
    ],
    ids=[
        "plain-upload",
        "generated",
        "declared-generated",
        "assisted-remix",
        "detector-error",
        "error-and-generated",
    ],
)
def test_decision_table(
    case: TrackAnalyzed, expected_verdict: Action, expected_actions: list[Action], source_type: str | None
) -> None:
    decisions = decide(case, POLICY)
    assert [d.action for d in decisions] == expected_actions
    verdicts = [d for d in decisions if d.verdict]
    assert len(verdicts) == 1 and verdicts[0].action is expected_verdict
    for d in decisions:
        assert d.policy_version == "test-7"
        assert d.submission_event_id == case.submission.event_id
        assert d.track_id == case.track_id
    labels = [d.label for d in decisions if d.label is not None]
    assert (labels[0].digital_source_type if labels else None) == source_type


def test_verdict_lists_every_reason() -> None:
    verdict = decide(analysis([FACTS, BROKEN], source="generated"), POLICY)[0]
    assert {r.code for r in verdict.reasons} == {"ai_declared", "detector_error"}
    assert any("chromaprint" in r.message for r in verdict.reasons)


def test_remix_label_names_what_it_derives_from() -> None:
    label = decide(analysis(declared_ai_use="assisted", parent_track_ids=["trk-1"], title="Mix"), POLICY)[
        0
    ].label
    assert label is not None and "trk-1" in label.summary and "'Mix'" in label.summary


def test_detector_errors_can_be_allowed_by_policy() -> None:
    decisions = decide(analysis([FACTS, BROKEN]), Policy(review_on_detector_error=False))
    assert [d.action for d in decisions] == [Action.ALLOW]


def test_deciding_the_same_analysis_twice_gives_the_same_events() -> None:
    case = analysis(source="generated")
    assert decide(case, POLICY) == decide(case, POLICY)

"""Reviews turned into verdicts, and who may take them (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from decisions.review import is_escalated, review_decision, senior_needed
from index.keys import ROLES, ApiKey
from model.events import Action, Reason, ReviewAction
from model.reasons import SEVERITY, ReasonCode, severity

T0 = datetime(2026, 3, 1, tzinfo=UTC)
THREAT = Reason(code=ReasonCode.HARASSMENT_THREAT, message="a threat against a real person")
UNDECLARED = Reason(code=ReasonCode.AI_UNDECLARED, message="a watermark the upload did not declare")


def review(action: str, reasons: list[Reason], reviewed: Action = Action.NEEDS_REVIEW) -> ReviewAction:
    return ReviewAction(
        track_id="trk-1",
        action=action,  # type: ignore[arg-type]
        reason="looked at it",
        reviewer="rev-ada",
        reviewer_key_id="k-ada",
        reviewed_decision_event_id="d-1",
        reviewed_action=reviewed,
        reviewed_reasons=reasons,
        submission_event_id="s-1",
        submitted_at=T0,
    )


def codes(reasons: list[Reason]) -> list[str]:
    return [r.code.value for r in reasons]


def test_escalating_keeps_why_the_case_was_flagged_and_its_severity() -> None:
    decision = review_decision(review("escalate", [THREAT, UNDECLARED]))
    assert decision.action is Action.NEEDS_REVIEW
    assert codes(decision.reasons) == ["review_escalate", "harassment_threat", "ai_undeclared"]
    assert severity(r.code for r in decision.reasons) >= SEVERITY[ReasonCode.HARASSMENT_THREAT]
    assert is_escalated(codes(decision.reasons))


def test_a_review_of_a_review_carries_the_original_reasons_not_the_earlier_review() -> None:
    escalated = review_decision(review("escalate", [THREAT]))
    upheld = review_decision(review("uphold", list(escalated.reasons)))
    assert upheld.action is Action.TAKEDOWN
    assert codes(upheld.reasons) == ["review_uphold", "harassment_threat"]
    assert not is_escalated(codes(upheld.reasons))


def test_the_verdict_names_the_reviewers_key_id_beside_the_name() -> None:
    evidence = review_decision(review("uphold", [THREAT])).reasons[0].evidence[0]
    assert (evidence.data["reviewer"], evidence.data["reviewer_key_id"]) == ("rev-ada", "k-ada")


@pytest.mark.parametrize(
    ("action", "reason_codes", "escalated", "senior"),
    [
        ("overturn", ["catalog_block"], False, True),
        ("overturn", ["ai_label", "opt_out_recording"], False, True),
        ("overturn", ["opt_out_name"], False, True),
        ("overturn", ["review_uphold", "opt_out_voice"], False, True),  # still an opt-out after an uphold
        ("uphold", ["catalog_block"], False, False),
        ("escalate", ["opt_out_name"], False, False),
        ("overturn", ["harassment_threat"], False, False),
        ("uphold", ["review_escalate", "harassment_abuse"], True, True),  # escalated: any action
    ],
)
def test_who_may_act(action: str, reason_codes: list[str], escalated: bool, senior: bool) -> None:
    why = senior_needed(action, reason_codes, escalated)
    assert (why is not None) == senior
    if why is not None:
        assert "senior_reviewer" in why


def test_a_senior_reviewer_does_what_a_reviewer_does_and_more() -> None:
    assert "senior_reviewer" in ROLES
    senior = ApiKey("k1", "sen-cy", "senior_reviewer", None)
    reviewer = ApiKey("k2", "rev-ada", "reviewer", None)
    admin = ApiKey("k3", "ops", "admin", None)
    assert senior.has_role("reviewer") and senior.has_role("senior_reviewer")
    assert reviewer.has_role("reviewer") and not reviewer.has_role("senior_reviewer")
    assert admin.has_role("senior_reviewer") and not senior.has_role("rights_holder")

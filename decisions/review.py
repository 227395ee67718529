"""A reviewer's action turned into the track's new verdict: pure, like every decision."""

from __future__ import annotations

from model.events import Action, Decision, Evidence, Reason, ReviewAction, derived_id
from model.reasons import ReasonCode

REVIEW_POLICY = "review"
_DONE = {"uphold": "upheld", "overturn": "overturned", "escalate": "escalated"}


def review_outcome(review: ReviewAction) -> Action:
    """overturn -> allow; uphold -> the decision stands (a needs_review case becomes a takedown);
    escalate -> stays needs_review, for a senior reviewer."""
    if review.action == "overturn":
        return Action.ALLOW
    if review.action == "escalate":
        return Action.NEEDS_REVIEW
    return Action.TAKEDOWN if review.reviewed_action is Action.NEEDS_REVIEW else review.reviewed_action


def review_decision(review: ReviewAction) -> Decision:
    outcome = review_outcome(review)
    return Decision(
        event_id=derived_id(review.event_id, "decision"),
        track_id=review.track_id,
        occurred_at=review.occurred_at,
        action=outcome,
        verdict=True,
        submission_event_id=review.submission_event_id,
        submitted_at=review.submitted_at,
        policy_version=REVIEW_POLICY,
        reasons=[
            Reason(
                code=ReasonCode(f"review_{review.action}"),
                message=(
                    f"{review.reviewer} {_DONE[review.action]} the {review.reviewed_action.value} decision: "
                    f"{review.reason}"
                ),
                evidence=[
                    Evidence(
                        detector="review",
                        summary=f"review {review.event_id}",
                        data={
                            "review_event_id": review.event_id,
                            "reviewed_decision_event_id": review.reviewed_decision_event_id,
                            "reviewer": review.reviewer,
                        },
                    )
                ],
            )
        ],
    )

"""A reviewer's action turned into the track's new verdict: pure, like every decision."""

from __future__ import annotations

from streams.events import Decision, Evidence, Reason, ReviewAction, derived_id, review_outcome

REVIEW_POLICY = "review"
_DONE = {"uphold": "upheld", "overturn": "overturned", "escalate": "escalated"}


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
                code=f"review_{review.action}",
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

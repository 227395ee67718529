"""A reviewer's action turned into the track's new verdict, and who may take it: pure, like every
decision."""

from __future__ import annotations

from collections.abc import Iterable

from model.events import Action, Decision, Evidence, Reason, ReviewAction, derived_id
from model.reasons import ReasonCode

REVIEW_POLICY = "review"
_DONE = {"uphold": "upheld", "overturn": "overturned", "escalate": "escalated"}
_REVIEW_CODES = frozenset(
    {
        ReasonCode.REVIEW_UPHOLD,
        ReasonCode.REVIEW_OVERTURN,
        ReasonCode.REVIEW_ESCALATE,
        ReasonCode.REVIEW_NEW_CLAIM,
    }
)
# a rights holder's block and an artist's opt-out are theirs to lift, not one reviewer's
SENIOR_TO_OVERTURN = frozenset(
    {
        ReasonCode.CATALOG_BLOCK,
        ReasonCode.OPT_OUT_RECORDING,
        ReasonCode.OPT_OUT_NAME,
        ReasonCode.OPT_OUT_VOICE,
    }
)


def review_outcome(review: ReviewAction) -> Action:
    """overturn -> allow; uphold -> the decision stands (a needs_review case becomes a takedown);
    escalate -> stays needs_review, for a senior reviewer."""
    if review.action == "overturn":
        return Action.ALLOW
    if review.action == "escalate":
        return Action.NEEDS_REVIEW
    return Action.TAKEDOWN if review.reviewed_action is Action.NEEDS_REVIEW else review.reviewed_action


def is_escalated(codes: Iterable[str]) -> bool:
    """A decision is an escalated case when its verdict came from an escalation."""
    return ReasonCode.REVIEW_ESCALATE in set(codes)


def senior_needed(action: str, codes: Iterable[str], escalated: bool) -> str | None:
    """Why acting on a decision with these reason codes needs a senior reviewer (None: any
    reviewer may): escalated cases are theirs, and so is overturning a rights holder's block
    or an artist's opt-out."""
    if escalated:
        return "the case was escalated: only a senior_reviewer acts on it"
    protected = sorted(SENIOR_TO_OVERTURN.intersection(codes))
    if action == "overturn" and protected:
        return (
            f"overturning a decision for {', '.join(protected)} (a rights holder's block or an "
            "artist's opt-out) needs a senior_reviewer"
        )
    return None


def _original_reasons(review: ReviewAction) -> list[Reason]:
    """What the reviewed decision was about, without earlier reviews' own reasons."""
    return [r for r in review.reviewed_reasons if r.code not in _REVIEW_CODES]


def is_review_code(code: str) -> bool:
    """A reason a review (or a reopened review) adds, rather than one the pipeline gave."""
    return code in _REVIEW_CODES


def review_decision(review: ReviewAction) -> Decision:
    """The new verdict: the review's reason first, then the reasons it reviewed (an escalated
    case keeps why it was flagged and how severe it is; a later action still knows it overturns
    a block or an opt-out)."""
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
                            "reviewer_key_id": review.reviewer_key_id,
                        },
                    )
                ],
            ),
            *_original_reasons(review),
        ],
    )

"""From findings + policy to decision events.

Each rule looks at the analysis and returns outcomes (an action with its reason). The verdict
is the strongest action (takedown > needs_review > label > allow) and lists every reason;
an AI label is published as its own `label` decision whatever the verdict.
Ids derive from the submission's event id, so deciding the same submission twice gives the
same events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from decisions.policy import Policy
from streams.events import Action, AiLabel, Decision, Evidence, Reason, TrackAnalyzed, derived_id

# C2PA / IPTC digital source types
TRAINED_ALGORITHMIC_MEDIA = "trainedAlgorithmicMedia"
COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA = "compositeWithTrainedAlgorithmicMedia"

STRENGTH: dict[Action, int] = {Action.ALLOW: 0, Action.LABEL: 1, Action.NEEDS_REVIEW: 2, Action.TAKEDOWN: 3}


@dataclass(frozen=True)
class Outcome:
    action: Action
    reason: Reason
    label: AiLabel | None = None


Rule = Callable[[TrackAnalyzed, Policy], Iterable[Outcome]]


def declared_ai_rule(analysis: TrackAnalyzed, policy: Policy) -> Iterable[Outcome]:
    """Label what the submission itself says about AI involvement."""
    sub = analysis.submission
    if sub.source == "generated" or sub.declared_ai_use == "generated":
        source_type, what = TRAINED_ALGORITHMIC_MEDIA, "AI-generated"
    elif sub.declared_ai_use == "assisted":
        source_type, what = COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA, "AI-assisted"
    else:
        return
    title = f"'{sub.title}'" if sub.title else "this track"
    summary = f"{what} track {title}"
    if sub.parent_track_ids:
        summary += f", derived from {', '.join(sub.parent_track_ids)}"
    how = "platform generator" if sub.source == "generated" else "uploader's declaration"
    yield Outcome(
        action=Action.LABEL,
        reason=Reason(
            code="ai_declared",
            message=f"{summary} (known from the {how})",
            evidence=[
                Evidence(
                    detector="submission",
                    summary=f"source={sub.source}, declared_ai_use={sub.declared_ai_use}",
                    data={
                        "source": sub.source,
                        "declared_ai_use": sub.declared_ai_use,
                        "parent_track_ids": list(sub.parent_track_ids),
                    },
                )
            ],
        ),
        label=AiLabel(digital_source_type=source_type, summary=summary),
    )


def detector_error_rule(analysis: TrackAnalyzed, policy: Policy) -> Iterable[Outcome]:
    if not policy.review_on_detector_error:
        return
    for finding in analysis.findings:
        if finding.status == "error":
            yield Outcome(
                action=Action.NEEDS_REVIEW,
                reason=Reason(
                    code="detector_error",
                    message=f"detector {finding.detector} could not examine the track",
                    evidence=[Evidence(detector=finding.detector, summary=finding.error or "unknown error")],
                ),
            )


def catalog_match_rule(analysis: TrackAnalyzed, policy: Policy) -> Iterable[Outcome]:
    """Matched catalog recordings, under their rights holder's policy: `block` takes the
    upload down; `monetize` and `track` let it stay, with the match on record."""
    finding = analysis.finding("catalog_match")
    if finding is None or finding.result is None or finding.result.kind != "catalog_match":
        return
    for match in finding.result.matches:
        artists = ", ".join(match.artists)
        message = (
            f"{match.seconds_matched:.1f} s ({match.share_of_upload:.0%} of the upload) come from "
            f"'{match.title}' by {artists} ({match.isrc}, {match.catalog}); "
            f"{match.rights_holder} policy: {match.policy}"
        )
        evidence = Evidence(
            detector="catalog_match",
            summary=(
                f"{len(match.segments)} segment(s), longest {match.longest_segment_s:.1f} s, "
                f"score {match.score:.2f}"
            ),
            data=match.model_dump(mode="json"),
        )
        action = Action.TAKEDOWN if match.policy == "block" else Action.ALLOW
        yield Outcome(
            action=action, reason=Reason(code=f"catalog_{match.policy}", message=message, evidence=[evidence])
        )


RULES: tuple[Rule, ...] = (declared_ai_rule, catalog_match_rule, detector_error_rule)


def decide(analysis: TrackAnalyzed, policy: Policy, rules: tuple[Rule, ...] = RULES) -> list[Decision]:
    outcomes = [outcome for rule in rules for outcome in rule(analysis, policy)]
    label = next((o.label for o in outcomes if o.label is not None), None)
    verdict_action = max((o.action for o in outcomes), key=STRENGTH.__getitem__, default=Action.ALLOW)
    reasons = [o.reason for o in outcomes]
    decisions = [_decision(analysis, policy, verdict_action, True, reasons, label)]
    if label is not None and verdict_action is not Action.LABEL:
        label_reasons = [o.reason for o in outcomes if o.label is not None]
        decisions.append(_decision(analysis, policy, Action.LABEL, False, label_reasons, label))
    return decisions


def _decision(
    analysis: TrackAnalyzed,
    policy: Policy,
    action: Action,
    verdict: bool,
    reasons: list[Reason],
    label: AiLabel | None,
) -> Decision:
    submission_id = analysis.submission.event_id
    return Decision(
        event_id=derived_id(submission_id, "decision", action.value),
        track_id=analysis.track_id,
        occurred_at=analysis.occurred_at,
        action=action,
        verdict=verdict,
        submission_event_id=submission_id,
        submitted_at=analysis.submission.occurred_at,
        policy_version=policy.version,
        reasons=reasons,
        label=label,
    )

"""From findings + policies + context to decision events: a pure function, tested without servers.

One verdict per track version: the strongest action of every rule's outcomes
(takedown > needs_review > royalty/label > allow), listing every reason. Beside it:
- a `label` decision whenever AI is involved (whatever the verdict), with the C2PA source type;
- one `royalty` decision per rights holder for monetized matches (decisions/royalties.py), unless
  the track is taken down, and never one that was already paid for this track version.
Ids derive from the submission (verdict, label; and the reprocessing round, for a track sent
through again) or from the track version (royalties), so the same input always gives the same
events and replays are recognised downstream.
"""

from __future__ import annotations

from decisions import royalties
from decisions.policy import Policies
from decisions.rules import (
    DecisionContext,
    Outcome,
    ai_label_rule,
    catalog_rule,
    composition_rule,
    compositions_of,
    detector_error_rule,
    harassment_rule,
    matches_of,
    name_opt_out_rule,
    voice_opt_out_rule,
)
from model.events import Action, AiLabel, Decision, Reason, Royalty, TrackAnalyzed, derived_id

STRENGTH: dict[Action, int] = {
    Action.ALLOW: 0,
    Action.LABEL: 1,
    Action.ROYALTY: 1,
    Action.NEEDS_REVIEW: 2,
    Action.TAKEDOWN: 3,
}
RULES = (
    ai_label_rule,
    catalog_rule,
    composition_rule,
    name_opt_out_rule,
    voice_opt_out_rule,
    harassment_rule,
    detector_error_rule,
)


def royalty_id(analysis: TrackAnalyzed, rights_holder: str) -> str:
    """Per track version (track id + audio), not per submission: a replay or a re-submission of
    the same audio gets the same id and is not paid again."""
    sub = analysis.submission
    version = f"{sub.track_id}:{sub.audio_sha256 or sub.audio_uri}"
    return derived_id(version, "royalty", rights_holder)


def decision_id(analysis: TrackAnalyzed, action: Action) -> str:
    """Per submission; a reprocessing round's decisions get ids of their own round here, and a
    changed verdict published by the round is given an id of the verdict it replaces and of its
    outcome (decisions/redecide.py), so rounds racing over one verdict publish the same event."""
    submission = analysis.submission
    if submission.reprocess is None:
        return derived_id(submission.event_id, "decision", action.value)
    return derived_id(submission.event_id, "decision", action.value, "round", submission.reprocess.round_id)


def _verdict_action(outcomes: list[Outcome]) -> Action:
    """The strongest action; between the equally strong royalty and label, royalty (the track
    stays up and is monetized; its label is published beside the verdict either way)."""
    actions = [o.action for o in outcomes] or [Action.ALLOW]
    return max(actions, key=lambda a: (STRENGTH[a], a is Action.ROYALTY))


def decide(
    analysis: TrackAnalyzed, policies: Policies, context: DecisionContext | None = None
) -> list[Decision]:
    context = context or DecisionContext()
    outcomes = [o for rule in RULES for o in rule(analysis, policies, context)]
    verdict_action = _verdict_action(outcomes)
    holders = [m.rights_holder for m in matches_of(analysis)]
    holders += [c.rights_holder for c in compositions_of(analysis)]
    version = policies.version_label(holders)
    label = next((o.label for o in outcomes if o.label is not None), None)
    reasons = [o.reason for o in outcomes]
    decisions = [_decision(analysis, version, verdict_action, True, reasons, label)]
    if label is not None and verdict_action is not Action.LABEL:
        label_reasons = [o.reason for o in outcomes if o.label is not None]
        decisions.append(_decision(analysis, version, Action.LABEL, False, label_reasons, label))
    if verdict_action is not Action.TAKEDOWN:
        decisions.extend(_royalties(analysis, version, outcomes, context))
    return decisions


def _royalties(
    analysis: TrackAnalyzed, version: str, outcomes: list[Outcome], context: DecisionContext
) -> list[Decision]:
    claims = [claim for o in outcomes for claim in o.claims]
    if not claims:
        return []
    duration = _upload_seconds(analysis)
    decisions = []
    for royalty in royalties.split(claims, duration):
        event_id = royalty_id(analysis, royalty.rights_holder)
        if event_id in context.paid_royalty_ids:
            continue
        reasons = [
            o.reason for o in outcomes if any(c.rights_holder == royalty.rights_holder for c in o.claims)
        ]
        decisions.append(
            _decision(analysis, version, Action.ROYALTY, False, reasons, None, royalty, event_id)
        )
    return decisions


def _upload_seconds(analysis: TrackAnalyzed) -> float:
    for finding in analysis.findings:
        result = finding.result
        if result is not None and result.kind == "audio_facts":
            return float(result.duration_s)
    matches = matches_of(analysis)
    if matches and matches[0].share_of_upload > 0:
        return matches[0].seconds_matched / matches[0].share_of_upload
    return 0.0


def _decision(
    analysis: TrackAnalyzed,
    policy_version: str,
    action: Action,
    verdict: bool,
    reasons: list[Reason],
    label: AiLabel | None,
    royalty: Royalty | None = None,
    event_id: str | None = None,
) -> Decision:
    submission_id = analysis.submission.event_id
    return Decision(
        event_id=event_id or decision_id(analysis, action),
        track_id=analysis.track_id,
        occurred_at=analysis.occurred_at,
        action=action,
        verdict=verdict,
        submission_event_id=submission_id,
        submitted_at=analysis.submission.occurred_at,
        policy_version=policy_version,
        reasons=reasons,
        label=label,
        royalty=royalty,
    )

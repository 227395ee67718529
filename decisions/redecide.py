"""Deciding a track again (a backfill or replay round): what of the new decisions to publish.

A round whose verdict says what the track's current verdict already says (same action, same
reasons) adds no verdict and no label: only royalties not yet paid for this track version (the
decision function already leaves out the paid ones). A changed verdict is published whole.

A reviewed track (its current verdict a review of the same submission) never gets a pipeline
verdict over the reviewer's: when the round's outcome is what the reviewer saw, only unpaid
royalties; when it differs, a needs_review case ("new claim since review: ...") instead."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from decisions.review import REVIEW_POLICY, is_review_code
from model.events import Action, Decision, Reason, derived_id, utcnow
from model.limits import REASON_CHARS, clip
from model.reasons import ReasonCode

OutcomeKey = tuple[str, tuple[tuple[str, str], ...]]


def outcome_key(action: str, reasons: Iterable[Reason | dict[str, Any]]) -> OutcomeKey:
    """What a verdict says, whatever its id and time: its action and its reasons (code and text,
    in any order). The text names the recordings, holders, policies and amounts involved."""
    pairs = []
    for reason in reasons:
        if isinstance(reason, Reason):
            pairs.append((str(reason.code), reason.message))
        else:
            pairs.append((str(reason.get("code", "")), str(reason.get("message", ""))))
    return action, tuple(sorted(pairs))


def verdict_unchanged(new_verdict: Decision, current: dict[str, Any] | None) -> bool:
    """Does the record's current decision (its `decision` field, for the same submission) say
    what the new verdict says?"""
    if not current or current.get("submission_event_id") != new_verdict.submission_event_id:
        return False
    return outcome_key(str(current.get("action")), current.get("reasons") or []) == outcome_key(
        new_verdict.action.value, new_verdict.reasons
    )


def reviewed(new_verdict: Decision, current: dict[str, Any] | None) -> bool:
    """Is the record's current decision a review (or a reopened review) of the same submission?"""
    return (
        current is not None
        and current.get("policy_version") == REVIEW_POLICY
        and current.get("submission_event_id") == new_verdict.submission_event_id
    )


def _pipeline_reasons(reasons: Iterable[Reason | dict[str, Any]]) -> OutcomeKey:
    """The reasons the pipeline gave (what a reviewer saw), without the reviews' own."""
    key = outcome_key("", reasons)
    return "", tuple(pair for pair in key[1] if not is_review_code(pair[0]))


def seen_by_reviewer(new_verdict: Decision, current: dict[str, Any]) -> bool:
    """Does the round's verdict give the reasons the reviewed decision gave?"""
    return _pipeline_reasons(current.get("reasons") or []) == _pipeline_reasons(new_verdict.reasons)


def after_id(new_verdict: Decision, current: dict[str, Any] | None, action: Action | None = None) -> str:
    """A round's changed verdict (or its label): its id derives from the verdict it replaces and
    the outcome it says, not from the round, so two rounds racing over the same verdict publish
    the same event (the writer keeps one), while a flip back (A, B, A) is a new event each time."""
    outcome = outcome_key(new_verdict.action.value, new_verdict.reasons)
    digest = hashlib.sha256(repr(outcome).encode()).hexdigest()[:32]
    replaces = str((current or {}).get("event_id") or "")
    return derived_id(
        new_verdict.submission_event_id,
        "decision",
        (action or new_verdict.action).value,
        "after",
        replaces,
        digest,
    )


def review_again(new_verdict: Decision, current: dict[str, Any], now: datetime | None = None) -> Decision:
    """A reviewed track whose outcome changed goes back to review (as a review-ranked verdict, so
    it replaces the reviewer's on the record), with the new outcome's reasons after its own."""
    seen = _pipeline_reasons(current.get("reasons") or [])[1]
    new = _pipeline_reasons(new_verdict.reasons)[1]
    added = [message for code, message in new if (code, message) not in seen] or ["a reason was withdrawn"]
    return new_verdict.model_copy(
        update={
            "event_id": after_id(new_verdict, current, Action.NEEDS_REVIEW),
            "occurred_at": now or utcnow(),
            "action": Action.NEEDS_REVIEW,
            "policy_version": REVIEW_POLICY,
            "reasons": [
                Reason(
                    code=ReasonCode.REVIEW_NEW_CLAIM,
                    message=clip(
                        f"new claim since review (the pipeline now says {new_verdict.action.value}): "
                        + "; ".join(added),
                        REASON_CHARS,
                    ),
                ),
                *new_verdict.reasons,
            ],
        }
    )


def to_publish(
    decisions: list[Decision], current: dict[str, Any] | None, now: datetime | None = None
) -> list[Decision]:
    """The decisions of a round worth publishing given the track's current decision: all of them
    when the verdict changed, else only the royalties (unpaid ones: see `decide`). A reviewed
    track's verdict is never replaced by the pipeline's: see the module's docstring."""
    verdict = next((d for d in decisions if d.verdict), None)
    if verdict is None:
        return decisions
    royalties = [d for d in decisions if not d.verdict and d.action is Action.ROYALTY]
    if current is not None and reviewed(verdict, current):
        if seen_by_reviewer(verdict, current):
            return royalties
        return [review_again(verdict, current, now), *royalties]
    if not verdict_unchanged(verdict, current):
        return [
            d.model_copy(update={"event_id": after_id(verdict, current, d.action)})
            if d.royalty is None
            else d
            for d in decisions
        ]
    return royalties

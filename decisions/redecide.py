"""Deciding a track again (a backfill or replay round): what of the new decisions to publish.

A round whose verdict says what the track's current verdict already says (same action, same
reasons) adds no verdict and no label: only royalties not yet paid for this track version (the
decision function already leaves out the paid ones). A changed verdict is published whole."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from model.events import Action, Decision, Reason

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


def to_publish(decisions: list[Decision], current: dict[str, Any] | None) -> list[Decision]:
    """The decisions of a round worth publishing given the track's current decision: all of them
    when the verdict changed, else only the royalties (unpaid ones: see `decide`)."""
    verdict = next((d for d in decisions if d.verdict), None)
    if verdict is None or not verdict_unchanged(verdict, current):
        return decisions
    return [d for d in decisions if not d.verdict and d.action is Action.ROYALTY]

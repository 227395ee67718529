"""What a rights holder may read of a provenance record and of decisions: their own catalog's
part and what concerns no recording at all, never another holder's matches, ISRCs, policies,
rates, reasons or royalties, and no server paths. Every route a holder can read goes through
these functions (the index only decides which records a holder may see at all)."""

from __future__ import annotations

import re
from typing import Any

from decisions.policy import DEFAULT_HOLDER

# Whitelists: a field added to the record later stays hidden from holders until it is listed.
RECORD_FIELDS = (
    "track_id",
    "status",
    "submission",
    "analyzed_at",
    "facts",
    "matches",
    "compositions",
    "watermark",
    "decision",
    "label",
    "updated_at",
)
SUBMISSION_FIELDS = (  # not audio_uri: a path on the server
    "event_type",
    "event_id",
    "schema_version",
    "occurred_at",
    "track_id",
    "source",
    "audio_sha256",
    "uploader_id",
    "title",
    "artists",
    "description",
    "prompt",
    "lyrics",
    "declared_ai_use",
    "parent_track_ids",
)
_POLICY_LABEL = re.compile(r"(\S.*?@\d+)(?=\s|$)")  # "platform@1 Alder Records@2 _default@1"
_SHARED_POLICIES = ("platform", DEFAULT_HOLDER)


def record_for_holder(record: dict[str, Any], holder: str) -> dict[str, Any]:
    view = {name: record[name] for name in RECORD_FIELDS if name in record}
    if isinstance(view.get("submission"), dict):
        view["submission"] = {k: v for k, v in view["submission"].items() if k in SUBMISSION_FIELDS}
    for works in ("matches", "compositions"):
        view[works] = [m for m in view.get(works) or [] if m.get("rights_holder") == holder]
    if isinstance(view.get("decision"), dict):
        view["decision"] = _decision_view(view["decision"], holder)
    return view


def decisions_for_holder(decisions: list[dict[str, Any]], holder: str) -> list[dict[str, Any]]:
    """Decision events as the holder may see them: another holder's royalty is left out."""
    return [
        _decision_view(d, holder)
        for d in decisions
        if not d.get("royalty") or d["royalty"].get("rights_holder") == holder
    ]


def _decision_view(decision: dict[str, Any], holder: str) -> dict[str, Any]:
    view = dict(decision)
    view["reasons"] = [_reason_view(r, holder) for r in decision.get("reasons") or [] if _shown(r, holder)]
    if isinstance(view.get("policy_version"), str):
        view["policy_version"] = _policies_for_holder(view["policy_version"], holder)
    return view


def _holders_in(reason: dict[str, Any]) -> set[str]:
    """The rights holders whose recordings a reason's evidence is about."""
    return {
        str(e["data"]["rights_holder"])
        for e in reason.get("evidence") or []
        if isinstance(e.get("data"), dict) and "rights_holder" in e["data"]
    }


def _shown(reason: dict[str, Any], holder: str) -> bool:
    """A reason about the holder's recordings only, or about no recording (an AI label, say)."""
    return _holders_in(reason) <= {holder}


def _reason_view(reason: dict[str, Any], holder: str) -> dict[str, Any]:
    """The holder's own match evidence stays; other evidence (detector errors with their text,
    reviewers, watermark internals) is the platform's: code and message only."""
    if _holders_in(reason) == {holder}:
        return reason
    return {**reason, "evidence": []}


def _policies_for_holder(version: str, holder: str) -> str:
    """The policy versions a decision applied, without other holders' names."""
    labels = _POLICY_LABEL.findall(version)
    if not labels:
        return version  # e.g. "review"
    return " ".join(label for label in labels if label.rsplit("@", 1)[0] in (*_SHARED_POLICIES, holder))

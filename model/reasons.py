"""Every reason a decision can give, with how urgent a case carrying it is.

A new rule adds its code here, with its severity; the review queue sorts cases on the most
severe reason they carry, so a code cannot exist without one.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class ReasonCode(StrEnum):
    AI_LABEL = "ai_label"
    AI_UNDECLARED = "ai_undeclared"
    CREDENTIALS_TAMPERED = "credentials_tampered"
    CATALOG_BLOCK = "catalog_block"
    CATALOG_MONETIZE = "catalog_monetize"
    CATALOG_TRACK = "catalog_track"
    OPT_OUT_RECORDING = "opt_out_recording"
    OPT_OUT_COMPOSITION = "opt_out_composition"
    COMPOSITION_BLOCK = "composition_block"
    COMPOSITION_MONETIZE = "composition_monetize"
    COMPOSITION_TRACK = "composition_track"
    OPT_OUT_NAME = "opt_out_name"
    OPT_OUT_VOICE = "opt_out_voice"
    HARASSMENT_THREAT = "harassment_threat"
    HARASSMENT_ABUSE = "harassment_abuse"
    DETECTOR_ERROR = "detector_error"
    REVIEW_UPHOLD = "review_uphold"
    REVIEW_OVERTURN = "review_overturn"
    REVIEW_ESCALATE = "review_escalate"
    REVIEW_NEW_CLAIM = "review_new_claim"  # a reviewed track's outcome changed since its review


SEVERITY: dict[ReasonCode, int] = {
    ReasonCode.HARASSMENT_THREAT: 5,
    ReasonCode.OPT_OUT_VOICE: 4,
    ReasonCode.OPT_OUT_NAME: 4,
    ReasonCode.OPT_OUT_RECORDING: 4,
    ReasonCode.OPT_OUT_COMPOSITION: 4,
    ReasonCode.HARASSMENT_ABUSE: 3,
    ReasonCode.AI_UNDECLARED: 2,
    ReasonCode.CREDENTIALS_TAMPERED: 2,
    ReasonCode.REVIEW_ESCALATE: 2,
    ReasonCode.REVIEW_NEW_CLAIM: 2,
    ReasonCode.DETECTOR_ERROR: 1,
    ReasonCode.AI_LABEL: 0,
    ReasonCode.CATALOG_BLOCK: 0,
    ReasonCode.CATALOG_MONETIZE: 0,
    ReasonCode.CATALOG_TRACK: 0,
    ReasonCode.COMPOSITION_BLOCK: 0,
    ReasonCode.COMPOSITION_MONETIZE: 0,
    ReasonCode.COMPOSITION_TRACK: 0,
    ReasonCode.REVIEW_UPHOLD: 0,
    ReasonCode.REVIEW_OVERTURN: 0,
}


def severity(codes: Iterable[ReasonCode]) -> int:
    """How urgent a case is: its most severe reason (0 without any)."""
    return max((SEVERITY[code] for code in codes), default=0)

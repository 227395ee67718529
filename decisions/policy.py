"""Policies: what a match on a rights holder's recording leads to, and the platform's own
thresholds. Every decision names the versions it applied.

A rights holder's policy is an ordered list of match rules in the style of content-ID match
policies: the first rule whose conditions all hold (minimum matched seconds, minimum share of
the upload, the upload's source, how the recording was modified: sped up, slowed, pitch-shifted,
time-stretched or not at all) gives the action: `block`, `monetize` or `track`; `recording`
means "what the recording was registered with". When no rule holds, the match is only tracked.
Rights holders without a policy of their own get the default one.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from model.findings import Modification
from model.sources import SOURCES, Source

MatchAction = Literal["block", "monetize", "track"]
DEFAULT_HOLDER = "_default"


class MatchRule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    action: Literal["block", "monetize", "track", "recording"]
    min_matched_seconds: float = Field(0.0, ge=0)
    min_share_of_upload: float = Field(0.0, ge=0, le=1)
    sources: list[Source] = Field(default_factory=lambda: list(SOURCES))
    modifications: list[Modification] | None = Field(
        None,
        max_length=6,
        description="the rule holds only for matches modified in one of these ways ('none': the "
        "recording as registered); unset: whatever the modification",
    )

    def holds(self, matched_seconds: float, share: float, source: str, modification: str = "none") -> bool:
        return (
            matched_seconds >= self.min_matched_seconds
            and share >= self.min_share_of_upload
            and source in self.sources
            and (self.modifications is None or modification in self.modifications)
        )


class RightsHolderPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rights_holder: str = Field(min_length=1, description=f"{DEFAULT_HOLDER!r} for the default policy")
    version: int = Field(1, ge=1)
    rules: list[MatchRule] = Field(min_length=1)

    @property
    def label(self) -> str:
        return f"{self.rights_holder}@{self.version}"

    def action_for(
        self,
        matched_seconds: float,
        share: float,
        source: str,
        registered: MatchAction,
        modification: str = "none",
    ) -> MatchAction:
        for rule in self.rules:
            if rule.holds(matched_seconds, share, source, modification):
                return registered if rule.action == "recording" else rule.action
        return "track"


DEFAULT_RIGHTS_HOLDER_POLICY = RightsHolderPolicy(
    rights_holder=DEFAULT_HOLDER,
    version=1,
    # A few seconds in common is not yet a use of the recording; from 5 s on, the recording's
    # registered policy applies.
    rules=[MatchRule(action="recording", min_matched_seconds=5.0)],
)


class PlatformPolicy(BaseModel):
    """Thresholds the platform sets for everyone."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = 1
    review_on_detector_error: bool = True
    # Resemblyzer cosine similarity; calibration and reasoning in the README (bench/voice).
    voice_takedown_similarity: float = Field(0.94, ge=-1, le=1)
    voice_review_similarity: float = Field(0.80, ge=-1, le=1)


class Policies(BaseModel):
    """The policy set one decision is made under."""

    model_config = ConfigDict(frozen=True)

    platform: PlatformPolicy = PlatformPolicy()
    default: RightsHolderPolicy = DEFAULT_RIGHTS_HOLDER_POLICY
    rights_holders: dict[str, RightsHolderPolicy] = Field(default_factory=dict)

    def for_holder(self, rights_holder: str) -> RightsHolderPolicy:
        return self.rights_holders.get(rights_holder, self.default)

    def version_label(self, holders: list[str]) -> str:
        """e.g. "platform@1 _default@1 Umbra Records@3": the documents a decision applied."""
        used = sorted({self.for_holder(h).label for h in holders})
        return (
            " ".join([f"platform@{self.platform.version}", *used])
            if used
            else f"platform@{self.platform.version}"
        )


DEFAULT_POLICIES = Policies()

"""The policy a decision applies. Every decision names the policy version it used."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Policy(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: str = "default-1"
    # A track some detector could not examine is not cleared silently.
    review_on_detector_error: bool = True


DEFAULT_POLICY = Policy()

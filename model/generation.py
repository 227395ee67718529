"""Generation records: what the platform's generator says about each track it makes, kept in a
catalog of generated tracks of its own so that a copy coming back (manifest stripped, sped up,
cut into a mix) can be tied to the generation it came from."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from model.limits import LIST_ITEMS, TEXT_CHARS, Name, Title

GENERATION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
GenerationId = Annotated[str, Field(min_length=1, max_length=64, pattern=f"^{GENERATION_ID.pattern}$")]
# IPTC digital source types (the C2PA vocabulary) that declare AI generation
TRAINED_ALGORITHMIC_MEDIA = "trainedAlgorithmicMedia"
COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA = "compositeWithTrainedAlgorithmicMedia"
AI_SOURCE_TYPES = frozenset({TRAINED_ALGORITHMIC_MEDIA, COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA})
IPTC_SOURCE_TYPE_URL = "http://cv.iptc.org/newscodes/digitalsourcetype/"


class ParentWork(BaseModel):
    """A work a generated track was made from: a registered master (ISRC) or a composition."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["recording", "composition"] = "recording"
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
    title: Title = ""


class GenerationIn(BaseModel):
    """What the generator service says about a track it made, when registering it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    generation_id: GenerationId | None = Field(None, description="default: derived from the audio")
    generator: Name = Field(min_length=1, description="a registered generator, e.g. clearance-remix")
    model_version: int = Field(0, ge=0, le=15, description="the generator model's version (4 bits)")
    prompt: str | None = Field(None, max_length=TEXT_CHARS)
    parents: list[ParentWork] = Field(default_factory=list, max_length=LIST_ITEMS)


class GenerationRecord(BaseModel):
    """One generated track as registered: who made it, from what, and how to recognise it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    generation_id: GenerationId
    generator: Name
    model_version: int = Field(ge=0, le=15)
    created_at: datetime
    prompt: str | None = Field(None, max_length=TEXT_CHARS, description="kept only when configured")
    prompt_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    parents: list[ParentWork] = Field(default_factory=list, max_length=LIST_ITEMS)
    watermark_payload: int | None = Field(None, ge=0, lt=2**16)
    digital_source_type: Literal["trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia"]
    audio_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    duration_s: float = Field(0.0, ge=0)

    @property
    def summary(self) -> str:
        kind = "AI remix" if self.parents else "AI-generated track"
        of = " of " + " and ".join(f"'{p.title or p.id}'" for p in self.parents) if self.parents else ""
        return f"{kind}{of} made by {self.generator} v{self.model_version} on {self.created_at:%Y-%m-%d}"


def prompt_fields(prompt: str | None, keep: bool) -> dict[str, str | None]:
    """The prompt (if configured to keep it) and its hash (always, so a prompt can be confirmed)."""
    if prompt is None:
        return {"prompt": None, "prompt_sha256": None}
    return {
        "prompt": prompt if keep else None,
        "prompt_sha256": hashlib.sha256(prompt.encode()).hexdigest(),
    }

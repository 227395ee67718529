"""The words that come with a track: what the text detectors read."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TrackText:
    source: str  # upload | generated
    title: str = ""
    description: str = ""
    prompt: str = ""
    lyrics: str = ""
    credits: tuple[str, ...] = field(default_factory=tuple)

    def fields(self, with_credits: bool = False) -> Iterator[tuple[str, str]]:
        """(field name, text) for every non-empty field, lyrics last."""
        for name in ("title", "description", "prompt"):
            value = getattr(self, name)
            if value:
                yield name, value
        if with_credits:
            for credit in self.credits:
                yield "credits", credit
        if self.lyrics:
            yield "lyrics", self.lyrics

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

    @classmethod
    def one_field(cls, field_name: str, value: str, source: str = "upload") -> TrackText:
        """A track whose only text is `value` in `field_name` (title, description, prompt, lyrics)."""
        if field_name not in ("title", "description", "prompt", "lyrics"):
            raise ValueError(f"no text field {field_name!r}")
        return cls(source=source, **{field_name: value})  # type: ignore[arg-type]

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

"""Every topic the project uses, named in one place. All are keyed by track id (backfill
requests by their job)."""

from __future__ import annotations

from dataclasses import dataclass

from model.events import Action


@dataclass(frozen=True)
class Topics:
    prefix: str

    @property
    def submitted(self) -> str:
        return f"{self.prefix}tracks.submitted"

    @property
    def analyzed(self) -> str:
        return f"{self.prefix}tracks.analyzed"

    def decisions(self, action: Action) -> str:
        return f"{self.prefix}decisions.{action.value}"

    @property
    def deadletter(self) -> str:
        return f"{self.prefix}deadletter"

    @property
    def reviews(self) -> str:
        return f"{self.prefix}reviews"

    @property
    def backfills(self) -> str:
        """Backfill requests (retroactive claims), keyed by job."""
        return f"{self.prefix}backfills"

    def all(self) -> list[str]:
        return [
            self.submitted,
            self.analyzed,
            *(self.decisions(a) for a in Action),
            self.deadletter,
            self.reviews,
            self.backfills,
        ]

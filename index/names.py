"""Index and template names, derived from the configured prefix."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Indices:
    prefix: str

    @property
    def provenance(self) -> str:
        return f"{self.prefix}provenance"

    @property
    def decisions(self) -> str:
        return f"{self.prefix}decisions"

    @property
    def catalog(self) -> str:
        return f"{self.prefix}catalog"

    def all(self) -> list[str]:
        return [self.provenance, self.decisions, self.catalog]

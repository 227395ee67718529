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

    @property
    def compositions(self) -> str:
        return f"{self.prefix}compositions"

    @property
    def composition_prints(self) -> str:
        return f"{self.prefix}composition-prints"

    @property
    def generated(self) -> str:
        return f"{self.prefix}generated"

    @property
    def policies(self) -> str:
        return f"{self.prefix}policies"

    @property
    def people(self) -> str:
        return f"{self.prefix}people"

    @property
    def audit(self) -> str:
        return f"{self.prefix}audit"

    @property
    def keys(self) -> str:
        return f"{self.prefix}keys"

    @property
    def jobs(self) -> str:
        return f"{self.prefix}jobs"

    def all(self) -> list[str]:
        return [
            self.provenance,
            self.decisions,
            self.catalog,
            self.compositions,
            self.composition_prints,
            self.generated,
            self.policies,
            self.people,
            self.audit,
            self.keys,
            self.jobs,
        ]

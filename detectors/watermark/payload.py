"""The 16-bit payload Clearance's generators embed, in one place.

    bit 15 ............ 4 | 3 ....... 0
        generator id (12) | model version (4)

Bits go to AudioSeal's message most significant first: message[0] is bit 15. Generator ids are
registered below; an id the registry does not know still decodes, named "unregistered-<id>".
"""

from __future__ import annotations

from dataclasses import dataclass

from detectors.watermark.architecture import NBITS

GENERATOR_BITS = 12
VERSION_BITS = NBITS - GENERATOR_BITS

GENERATORS: dict[int, str] = {
    1: "clearance-remix",
    2: "clearance-cover",
    3: "clearance-stems",
    4: "clearance-voice",
}


@dataclass(frozen=True)
class Payload:
    generator_id: int
    model_version: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.generator_id < 2**GENERATOR_BITS:
            raise ValueError(f"generator id must be 0..{2**GENERATOR_BITS - 1}, got {self.generator_id}")
        if not 0 <= self.model_version < 2**VERSION_BITS:
            raise ValueError(f"model version must be 0..{2**VERSION_BITS - 1}, got {self.model_version}")

    @property
    def value(self) -> int:
        return (self.generator_id << VERSION_BITS) | self.model_version

    @property
    def bits(self) -> list[int]:
        return [(self.value >> (NBITS - 1 - i)) & 1 for i in range(NBITS)]

    @property
    def registered(self) -> bool:
        """Few of the 4,096 ids are registered, so bits read wrongly (the payload has no checksum)
        almost always name an unregistered one: the registry is the payload's plausibility check."""
        return self.generator_id in GENERATORS

    @property
    def generator_name(self) -> str:
        return GENERATORS.get(self.generator_id, f"unregistered-{self.generator_id}")

    @classmethod
    def from_bits(cls, bits: list[int]) -> Payload:
        if len(bits) != NBITS:
            raise ValueError(f"expected {NBITS} bits, got {len(bits)}")
        value = 0
        for bit in bits:
            value = (value << 1) | int(bit)
        return cls(generator_id=value >> VERSION_BITS, model_version=value & (2**VERSION_BITS - 1))


def generator_id(name_or_id: str) -> int:
    """Accepts a registered name ("clearance-remix") or a number."""
    if name_or_id.isdigit():
        return int(name_or_id)
    for number, name in GENERATORS.items():
        if name == name_or_id:
            return number
    known = ", ".join(f"{n} ({i})" for i, n in GENERATORS.items())
    raise ValueError(f"unknown generator {name_or_id!r}; registered: {known}")

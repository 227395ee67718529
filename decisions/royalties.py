"""Royalty shares for monetized matches, in integer basis points of the upload's revenue.

The rule (documented in the README):
1. The upload's timeline is cut into deciseconds. A decisecond is claimed by every monetized
   recording whose matched segments cover it, and, apart, by every monetized composition whose
   matched segments cover it: a master right and a publishing right are two rights in the same
   moment (a sampled master pays its label and its song's publisher).
2. A decisecond claimed by n works of one right counts 1/n for each of them (overlapping claims
   split equally; nobody is paid twice for the same moment).
3. A recording's share = its royalty rate (basis points) x its counted deciseconds / the upload's
   deciseconds, kept as an exact fraction and rounded down once, at the end.
4. A rights holder's royalty is the sum of its recordings' shares; one royalty event per holder.
No floats touch money: rates, shares and sums are integers or exact fractions.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from model.events import Royalty, RoyaltyLine

TICKS_PER_SECOND = 10


@dataclass(frozen=True)
class Claim:
    rights_holder: str
    isrc: str
    title: str
    royalty_rate_bp: int
    segments: tuple[tuple[float, float], ...]  # upload start/end seconds
    right: Literal["master", "composition"] = "master"
    work_id: str | None = None  # composition claims: the song


def split(claims: list[Claim], upload_seconds: float) -> list[Royalty]:
    """Each right's claims split on their own; one royalty per holder over both."""
    lines: dict[str, list[RoyaltyLine]] = defaultdict(list)
    for right in ("master", "composition"):
        for holder, holder_lines in _lines([c for c in claims if c.right == right], upload_seconds).items():
            lines[holder] += holder_lines
    return [
        Royalty(
            rights_holder=holder,
            basis_points=sum(line.basis_points for line in holder_lines),
            recordings=holder_lines,
        )
        for holder, holder_lines in sorted(lines.items())
    ]


def _ticks(seconds: float) -> int:
    return round(seconds * TICKS_PER_SECOND)


def _lines(claims: list[Claim], upload_seconds: float) -> dict[str, list[RoyaltyLine]]:
    total = max(1, _ticks(upload_seconds))
    covered: dict[int, set[int]] = defaultdict(set)  # tick -> claim indexes
    for index, claim in enumerate(claims):
        for start, end in claim.segments:
            for tick in range(max(0, _ticks(start)), min(total, _ticks(end))):
                covered[tick].add(index)
    counted = [Fraction(0)] * len(claims)
    for claimants in covered.values():
        for index in claimants:
            counted[index] += Fraction(1, len(claimants))
    lines: dict[str, list[RoyaltyLine]] = defaultdict(list)
    for claim, ticks in zip(claims, counted, strict=True):
        if ticks == 0:
            continue
        basis_points = int(claim.royalty_rate_bp * ticks / total)  # exact fraction, floored
        lines[claim.rights_holder].append(
            RoyaltyLine(
                right=claim.right,
                isrc=claim.isrc,
                work_id=claim.work_id,
                title=claim.title,
                royalty_rate_bp=claim.royalty_rate_bp,
                counted_seconds=float(ticks / TICKS_PER_SECOND),
                basis_points=basis_points,
            )
        )
    return lines

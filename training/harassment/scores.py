"""How the harassment check is scored, the same way for training writers held out and for the
test writers: per class precision and recall, and for harassment of either kind."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

HARMFUL = ("threat", "abuse")


def rates(pairs: Iterable[tuple[str, str]]) -> dict[str, float | None]:
    """(label, finding) pairs, labels other than threat and abuse counting as none; a rate with
    nothing to divide by is None."""
    confusion = Counter((label if label in HARMFUL else "none", found) for label, found in pairs)

    def ratio(hit: int, total: int) -> float | None:
        return round(hit / total, 4) if total else None

    out: dict[str, float | None] = {}
    for cls in HARMFUL:
        predicted = sum(n for (_, found), n in confusion.items() if found == cls)
        actual = sum(n for (label, _), n in confusion.items() if label == cls)
        out[f"{cls}_precision"] = ratio(confusion[(cls, cls)], predicted)
        out[f"{cls}_recall"] = ratio(confusion[(cls, cls)], actual)
    flagged = sum(n for (_, found), n in confusion.items() if found != "none")
    harmful = sum(n for (label, _), n in confusion.items() if label != "none")
    both = sum(n for (label, found), n in confusion.items() if label != "none" and found != "none")
    out["harassment_precision"] = ratio(both, flagged)
    out["harassment_recall"] = ratio(both, harmful)
    return out

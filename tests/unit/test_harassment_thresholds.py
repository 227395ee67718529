"""How training chooses the harassment check's thresholds: by the precision of each kind the
check reports, as the benchmark judges it."""

from __future__ import annotations

import numpy as np

from training.harassment.__main__ import TARGET_PRECISION, UnitScores, thresholds


def _scores(rows: list[tuple[int, list[float]]]) -> tuple[UnitScores, np.ndarray, np.ndarray]:
    """One unit per line: (label 0 none / 1 abuse / 2 threat, [none, abuse, threat] scores)."""
    y = np.asarray([label for label, _ in rows])
    combined = np.asarray([p for _, p in rows], dtype=np.float64)
    n = len(rows)
    no_rule = np.zeros(n, dtype=bool)
    scores = UnitScores(np.arange(n), combined.copy(), combined.copy(), no_rule, no_rule)
    return scores, combined, y


def test_thresholds_keep_abuse_precise_even_when_threats_keep_harassment_of_either_kind_precise() -> None:
    """Six harmless lines read like weak abuse. Flagging the weak abuse with them keeps the
    precision of harassment of either kind at 0.96 (the many clear threats carry it), but abuse
    precision falls to 0.91: the thresholds must leave them out."""
    rows = [(2, [0.0, 0.05, 0.95])] * 100 + [(1, [0.0, 0.9, 0.1])] * 40
    rows += [(1, [0.5, 0.5, 0.0])] * 20 + [(0, [0.5, 0.5, 0.0])] * 6 + [(0, [1.0, 0.0, 0.0])] * 100
    scores, combined, y = _scores(rows)
    (harm_at, _, _), figures = thresholds(scores, combined, y, np.ones(len(y), dtype=bool))
    assert harm_at > 0.5
    assert figures["abuse_precision"] >= TARGET_PRECISION
    assert figures["threat_recall"] == 1.0


def test_thresholds_fall_back_to_harassment_of_either_kind_when_abuse_cannot_be_precise() -> None:
    """Harmless lines scored exactly like the abuse: no threshold makes abuse precise, so the
    check still flags harassment with the precision of either kind."""
    rows = [(2, [0.0, 0.05, 0.95])] * 100 + [(1, [0.0, 0.9, 0.1])] * 40 + [(0, [0.0, 0.9, 0.1])] * 5
    scores, combined, y = _scores(rows)
    (harm_at, _, _), figures = thresholds(scores, combined, y, np.ones(len(y), dtype=bool))
    assert harm_at <= 0.95
    assert figures["both_precisions"] == 0.0
    assert figures["threat_recall"] == 1.0 and figures["harm_precision"] >= TARGET_PRECISION

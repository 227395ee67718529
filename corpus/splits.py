"""Seed ranges per use, in one place, so material a model was trained on never reaches the
benchmark that measures it."""

from __future__ import annotations

MATCHING_MASTERS = range(1, 100_001)
MATCHING_HELD_BACK = range(100_001, 200_001)
WATERMARK_TRAIN = range(500_001, 600_001)
WATERMARK_DEV = range(600_001, 700_001)
WATERMARK_TEST = range(700_001, 800_001)
PROVENANCE_GENERATED = range(800_001, 850_001)
PROVENANCE_UNRELATED = range(850_001, 900_001)
PROVENANCE_BACKGROUNDS = range(900_001, 950_001)

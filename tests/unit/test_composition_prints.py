"""What a composition print's document says about its tune vectors."""

from __future__ import annotations

import numpy as np

from corpus import synth
from detectors import covers
from index.compositions import print_document


def test_a_print_too_short_for_a_section_is_current_and_not_counted_among_older_prints() -> None:
    """Without a section there is nothing to search by; with a lead line it is no print of an
    earlier version, which the lookup would otherwise search by chroma on every upload, and
    `renew-terms` would count as needing its audio, forever."""
    short = covers.cover_print(synth.song(seed=31, seconds=6, rate=22050), 22050)
    assert 0 < len(short.chroma) < covers.MIN_BEATS * covers.SUBDIVISIONS and len(short.lead) == len(
        short.chroma
    )
    document = print_document("W-SHORT", "reference", short)
    assert document["sections"] == [] and document["tune_version"] == covers.TUNE_VERSION


def test_a_print_without_a_lead_line_has_chroma_sections_only() -> None:
    full = covers.cover_print(synth.song(seed=32, seconds=40, rate=22050), 22050)
    without_lead = covers.CoverPrint(full.beats, full.chroma, np.zeros(0, full.lead.dtype))
    document = print_document("W-OLD", "reference", without_lead)
    assert "tune_version" not in document and document["sections"]
    assert all("tune" not in section for section in document["sections"])
    with_lead = print_document("W-NEW", "reference", full)
    assert all(len(section["tune"]) == covers.TUNE_DIMS for section in with_lead["sections"])

"""Crafted events: size and depth limits on every event and field, refused with a reason (what the
agents dead-letter), and no string too long for the keyword field it lands in."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from faust.types.tuples import Message

from decisions.decide import decide
from decisions.policy import Policies
from detectors import harassment, impersonation
from detectors.names import NameIndex, Person
from detectors.text import TrackText
from index import templates
from model.events import Action, EventParseError, ReviewAction, TrackSubmitted, parse_event
from model.limits import KEYWORD_MAX_CHARS, MAX_EVENT_BYTES
from streams.agents import dead_letter_for, parse_indexable
from tests.unit.test_decide import analysis


def submitted(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "event_type": "track_submitted",
        "track_id": "trk-1",
        "source": "upload",
        "audio_uri": "file:///tmp/a",
        "uploader_id": "u1",
        "title": "Song",
    }
    body.update(overrides)
    return body


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [40, 100_000])
def test_deeply_nested_json_is_refused_with_a_reason(depth: int) -> None:
    # 100,000 levels made json.loads raise RecursionError, which stopped the agent
    raw = json.dumps(submitted())[:-1] + f', "extra": {nested(depth)}}}'
    with pytest.raises(EventParseError, match="nested deeper than 32 levels"):
        parse_event(raw.encode(), TrackSubmitted)
    with pytest.raises(EventParseError, match="nested deeper than 32 levels"):
        parse_indexable(raw.replace("track_submitted", "review_action").encode())


def test_a_message_over_the_size_limit_is_refused_before_it_is_parsed() -> None:
    raw = json.dumps(submitted(mood="x" * 6_000_000)).encode()
    with pytest.raises(EventParseError, match=f"the limit is {MAX_EVENT_BYTES}"):
        parse_event(raw, TrackSubmitted)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("uploader_id", "u" * 201),
        ("title", "t" * 501),
        ("artists", ["a" * 201]),
        ("artists", [f"artist {i}" for i in range(51)]),
        ("description", "d" * 10_001),
        ("prompt", "p" * 10_001),
        ("lyrics", "l" * 50_001),
        ("audio_uri", "file:///" + "a" * 5000),
        ("parent_track_ids", [f"trk-{i}" for i in range(51)]),
        ("parent_track_ids", ["has spaces"]),
    ],
)
def test_every_submission_field_over_its_limit_is_refused_naming_the_field(field: str, value: object) -> None:
    raw = json.dumps(submitted(**{field: value})).encode()
    assert len(raw) < MAX_EVENT_BYTES
    with pytest.raises(EventParseError, match=field):
        parse_event(raw, TrackSubmitted)


def _decision(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_type": "decision",
        "track_id": "trk-1",
        "action": "allow",
        "verdict": True,
        "submission_event_id": "s1",
        "submitted_at": "2026-01-01T00:00:00Z",
        "policy_version": "platform@1",
    }
    return body | overrides


def _review(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_type": "review_action",
        "track_id": "trk-1",
        "action": "uphold",
        "reason": "fine",
        "reviewer": "ada",
        "reviewed_decision_event_id": "d1",
        "reviewed_action": "allow",
        "submission_event_id": "s1",
        "submitted_at": "2026-01-01T00:00:00Z",
    }
    return body | overrides


def _analyzed_with_words(words: list[str]) -> dict[str, Any]:
    hit = {"kind": "threat", "field": "lyrics", "sentence": "s", "words": words, "targets": ["A"], "score": 1}
    finding = {
        "detector": "harassment",
        "version": "1",
        "took_ms": 1,
        "status": "ok",
        "result": {"kind": "harassment", "severity": "threat", "hits": [hit]},
    }
    return json.loads(analysis([]).to_bytes()) | {"findings": [finding]}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_decision(submission_event_id="s" * 40_000), "submission_event_id"),
        (_decision(policy_version="p" * 40_000), "policy_version"),
        (_decision(royalty={"rights_holder": "h" * 40_000, "basis_points": 1}), "rights_holder"),
        (_review(reviewer="r" * 40_000), "reviewer"),
        (_review(reviewed_decision_event_id="d" * 40_000), "reviewed_decision_event_id"),
        (_analyzed_with_words(["w" * 40_000]), "words"),
        (_analyzed_with_words([f"w{i}" for i in range(21)]), "words"),
    ],
)
def test_indexed_events_with_a_field_over_its_limit_are_refused(body: dict[str, Any], field: str) -> None:
    with pytest.raises(EventParseError, match=field):
        parse_indexable(json.dumps(body).encode())


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b'{"track_id": ' + b"9" * 5000 + b"}", "not JSON"),  # too many digits for int()
        (None, "expected a message"),  # a tombstone
    ],
)
def test_values_that_break_the_json_reader_are_refused(raw: bytes, says: str) -> None:
    with pytest.raises(EventParseError, match=says):
        parse_event(raw, TrackSubmitted)


def _message(value: bytes, key: bytes = b"trk-1") -> Message:
    return Message(
        topic="t.submitted",
        partition=0,
        offset=7,
        timestamp=0.0,
        timestamp_type=0,
        headers=[],
        key=key,
        value=value,
        checksum=None,
    )


def test_the_dead_letter_of_a_huge_message_still_fits_in_a_message() -> None:
    raw = b"x" * 1_040_000  # the broker takes it; base64 of it would not fit the producer's limit
    letter = dead_letter_for(_message(raw, key=b"k" * 100_000), "parse", EventParseError("e" * 100_000))
    assert len(letter.to_bytes()) < MAX_EVENT_BYTES
    assert raw.startswith(base64.b64decode(letter.payload_b64))
    assert letter.payload_size == len(raw)
    assert letter.payload_sha256 == hashlib.sha256(raw).hexdigest()


def test_a_small_dead_letter_still_keeps_the_message_whole() -> None:
    raw = json.dumps(submitted(source="radio")).encode()
    letter = dead_letter_for(_message(raw), "parse", EventParseError("source: bad"))
    assert letter.payload == raw and letter.payload_size == len(raw)


class _FakeTextModels:
    """Every sentence reads as a threat to the embedding, none as offensive language."""

    @staticmethod
    def offensive_probability(texts: list[str]) -> npt.NDArray[np.float64]:
        return np.zeros(len(texts))

    @staticmethod
    def embed(texts: list[str]) -> npt.NDArray[np.float32]:
        return np.tile(np.array([1.0, 0.0], dtype=np.float32), (len(texts), 1))

    threat_exemplars = np.array([[1.0, 0.0]], dtype=np.float32)
    classifier = None


def test_harassment_hits_keep_flagged_words_short_and_their_number_bounded() -> None:
    # The sentence of a threat found by its meaning alone used to be stored whole as a "word",
    # a keyword: one long enough made the track's record unindexable.
    long_threat = "Juno Park " + "you will regret this " * 2500
    text = TrackText(source="upload", title="x", lyrics=long_threat + ". " + "Juno Park, you idiot. " * 200)
    found = harassment.harassment(text, NameIndex([Person("Juno Park")]), _FakeTextModels())  # type: ignore[arg-type]
    assert found.severity == "threat"
    assert 0 < len(found.hits) <= 50
    assert all(len(w) <= 200 for h in found.hits for w in h.words)
    assert all(len(h.sentence) <= 1000 for h in found.hits)
    assert found.hits[0].words[0].startswith("Juno Park you will regret this")


def test_a_name_written_with_anything_between_its_words_is_kept_short() -> None:
    text = TrackText(source="upload", title="in the style of Juno" + "-" * 40_000 + "Park")
    found = impersonation.name_requests(text, NameIndex([Person("Juno Park", opted_out=True)]))
    assert [r.artist for r in found.requests] == ["Juno Park"]
    assert all(len(r.written) <= 200 for r in found.requests)


def _keyword_fields(mapping: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name, field in mapping.get("properties", {}).items():
        found += _keyword_fields(field, f"{path}{name}.")
        found += [
            (f"{path}{name}.{sub}", f) for sub, f in field.get("fields", {}).items() if f["type"] == "keyword"
        ]
        if field.get("type") == "keyword":
            found.append((f"{path}{name}", field))
    return found


@pytest.mark.parametrize(
    "mappings",
    [
        templates.provenance_mappings,
        templates.decisions_mappings,
        templates.catalog_mappings,
        templates.policies_mappings,
        templates.people_mappings,
        templates.audit_mappings,
        templates.keys_mappings,
    ],
)
def test_no_keyword_value_can_make_a_document_unindexable(mappings: Any) -> None:
    # Lucene refuses a term over 32,766 bytes; ignore_above keeps such a value out of the index
    # (it stays in the source) instead of refusing the whole document.
    fields = _keyword_fields(mappings())
    assert fields
    unbounded = [
        name
        for name, field in fields
        if field.get("ignore_above", KEYWORD_MAX_CHARS + 1) > KEYWORD_MAX_CHARS
        and (field.get("index", True) or field.get("doc_values", True))
    ]
    assert unbounded == []
    assert KEYWORD_MAX_CHARS * 4 <= 32_766  # four UTF-8 bytes a character at most


def test_events_the_pipeline_makes_stay_within_the_limits() -> None:
    # hundreds of threats in long lyrics: the analysis and its decisions must still be publishable
    track = analysis([], lyrics="Drake, I will kill you. " * 300, description="d" * 10_000)
    assert len(track.to_bytes()) < MAX_EVENT_BYTES
    assert parse_indexable(track.to_bytes()) == track
    decisions = decide(track, Policies())
    assert any(d.verdict and d.action is Action.TAKEDOWN for d in decisions)
    for decision in decisions:
        assert len(decision.to_bytes()) < MAX_EVENT_BYTES
        assert parse_indexable(decision.to_bytes()) == decision
    review = ReviewAction(
        track_id=track.track_id,
        action="overturn",
        reason="r" * 2000,
        reviewer="ada",
        reviewed_decision_event_id=decisions[0].event_id,
        reviewed_action=Action.TAKEDOWN,
        submission_event_id=track.submission.event_id,
        submitted_at=track.submission.occurred_at,
    )
    assert parse_indexable(review.to_bytes()) == review

from __future__ import annotations

import json

import pytest

from model.events import (
    SCHEMA_VERSION,
    EventParseError,
    TrackMetadata,
    TrackSubmitted,
    derived_id,
    parse_event,
    track_submitted,
)


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


def test_valid_submission_round_trips() -> None:
    event = parse_event(json.dumps(submitted(artists=["A", "B"])).encode(), TrackSubmitted)
    again = parse_event(event.to_bytes(), TrackSubmitted)
    assert again == event
    assert event.schema_version == SCHEMA_VERSION
    assert event.event_id and event.occurred_at.tzinfo is not None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (json.dumps(submitted(source="radio")).encode(), "source"),
        (json.dumps({k: v for k, v in submitted().items() if k != "audio_uri"}).encode(), "audio_uri"),
        (json.dumps(submitted(track_id="has spaces")).encode(), "track_id"),
        (json.dumps(submitted(schema_version=SCHEMA_VERSION + 1)).encode(), "newer than the supported"),
        (b"\xff\xfe\x00", "not JSON"),
    ],
)
def test_bad_messages_are_rejected_with_the_reason(raw: bytes, expected: str) -> None:
    with pytest.raises(EventParseError, match=expected):
        parse_event(raw, TrackSubmitted)


def test_unknown_fields_from_newer_producers_are_ignored() -> None:
    event = parse_event(json.dumps(submitted(mood="happy")).encode(), TrackSubmitted)
    assert event.track_id == "trk-1"


def test_derived_ids_are_deterministic_and_distinct() -> None:
    assert derived_id("e1", "decision", "label") == derived_id("e1", "decision", "label")
    assert derived_id("e1", "decision", "label") != derived_id("e1", "decision", "allow")
    assert derived_id("e1", "analyzed") != derived_id("e2", "analyzed")


def test_derived_track_ids_never_collide_on_a_file_name_and_take_any_name() -> None:
    meta = TrackMetadata()
    a = track_submitted(meta, "file:///a/take1.wav", None, client="api")
    b = track_submitted(meta, "file:///b/take1.wav", None, client="api")
    assert a.track_id != b.track_id
    odd = track_submitted(meta, "file:///in/my%20take%2550%25.wav", None, client="api")
    assert odd.track_id.startswith("trk-")  # a valid id, whatever the name holds
    by_content = track_submitted(meta, "file:///a/take1.wav", "ab" * 32, client="api")
    assert by_content.track_id == "trk-" + "ab" * 8

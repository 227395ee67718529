"""Hostile events: what a broken or malicious producer puts on the project's topics. Every one is
invalid (or names audio that cannot be read), so every one must end as a dead letter with its
reason, and no agent may stop on any of them."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from model.events import Action

OVERSIZE_BYTES = 900_000  # under Kafka's default 1 MB message limit, over any sane event limit


@dataclass(frozen=True)
class HostileEvent:
    kind: str
    topic: str  # which topic of the Topics helper: submitted, analyzed, decisions.<action>, reviews
    key: bytes
    value: bytes


def _submission(rng: random.Random, **overrides: Any) -> dict[str, Any]:
    event = {
        "event_type": "track_submitted",
        "event_id": f"hostile-{rng.getrandbits(48):x}",
        "schema_version": 1,
        "occurred_at": "2026-12-01T00:00:00+00:00",
        "track_id": f"hostile-{rng.getrandbits(32):x}",
        "source": "upload",
        "audio_uri": "file:///nonexistent/audio.wav",
        "uploader_id": "hostile",
    }
    event.update(overrides)
    return event


def _decision(rng: random.Random, **overrides: Any) -> dict[str, Any]:
    event = {
        "event_type": "decision",
        "event_id": f"hostile-{rng.getrandbits(48):x}",
        "schema_version": 1,
        "occurred_at": "2026-12-01T00:00:00+00:00",
        "track_id": f"hostile-{rng.getrandbits(32):x}",
        "action": "allow",
        "verdict": True,
        "submission_event_id": "s",
        "submitted_at": "2026-12-01T00:00:00+00:00",
        "policy_version": "x",
    }
    event.update(overrides)
    return event


def _deep(depth: int, kind: str) -> bytes:
    if kind == "list":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


def _dump(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


Maker = Callable[[random.Random], tuple[str, bytes]]

_MAKERS: dict[str, Maker] = {
    "garbage_bytes": lambda r: ("submitted", r.randbytes(r.randint(1, 4000))),
    "invalid_utf8": lambda r: ("analyzed", b'{"event_type": "track_analyzed", "title": "\xff\xfe"}'),
    "json_scalar": lambda r: (
        r.choice(["submitted", "analyzed", "reviews"]),
        r.choice([b"1", b'"x"', b"null", b"true"]),
    ),
    "json_array": lambda r: ("decisions.allow", b"[1, 2, 3]"),
    "deep_list": lambda r: (
        r.choice(["submitted", "analyzed", "reviews", "decisions.takedown"]),
        _deep(r.randint(2_000, 200_000), "list"),
    ),
    "deep_object": lambda r: (
        r.choice(["submitted", "analyzed", "reviews", "decisions.label"]),
        _deep(r.randint(2_000, 100_000), "object"),
    ),
    "deep_inside_valid_event": lambda r: (
        "submitted",
        _dump(_submission(r, description=json.loads(_deep(900, "list")))),
    ),
    "oversized_description": lambda r: ("submitted", _dump(_submission(r, description="x" * OVERSIZE_BYTES))),
    "oversized_lyrics": lambda r: ("submitted", _dump(_submission(r, lyrics="la " * (OVERSIZE_BYTES // 3)))),
    "too_many_artists": lambda r: ("submitted", _dump(_submission(r, artists=["a"] * 100_000))),
    "long_track_id": lambda r: ("submitted", _dump(_submission(r, track_id="t" * 5000))),
    "track_id_path": lambda r: ("submitted", _dump(_submission(r, track_id="../../etc/passwd"))),
    "empty_track_id": lambda r: ("submitted", _dump(_submission(r, track_id=""))),
    "long_title": lambda r: ("submitted", _dump(_submission(r, title="t" * 200_000))),
    "long_uploader": lambda r: ("submitted", _dump(_submission(r, uploader_id="u" * 100_000))),
    "wrong_source": lambda r: ("submitted", _dump(_submission(r, source="radio"))),
    "wrong_types": lambda r: ("submitted", _dump(_submission(r, artists="not a list", declared_ai_use=5))),
    "bad_timestamp": lambda r: ("submitted", _dump(_submission(r, occurred_at="yesterday"))),
    "missing_fields": lambda r: ("submitted", _dump({"event_type": "track_submitted", "track_id": "x"})),
    "newer_schema": lambda r: ("submitted", _dump(_submission(r, schema_version=99))),
    "missing_audio": lambda r: ("submitted", _dump(_submission(r))),
    "remote_audio_uri": lambda r: (
        "submitted",
        _dump(_submission(r, audio_uri="http://169.254.169.254/latest")),
    ),
    "system_file_audio_uri": lambda r: (
        "submitted",
        _dump(
            _submission(
                r, audio_uri=r.choice(["file:///etc/passwd", "file:///proc/self/environ", "file:///dev/zero"])
            )
        ),
    ),
    "submission_on_decision_topic": lambda r: ("decisions.royalty", _dump(_submission(r))),
    "decision_wrong_action": lambda r: ("decisions.allow", _dump(_decision(r, action="delete_everything"))),
    "decision_huge_reasons": lambda r: (
        "decisions.needs_review",
        _dump(_decision(r, reasons=[{"code": "detector_error", "message": "m"}] * 1200)),
    ),
    "decision_unknown_reason": lambda r: (
        "decisions.takedown",
        _dump(_decision(r, reasons=[{"code": "made_up", "message": "x"}])),
    ),
    "decision_bad_royalty": lambda r: (
        "decisions.royalty",
        _dump(_decision(r, royalty={"rights_holder": "x", "basis_points": 10**12})),
    ),
    "analysis_bad_findings": lambda r: (
        "analyzed",
        _dump(
            {
                "event_type": "track_analyzed",
                "track_id": "x",
                "submission": _submission(r),
                "findings": [{"detector": "x", "result": {"kind": "nope"}}],
            }
        ),
    ),
    "analysis_huge_per_second": lambda r: (
        "analyzed",
        _dump(
            {
                "event_type": "track_analyzed",
                "track_id": "x",
                "submission": _submission(r),
                "findings": [
                    {
                        "detector": "watermark",
                        "version": "1",
                        "took_ms": 1,
                        "status": "ok",
                        "result": {
                            "kind": "watermark",
                            "model": "m",
                            "detected": False,
                            "probability": 0,
                            "threshold": 0.5,
                            "spans": [],
                            "watermarked_seconds": 0,
                            "per_second": [0.5] * 100_000,
                        },
                    }
                ],
            }
        ),
    ),
    "review_bad_action": lambda r: (
        "reviews",
        _dump(
            {
                "event_type": "review_action",
                "track_id": "x",
                "action": "delete",
                "reason": "x",
                "reviewer": "r",
                "reviewed_decision_event_id": "d",
                "reviewed_action": "takedown",
                "submission_event_id": "s",
                "submitted_at": "2026-12-01T00:00:00+00:00",
            }
        ),
    ),
    "review_long_reason": lambda r: (
        "reviews",
        _dump(
            {
                "event_type": "review_action",
                "track_id": "x",
                "action": "overturn",
                "reason": "r" * 50_000,
                "reviewer": "r",
                "reviewed_decision_event_id": "d",
                "reviewed_action": "takedown",
                "submission_event_id": "s",
                "submitted_at": "2026-12-01T00:00:00+00:00",
            }
        ),
    ),
    "null_bytes_json": lambda r: ("reviews", b"\x00" * r.randint(1, 512)),
}
# Kinds that are expensive to publish or to refuse are drawn less often.
_RARE = {
    "oversized_description",
    "oversized_lyrics",
    "too_many_artists",
    "long_title",
    "long_uploader",
    "system_file_audio_uri",
    "analysis_huge_per_second",
    "deep_list",
    "deep_object",
    "decision_huge_reasons",
}


def make_events(count: int, seed: int = 7) -> list[HostileEvent]:
    rng = random.Random(seed)
    common = [k for k in _MAKERS if k not in _RARE]
    events = []
    for n in range(count):
        kind = sorted(_RARE)[n // 20 % len(_RARE)] if n % 20 == 0 else common[n % len(common)]
        topic, value = _MAKERS[kind](rng)
        key = rng.choice([b"", b"hostile", rng.randbytes(16), b"k" * 300])
        events.append(HostileEvent(kind, topic, key, value))
    return events


def topics_of(prefix: str) -> dict[str, str]:
    """Short topic names used above → the real names."""
    names = {
        "submitted": f"{prefix}tracks.submitted",
        "analyzed": f"{prefix}tracks.analyzed",
        "reviews": f"{prefix}reviews",
    }
    names.update({f"decisions.{a.value}": f"{prefix}decisions.{a.value}" for a in Action})
    return names

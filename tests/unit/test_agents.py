"""The agents' helpers, without Kafka or Elasticsearch: deciding under current policies,
parsing indexable events, dead letters, the retry-while-unreachable loop."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
from elastic_transport import ConnectionError as EsConnectionError
from faust.types.tuples import Message

from decisions.policy import Policies
from detectors.names import Person
from model.events import Action, EventParseError, ReviewAction, TrackAnalyzed
from model.findings import Finding
from streams.agents import (
    dead_letter_for,
    decide_now,
    parse_indexable,
    retry_while_unreachable,
    round_encoded,
    unreachable_detectors,
)
from streams.backfill import RoundCount
from tests.unit.test_decide import analysis, catalog, recording


def test_importing_the_worker_modules_connects_nowhere(tmp_path: Path) -> None:
    # Any socket connection or folder made while importing fails the test: clients, apps and
    # folders belong to the composition root (streams.worker.build_worker), not to imports.
    code = (
        "import socket\n"
        "def refuse(*args, **kwargs):\n"
        "    raise AssertionError(f'connection at import: {args}')\n"
        "socket.socket.connect = refuse\n"
        "socket.socket.connect_ex = refuse\n"
        "socket.create_connection = refuse\n"
        "import streams.agents, streams.worker, streams.app, api.app, cli.main, index.stores\n"
    )
    state = tmp_path / "state"
    env = {**os.environ, "CLEARANCE_STORE_DIR": str(state / "store")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert not state.exists()


def test_decide_now_applies_opt_outs_from_the_registry() -> None:
    track = analysis([catalog(recording("QZAAA2600001", [(0, 40)], artist="Juno Park"))])
    kept_in = decide_now(track, Policies(), [Person("Juno Park")], lambda ids: frozenset())
    opted_out = decide_now(track, Policies(), [Person("Juno Park", opted_out=True)], lambda ids: frozenset())
    assert next(d for d in kept_in if d.verdict).action is Action.ROYALTY
    assert next(d for d in opted_out if d.verdict).action is Action.TAKEDOWN


def test_decide_now_leaves_out_royalties_already_paid() -> None:
    track = analysis([catalog(recording("QZAAA2600001", [(0, 40)]))])
    asked: list[list[str]] = []

    def paid(ids: list[str]) -> frozenset[str]:
        asked.append(ids)
        return frozenset(ids)

    decisions = decide_now(track, Policies(), [], paid)
    assert len(asked) == 1 and len(asked[0]) == 1  # asked about the one royalty it would pay
    assert [d for d in decisions if d.action is Action.ROYALTY and not d.verdict] == []
    assert next(d for d in decisions if d.verdict).action is Action.ROYALTY


def test_parse_indexable_tells_the_event_types_apart() -> None:
    track = analysis([])
    assert isinstance(parse_indexable(track.to_bytes()), TrackAnalyzed)
    review = ReviewAction(
        track_id="t1",
        action="overturn",
        reason="fine",
        reviewer="ada",
        reviewed_decision_event_id="d1",
        reviewed_action=Action.TAKEDOWN,
        submission_event_id="s1",
        submitted_at=track.occurred_at,
    )
    assert isinstance(parse_indexable(review.to_bytes()), ReviewAction)


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"[1, 2]", "expected a JSON object"),
        (b"\xff\xfe", "not JSON"),
        (b'{"event_type": "track_submitted"}', "unexpected event_type"),
        (b'{"event_type": "decision", "track_id": "t"}', "invalid Decision"),
    ],
)
def test_parse_indexable_refuses_what_it_cannot_index(raw: bytes, says: str) -> None:
    with pytest.raises(EventParseError, match=says):
        parse_indexable(raw)


def test_a_dead_letter_keeps_the_message_byte_for_byte() -> None:
    raw = b'{"event_type": "track_submitted", "source": "radio"}\x00'
    message = Message(
        topic="t.submitted",
        partition=3,
        offset=42,
        timestamp=0.0,
        timestamp_type=0,
        headers=[],
        key=b"trk-1",
        value=raw,
        checksum=None,
    )
    letter = dead_letter_for(message, "parse", EventParseError("invalid TrackSubmitted"), "trk-1")
    assert base64.b64decode(letter.payload_b64) == raw
    assert (letter.stage, letter.source_topic, letter.partition, letter.offset, letter.key) == (
        "parse",
        "t.submitted",
        3,
        42,
        "trk-1",
    )
    assert letter.reason == "invalid TrackSubmitted" and letter.error_type == "EventParseError"


def test_retry_waits_while_elasticsearch_is_unreachable_and_backs_off() -> None:
    calls, waits = 0, []

    async def attempt() -> str:
        nonlocal calls
        calls += 1
        if calls < 4:
            raise EsConnectionError("connection refused")
        return "written"

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    assert (
        asyncio.run(retry_while_unreachable(attempt, "index", first_backoff_s=1.0, sleep=sleep)) == "written"
    )
    assert waits == [1.0, 2.0, 4.0]


def test_retry_lets_other_errors_through() -> None:
    async def attempt() -> None:
        raise ValueError("a bug, not an outage")

    async def sleep(seconds: float) -> None:
        raise AssertionError("must not wait on a bug")

    with pytest.raises(ValueError):
        asyncio.run(retry_while_unreachable(attempt, "index", sleep=sleep))


def test_detectors_that_could_not_reach_elasticsearch_are_told_from_broken_ones() -> None:
    def failed(detector: str, error: str) -> Finding:
        return Finding(detector=detector, version="1", took_ms=1.0, status="error", error=error)

    track = analysis([]).model_copy(
        update={
            "findings": [
                failed("catalog_match", "ConnectionTimeout: Connection timed out"),
                failed("name_opt_out", "ConnectionError: Connection refused"),
                failed("watermark", "ValueError: a bug in the detector"),
            ]
        }
    )
    assert unreachable_detectors(track) == ["catalog_match", "name_opt_out"]
    assert unreachable_detectors(analysis([])) == []


def test_an_oversized_record_is_left_out_of_its_backfill_page_not_the_job(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    small = analysis([])
    big = analysis([catalog(recording("QZABC2600001", [(0, 40)]))])
    limit = (len(small.to_bytes()) + len(big.to_bytes())) // 2
    assert len(small.to_bytes()) < limit < len(big.to_bytes())
    monkeypatch.setattr("streams.agents.MAX_EVENT_BYTES", limit)
    count = RoundCount(found=2, republished=2)
    page = round_encoded([big, small], count, "job-1")
    assert [item for item, _ in page] == [small] and page[0][1] == small.to_bytes()
    assert count.republished == 1  # the job is done once the one sent is decided

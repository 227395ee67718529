"""The worker's Prometheus metrics say how long each detector took and what became of tracks."""

from __future__ import annotations

from faust.types import TP
from prometheus_client import generate_latest

from decisions.decide import decide
from decisions.policy import Policies
from model.events import TrackAnalyzed, TrackSubmitted
from model.findings import Finding
from model.settings import Settings
from streams.agents import partition_lags
from streams.metrics import WorkerMetrics


def analysis() -> TrackAnalyzed:
    submission = TrackSubmitted(track_id="t", source="upload", audio_uri="file:///x.wav", uploader_id="u")
    findings = [
        Finding(detector="watermark", version="1", took_ms=2100.0, status="ok"),
        Finding(detector="chromaprint", version="1", took_ms=40.0, status="error", error="boom"),
    ]
    return TrackAnalyzed(track_id="t", submission=submission, findings=findings)


def test_each_detector_time_is_a_histogram_by_detector_and_status() -> None:
    metrics = WorkerMetrics.create()
    metrics.analysed(analysis(), 2.5)
    text = generate_latest(metrics.registry).decode()
    assert 'clearance_detector_seconds_sum{detector="watermark",status="ok"} 2.1' in text
    assert 'clearance_detector_seconds_bucket{detector="watermark",le="2.5",status="ok"} 1.0' in text
    assert 'clearance_detector_seconds_bucket{detector="watermark",le="1.0",status="ok"} 0.0' in text
    assert 'clearance_detector_seconds_count{detector="chromaprint",status="error"} 1.0' in text
    assert 'clearance_tracks_total{outcome="analyzed"} 1.0' in text
    assert "clearance_analysis_seconds_sum 2.5" in text


def test_decisions_are_counted_by_action() -> None:
    metrics = WorkerMetrics.create()
    decisions = decide(analysis(), Policies())
    metrics.published(decisions + decisions)
    text = generate_latest(metrics.registry).decode()
    for action in {d.action for d in decisions}:
        count = 2 * sum(d.action == action for d in decisions)
        assert f'clearance_decisions_total{{action="{action.value}"}} {count}.0' in text


def test_a_worker_analyses_one_track_per_process_unless_told_otherwise() -> None:
    assert Settings(analysis_processes=3).tracks_in_flight == 3
    assert Settings(analysis_processes=0).tracks_in_flight == 1
    assert Settings(analysis_processes=2, analysis_in_flight=5).tracks_in_flight == 5


class FakeConsumer:
    def __init__(self, ends: dict[TP, int | None]) -> None:
        self.ends = ends

    def assignment(self) -> set[TP]:
        return set(self.ends)

    def highwater(self, tp: TP) -> int | None:
        return self.ends[tp]


def test_lag_is_what_is_left_of_each_partition_handled_and_unknown_ends_are_skipped() -> None:
    fetched, just_assigned, untouched = TP("t", 0), TP("t", 1), TP("t", 2)
    consumer = FakeConsumer({fetched: 120, just_assigned: None, untouched: 50})
    handled = {("t", 0): 100, ("t", 1): 7}
    assert partition_lags(consumer, handled) == [("t", 0, 20)]

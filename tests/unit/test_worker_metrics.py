"""The worker's Prometheus metrics say how long each detector took and what became of tracks."""

from __future__ import annotations

from prometheus_client import generate_latest

from decisions.decide import decide
from decisions.policy import Policies
from model.events import TrackAnalyzed, TrackSubmitted
from model.findings import Finding
from model.settings import Settings
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

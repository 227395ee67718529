"""The worker's Prometheus metrics: time per detector, tracks in flight and analysed, decisions
published, consumer lag per partition, and backfill progress. Each worker has its own registry
(tests build many)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from model.events import Decision, TrackAnalyzed
from streams.logs import get_logger

log = get_logger("clearance.metrics")

DETECTOR_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


@dataclass(frozen=True)
class WorkerMetrics:
    registry: CollectorRegistry
    detector_seconds: Histogram
    analysis_seconds: Histogram
    tracks: Counter
    in_flight: Gauge
    decisions: Counter
    lag: Gauge
    backfill: Counter

    @classmethod
    def create(cls) -> WorkerMetrics:
        registry = CollectorRegistry()
        return cls(
            registry=registry,
            detector_seconds=Histogram(
                "clearance_detector_seconds",
                "Time one detector took on one track",
                ["detector", "status"],
                buckets=DETECTOR_BUCKETS_S,
                registry=registry,
            ),
            analysis_seconds=Histogram(
                "clearance_analysis_seconds",
                "Time from taking a submission to its analysis (decoding and every detector)",
                buckets=DETECTOR_BUCKETS_S,
                registry=registry,
            ),
            tracks=Counter(
                "clearance_tracks", "Submissions handled, by outcome", ["outcome"], registry=registry
            ),
            in_flight=Gauge("clearance_tracks_in_flight", "Tracks being analysed now", registry=registry),
            decisions=Counter(
                "clearance_decisions", "Decisions published, by action", ["action"], registry=registry
            ),
            lag=Gauge(
                "clearance_consumer_lag_messages",
                "Messages in a partition not yet handled by this worker",
                ["topic", "partition"],
                registry=registry,
            ),
            backfill=Counter(
                "clearance_backfill_tracks",
                "Backfill and replay rounds: tracks found, sent through again, decided again, "
                "and decided otherwise than before",
                ["stage"],
                registry=registry,
            ),
        )

    def analysed(self, analysis: TrackAnalyzed, seconds: float) -> None:
        self.analysis_seconds.observe(seconds)
        self.tracks.labels("analyzed").inc()
        for finding in analysis.findings:
            self.detector_seconds.labels(finding.detector, finding.status).observe(finding.took_ms / 1000)

    def published(self, decisions: list[Decision]) -> None:
        for decision in decisions:
            self.decisions.labels(decision.action.value).inc()

    def serve(self, host: str, port: int) -> None:
        """Expose /metrics; a taken port is logged, not fatal (the worker's work matters more)."""
        if port == 0:
            return
        try:
            start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            log.warning("metrics_not_served", host=host, port=port, error=str(exc))
            return
        log.info("metrics_served", url=f"http://{host}:{port}/metrics")

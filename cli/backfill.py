"""CLI side of retroactive claims and replays: starting backfills after the CLI's own changes,
listing jobs, and the detectors' current versions a replay compares stored findings with."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from index.stores import Stores
from model.events import BackfillTrigger
from model.settings import Settings
from streams.admin import ensure_topics
from streams.backfill import OPERATOR, request_backfill
from streams.publisher import Publisher


def start_backfills(
    stores: Stores,
    settings: Settings,
    trigger: BackfillTrigger,
    subjects: list[str],
    rights_holder: str = OPERATOR,
    names: list[str] | None = None,
) -> list[str]:
    """One backfill job per changed subject; returns their job ids."""
    ensure_topics(settings)
    with Publisher(settings) as publisher:
        return [
            request_backfill(
                stores.backfill_jobs, publisher, settings, trigger, subject, rights_holder, names
            ).job_id
            for subject in subjects
        ]


def detector_versions() -> dict[str, str]:
    """Every detector's current version by name (imported here: detectors load models on import)."""
    from detectors.run import detector_versions as current

    return current()


STATUS_COLUMNS = ("job_id", "trigger", "subject", "state", "found", "republished", "decided", "changed")


def status_rows(jobs: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    """`clearance backfill status`: a row per job, newest first."""
    return [
        (*tuple(str(job.get(column, "")) for column in STATUS_COLUMNS), str(job.get("created_at", "")))
        for job in jobs
    ]


def started_line(what: str, job_ids: list[str], echo: Callable[[str], None]) -> None:
    if job_ids:
        echo(f"backfill of {what}: job(s) {', '.join(job_ids)} (follow with `clearance backfill status`)")

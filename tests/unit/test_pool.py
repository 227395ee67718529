"""The analysis pool: a track that kills its process, or runs past the limit, fails alone; the
tracks beside it and after it are still analysed."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import time
from collections.abc import Iterator

import pytest

from model.events import TrackAnalyzed, TrackSubmitted
from model.settings import Settings
from streams.pool import ANALYSIS_ATTEMPTS, AnalysisFailed, ProcessAnalyzer


def analyze_or_misbehave(submission: TrackSubmitted) -> TrackAnalyzed:
    """Stands in for the detectors, in the child process."""
    if submission.track_id == "kills-its-process":
        os._exit(3)
    if submission.track_id == "never-ends":
        time.sleep(60)
    if submission.track_id.startswith("slow-"):
        time.sleep(1)  # still in flight when the other track kills the pool
    return TrackAnalyzed(track_id=submission.track_id, submission=submission, findings=[])


def nothing_to_start(_: Settings) -> None:
    pass


def submission(track_id: str) -> TrackSubmitted:
    return TrackSubmitted(track_id=track_id, source="upload", audio_uri="file:///x.wav", uploader_id="u")


@pytest.fixture
def pool() -> Iterator[ProcessAnalyzer]:
    analyzer = ProcessAnalyzer(
        Settings(analysis_timeout_s=8), 2, work=analyze_or_misbehave, start=nothing_to_start
    )
    yield analyzer
    analyzer.close()


def test_a_track_is_analysed_in_a_child_process(pool: ProcessAnalyzer) -> None:
    analysis = asyncio.run(pool.analyze(submission("fine")))
    assert analysis.track_id == "fine"
    assert analysis.submission.track_id == "fine"


def test_a_track_that_kills_every_try_fails_and_the_next_is_analysed(pool: ProcessAnalyzer) -> None:
    with pytest.raises(AnalysisFailed, match=f"died on each of {ANALYSIS_ATTEMPTS} tries"):
        asyncio.run(pool.analyze(submission("kills-its-process")))
    assert asyncio.run(pool.analyze(submission("after"))).track_id == "after"


def test_a_track_beside_a_killer_is_still_analysed(pool: ProcessAnalyzer) -> None:
    async def both() -> tuple[TrackAnalyzed | BaseException, TrackAnalyzed | BaseException]:
        return await asyncio.gather(
            pool.analyze(submission("kills-its-process")),
            pool.analyze(submission("slow-beside")),
            return_exceptions=True,
        )

    killer, beside = asyncio.run(both())
    assert isinstance(killer, AnalysisFailed)
    assert isinstance(beside, TrackAnalyzed) and beside.track_id == "slow-beside"


def test_a_track_past_the_time_limit_fails_and_the_pool_goes_on(pool: ProcessAnalyzer) -> None:
    with pytest.raises(AnalysisFailed, match="longer than 8 s"):
        asyncio.run(pool.analyze(submission("never-ends")))
    assert asyncio.run(pool.analyze(submission("after"))).track_id == "after"


def kill_every_analysis_process() -> None:
    """As an operator, or the out-of-memory killer, might: between tracks."""
    for child in multiprocessing.active_children():
        os.kill(child.pid or 0, signal.SIGKILL)
    time.sleep(1)  # the pools notice


def test_processes_killed_while_idle_are_replaced(pool: ProcessAnalyzer) -> None:
    assert asyncio.run(pool.analyze(submission("first"))).track_id == "first"
    kill_every_analysis_process()
    assert asyncio.run(pool.analyze(submission("second"))).track_id == "second"
    kill_every_analysis_process()
    assert asyncio.run(pool.analyze(submission("third"))).track_id == "third"


def report_cores(submission: TrackSubmitted) -> TrackAnalyzed:
    """The cores this analysis process may run on, as the track id ("cores-0-1")."""
    time.sleep(1)  # both processes take one of the two tracks
    cores = "-".join(str(c) for c in sorted(os.sched_getaffinity(0)))
    return TrackAnalyzed(track_id=f"cores-{cores}", submission=submission, findings=[])


def cores_of_two_tracks(settings: Settings) -> set[str]:
    analyzer = ProcessAnalyzer(settings, 2, work=report_cores, start=nothing_to_start)

    async def both() -> list[TrackAnalyzed]:
        return list(
            await asyncio.gather(analyzer.analyze(submission("a")), analyzer.analyze(submission("b")))
        )

    try:
        return {analysis.track_id for analysis in asyncio.run(both())}
    finally:
        analyzer.close()


@pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2, reason="needs two cores to pin"
)
def test_each_analysis_process_keeps_to_a_core_of_its_own() -> None:
    allowed = sorted(os.sched_getaffinity(0))
    assert cores_of_two_tracks(Settings()) == {f"cores-{allowed[0]}", f"cores-{allowed[1]}"}
    everywhere = "cores-" + "-".join(str(c) for c in allowed)
    assert cores_of_two_tracks(Settings(analysis_pin_cores=False)) == {everywhere}


def test_processes_are_pinned_only_when_each_gets_a_core(monkeypatch: pytest.MonkeyPatch) -> None:
    from streams import pool as module

    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {2, 5}, raising=False)
    assert module._cores_to_pin(2) == (2, 5)
    assert module._cores_to_pin(3) == ()  # one core would carry two processes, the other one
    assert module._cores_to_pin(1) == ()
    monkeypatch.delattr(os, "sched_getaffinity")
    assert module._cores_to_pin(2) == ()  # a system that cannot pin

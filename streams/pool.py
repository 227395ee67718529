"""Where a worker runs its detectors: in a pool of processes, one core each, so a worker uses
every core it is given while its event loop keeps heartbeats and commits flowing; or, with no
processes configured, in the worker's own threads (one track at a time, as a small demo needs).

A track whose analysis kills its process is retried on a fresh pool; if it kills every try, or
runs past the time limit, it fails with AnalysisFailed (the agent dead-letters it) and the pool
is replaced, so one hostile upload never stalls the worker.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

from detectors.run import Detector
from index.registry import EsPeopleLookup
from index.stores import Stores
from model.events import TrackAnalyzed, TrackSubmitted
from model.settings import Settings
from streams.analysis import analyze_submission
from streams.detection import worker_detectors
from streams.logs import configure_logging, get_logger

log = get_logger("clearance.pool")

# A process dies under a track for reasons outside it too (the out-of-memory killer taking the
# largest process, an operator); only a track that kills every try is given up on.
ANALYSIS_ATTEMPTS = 3


class AnalysisFailed(RuntimeError):
    """The track's analysis killed its process on every try, or ran past the time limit."""


class Analyzer(Protocol):
    async def analyze(self, submission: TrackSubmitted) -> TrackAnalyzed: ...

    def close(self) -> None: ...


class ThreadAnalyzer:
    """Detectors in a thread of the worker's process (decoding and fingerprinting block)."""

    def __init__(self, settings: Settings, detectors: tuple[Detector, ...]) -> None:
        self._settings, self._detectors = settings, detectors

    async def analyze(self, submission: TrackSubmitted) -> TrackAnalyzed:
        return await asyncio.to_thread(analyze_submission, submission, self._settings, self._detectors)

    def close(self) -> None:
        pass


Work = Callable[[TrackSubmitted], TrackAnalyzed]


class ProcessAnalyzer:
    """Detectors in `processes` child processes, each with its own stores and models. `work` and
    `start` (module-level functions: the child imports them) are what each process runs.

    A dead process breaks the whole pool, so every track in flight sees it die: each is tried
    again alone, one at a time, in a process of its own. There only the culprit dies again."""

    def __init__(
        self,
        settings: Settings,
        processes: int,
        work: Work | None = None,
        start: Callable[[Settings], Any] | None = None,
    ) -> None:
        self._settings = settings
        self._work = work or analyze_in_process
        self._start = start or start_analysis_process
        self._shared = _Pool(processes, self._start, settings, pin=settings.analysis_pin_cores)
        self._alone = _Pool(1, self._start, settings, pin=False)
        self._one_at_a_time = asyncio.Lock()

    async def analyze(self, submission: TrackSubmitted) -> TrackAnalyzed:
        try:
            return await self._run(self._shared, submission)
        except BrokenProcessPool:
            log.warning("analysis_process_died", track_id=submission.track_id, retry="alone")
        for attempt in range(2, ANALYSIS_ATTEMPTS + 1):
            async with self._one_at_a_time:
                try:
                    return await self._run(self._alone, submission)
                except BrokenProcessPool:
                    log.warning("analysis_process_died", track_id=submission.track_id, attempt=attempt)
        raise AnalysisFailed(f"the analysis process died on each of {ANALYSIS_ATTEMPTS} tries")

    async def _run(self, pool: _Pool, submission: TrackSubmitted) -> TrackAnalyzed:
        loop = asyncio.get_running_loop()
        executor = pool.current()
        try:
            future = loop.run_in_executor(executor, self._work, submission)
        except BrokenProcessPool:
            # a process died while idle (killed between tracks): this track never ran there
            pool.replace(executor)
            executor = pool.current()
            future = loop.run_in_executor(executor, self._work, submission)
        try:
            return await asyncio.wait_for(future, self._settings.analysis_timeout_s)
        except BrokenProcessPool:
            pool.replace(executor)
            raise
        except TimeoutError:
            pool.replace(executor)  # the only way to stop a running detector is its process
            raise AnalysisFailed(
                f"analysis took longer than {self._settings.analysis_timeout_s:.0f} s "
                "(CLEARANCE_ANALYSIS_TIMEOUT_S)"
            ) from None

    def close(self) -> None:
        self._shared.close()
        self._alone.close()


class _Pool:
    """A process pool made on first use and replaced once broken; with `pin`, each of its
    processes is kept on a core of its own (of those the worker may use), in turn."""

    def __init__(
        self, processes: int, start: Callable[[Settings], Any], settings: Settings, pin: bool
    ) -> None:
        self._processes, self._start, self._settings, self._pin = processes, start, settings, pin
        self._executor: ProcessPoolExecutor | None = None

    def current(self) -> ProcessPoolExecutor:
        if self._executor is not None and getattr(self._executor, "_broken", False):
            self.replace(self._executor)  # broken while idle: no track saw it
        if self._executor is None:
            # not fork: the parent's event loop, Kafka sockets and threads must not be copied
            context = multiprocessing.get_context("spawn")
            cores = _cores_to_pin(self._processes) if self._pin else ()
            self._executor = ProcessPoolExecutor(
                max_workers=self._processes,
                mp_context=context,
                initializer=_start_on_a_core,
                initargs=(self._start, self._settings, context.Value("i", 0), cores),
            )
        return self._executor

    def replace(self, broken: ProcessPoolExecutor) -> None:
        """Drop `broken` (once, however many tracks saw it break), stopping its processes."""
        if self._executor is not broken:
            return
        self._executor = None
        _stop(broken)

    def close(self) -> None:
        if self._executor is not None:
            _stop(self._executor)  # a detector still running must not hold the worker's exit
            self._executor = None


def _start_on_a_core(
    start: Callable[[Settings], Any], settings: Settings, started: Any, cores: tuple[int, ...]
) -> None:
    """Pool initializer: the next of `cores` for this process (none: the system places it),
    then `start`. A process that stays on its core keeps its caches warm; left to the system,
    two busy analysis processes, the worker's event loop, Kafka and Elasticsearch moved about
    (bench.pipeline: README, How it scales)."""
    if cores:
        with started.get_lock():
            index = started.value
            started.value += 1
        try:
            os.sched_setaffinity(0, {cores[index % len(cores)]})
        except OSError as error:  # the worker's cores changed since: stay where the system puts us
            log.warning("analysis_process_not_pinned", core=cores[index % len(cores)], error=str(error))
    start(settings)


def _cores_to_pin(processes: int) -> tuple[int, ...]:
    """The worker's cores, one for each of `processes`; none (no pinning) where the system cannot
    pin, for a single process, or when there are more processes than cores (some cores would
    carry two processes while others carry one)."""
    if not hasattr(os, "sched_getaffinity") or processes < 2:
        return ()
    cores = tuple(sorted(os.sched_getaffinity(0)))
    return cores if processes <= len(cores) else ()


def _stop(executor: ProcessPoolExecutor) -> None:
    # Python 3.11 has no public way to stop a pool's processes; 3.14 adds terminate_workers()
    for process in list(getattr(executor, "_processes", {}).values()):
        process.kill()
    executor.shutdown(wait=False, cancel_futures=True)


def analyzer_for(settings: Settings, detectors: tuple[Detector, ...] | None) -> Analyzer:
    if settings.analysis_processes == 0:
        if detectors is None:
            raise ValueError("running detectors in the worker's own threads needs the detectors")
        return ThreadAnalyzer(settings, detectors)
    return ProcessAnalyzer(settings, settings.analysis_processes)


# ---------------------------------------------------------------- inside an analysis process

_process_detectors: list[tuple[Settings, tuple[Detector, ...]]] = []
_frozen: list[bool] = []


def start_analysis_process(settings: Settings) -> None:
    """Pool initializer: one core per process (they run side by side), and the detectors."""
    import torch
    from threadpoolctl import threadpool_limits

    # numpy's BLAS and OpenMP pools would start a thread per core in every process: with a
    # process per core that is cores x cores threads fighting over the caches
    threadpool_limits(1)
    torch.set_num_threads(1)
    _keep_freed_memory()
    configure_logging(settings)
    stores = Stores.open(settings)
    people = EsPeopleLookup(stores.registry, settings.registry_cache_seconds)
    _process_detectors.append((settings, worker_detectors(settings, stores, people)))


# glibc's mallopt parameters
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD = 32 << 20  # the largest glibc allows on 64 bits
_TRIM_THRESHOLD = 1 << 30


def _keep_freed_memory() -> None:
    """Keep the memory a track frees for the next one instead of giving it back to the system.
    A track's spectrograms, resampled copies and activations are arrays of a few to tens of MB,
    made and freed over and over; by default glibc maps the larger ones afresh each time and
    returns freed heap to the system, and the kernel zeroes every page again on first touch: 400 ms
    of system time a track, a tenth of its work (measured: 130 ms with these settings). A process
    then holds on to its largest working set between tracks, which it needed anyway. Nothing
    changes but where memory comes from; on a C library other than glibc this does nothing."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
        libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
    except (OSError, AttributeError):
        return


def analyze_in_process(submission: TrackSubmitted) -> TrackAnalyzed:
    settings, detectors = _process_detectors[-1]
    try:
        return analyze_submission(submission, settings, detectors)
    finally:
        if not _frozen:
            _freeze_what_lives_on()


def _freeze_what_lives_on() -> None:
    """Once the first track has loaded every model (some load on first use), move everything
    then alive out of the cyclic garbage collector's sight. The models, libraries and caches
    are some 600,000 objects that stay for the process's life, and each full collection walked
    all of them: about 0.17 s a track, measured on the benchmark's uploads. Objects frozen are
    still freed when their last reference goes; only a cycle among them would be kept."""
    _frozen.append(True)
    gc.collect()
    gc.freeze()

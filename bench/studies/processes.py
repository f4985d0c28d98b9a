"""``bench sweep --executor processes:N``: the study graph on a pool of N processes here.

No extra dependency: a :class:`concurrent.futures.ProcessPoolExecutor` (spawn context, so each
worker starts a fresh interpreter: no forked torch or BLAS state). Each unit is started as soon
as the units it depends on have ended, with their results as its inputs; the units themselves
(``bench.runs.units``) are those of every other executor, so the records are the local sweep's.
Worker processes keep the plan and embeddings matrix of the run they last worked on, as Dask
workers do. The study file's ``dask:`` section gives ``workers`` (when ``:N`` is left out),
``shard_clips`` and ``threads_per_worker``. A worker that dies breaks the pool: the sweep stops,
and running it again resumes from what is on disk.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Iterator

from bench.errors import BenchError
from bench.runs.graph import Unit
from bench.runs.units import RunTicket, perform
from bench.studies.dispatch import Ended, run_sweep_units
from bench.studies.executor import Executor
from bench.studies.state import SweepResult
from bench.studies.study import Study


#: what a unit that a dead worker took with it reports (the pool cannot go on without it)
_DIED = BenchError("a worker process of the pool died (killed, or out of memory) and took "
                   "the pool with it", hint="run the same command again: finished work is "
                                            "kept; fewer processes need less memory")


class ProcessUnits:
    """The units on a local process pool (:class:`~bench.studies.dispatch.UnitExecutor`)."""

    def __init__(self, executor: Executor, study: Study, log: Any = None):
        self.workers = study.dask.worker_count(executor)
        self.threads = study.dask.threads_per_worker
        self.pool: ProcessPoolExecutor | None = None
        self.running: dict[Future, Unit] = {}
        self.stopped = False

    def __enter__(self) -> "ProcessUnits":
        self.pool = ProcessPoolExecutor(self.workers,
                                        mp_context=multiprocessing.get_context("spawn"))
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def run(self, units: list[Unit], tickets: list[RunTicket]) -> Iterator[Ended]:
        waiting = list(units)  # in the graph's order: a unit comes after its dependencies
        results: dict[str, Any] = {}
        errors: dict[str, BaseException] = {}
        while (waiting or self.running) and not self.stopped:
            for unit in list(waiting):
                failed = next((errors[d] for d in unit.deps if d in errors), None)
                if failed is not None:  # a unit after a failed one fails as it would
                    waiting.remove(unit)
                    errors[unit.key] = failed
                    yield unit, None, failed
                elif all(d in results for d in unit.deps):
                    waiting.remove(unit)
                    try:
                        future = self.pool.submit(perform, unit, tickets[unit.run],
                                                  [results[d] for d in unit.deps], self.threads)
                    except BrokenProcessPool:
                        errors[unit.key] = _DIED
                        yield unit, None, _DIED
                        continue
                    self.running[future] = unit
            if not self.running:
                if waiting and not self.stopped:  # only if the graph names a unit it lacks
                    raise BenchError(f"{len(waiting)} unit(s) wait for units not in the graph")
                break
            done, _ = wait(list(self.running), return_when=FIRST_COMPLETED)
            for future in done:
                unit = self.running.pop(future)
                error = future.exception()
                if isinstance(error, BrokenProcessPool):
                    error = _DIED
                if error is None:
                    results[unit.key] = future.result()
                    yield unit, results[unit.key], None
                else:
                    errors[unit.key] = error
                    yield unit, None, error

    def cancel(self) -> None:
        self.stopped = True
        for future in self.running:
            future.cancel()

    def status(self) -> str:
        return str(len(self.running))


def run_sweep_processes(study: Study, executor: Executor, **options: Any) -> SweepResult:
    """Run ``study`` on ``executor.workers`` processes of this machine; the same results as
    :func:`bench.studies.sweep.run_sweep` (options: those of
    :func:`bench.studies.dispatch.run_sweep_units`)."""
    return run_sweep_units(study, executor, ProcessUnits, **options)

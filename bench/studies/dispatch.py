"""A study on an executor of many processes: plan every run here, build the study graph
(``bench.runs.graph``), hand its units to the executor, follow them as they end.

The client (this process) plans every run (its identity, as the runner does); the executor
runs the graph's units in dependency order wherever it runs them (``bench.studies.dask_run``:
Dask futures; ``bench.studies.processes``: a process pool here) and reports each unit as it
ends. As runs finish, the client logs each to MLflow once (workers never touch the tracking
store) and keeps ``sweep.json``/``summary.md`` up to date; the report comes last. Everything a
unit finished is on disk (store entries, ``partial/`` records), so a study stopped for any
reason is resumed by running the same command.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Protocol

from bench.errors import BenchError
from bench.evaluation.protocol import check_task
from bench.runs.graph import FINISH, Graph, RunShape, Unit, build_graph
from bench.runs.identity import PlannedRun, plan_run
from bench.runs.record import read_results
from bench.runs.runner import RunOutcome, open_parts
from bench.runs.steps import clear_partial
from bench.runs.units import RunTicket
from bench.store.store import EmbeddingStore
from bench.studies.executor import Executor
from bench.studies.state import (StudyRun, SweepResult, error_text, study_dir,
                                 write_study_report, write_study_state)
from bench.studies.study import Study
from bench.tracking.tracked import track_outcome
from bench.util.progress import bar

#: what an executor reports of a unit: the unit, its result, and the exception it raised
#: (``None`` when it finished)
Ended = tuple[Unit, Any, BaseException | None]


class UnitExecutor(Protocol):
    """Runs units in dependency order: a context manager (it starts and stops its workers)
    whose :meth:`run` yields each unit as it ends."""

    def __enter__(self) -> "UnitExecutor": ...

    def __exit__(self, *exc: Any) -> None: ...

    def run(self, units: list[Unit], tickets: list[RunTicket]) -> Iterator[Ended]:
        """Start every unit once its dependencies have ended; a unit whose dependency
        failed fails too (reported, not run)."""

    def cancel(self) -> None:
        """Start nothing more, stop what can be stopped (finished work stays on disk)."""

    def status(self) -> str:
        """A few words for the progress bar (units running, ...)."""


@dataclass
class StudyPlan:
    """Every run of a study planned on the client, and the graph of what is left to do."""

    plans: list[PlannedRun]
    tickets: list[RunTicket]
    graph: Graph


def plan_study(study: Study) -> StudyPlan:
    """Plan every run on the client: datasets prepared and embedders' specs read once each
    (embedders on the CPU: this host needs no GPU), audio identities hashed once; the graph
    with the study's ``dask.shard_clips`` clips per embed unit."""
    opened: dict[tuple[Any, ...], tuple[Any, Any, tuple[str, ...]]] = {}
    plans: list[PlannedRun] = []
    for cfg in study.plan():
        where = (cfg.dataset, cfg.data_dir, cfg.embedder, cfg.embedder_options, cfg.weights_dir)
        if where not in opened:
            dataset, embedder, spec = open_parts(cfg, progress=False, device="cpu")
            opened[where] = (dataset, spec, tuple(getattr(embedder, "notes", ())))
        dataset, spec, notes = opened[where]
        check_task(dataset.task, cfg.protocol)  # an unsupported task stops before any work
        plans.append(plan_run(cfg, dataset, spec, EmbeddingStore(cfg.cache_dir), progress=False,
                              notes=notes))
    graph = build_graph([RunShape.of(p) for p in plans], study.dask.shard_clips)
    return StudyPlan(plans, [RunTicket.of(p) for p in plans], graph)


def run_sweep_units(study: Study, executor: Executor,
                    make: Callable[..., UnitExecutor], *, keep_going: bool = False,
                    progress: bool = True, report: bool = True,
                    log: Callable[[str], None] | None = None) -> SweepResult:
    """Run ``study``'s units on the executor ``make(executor, study, log)`` builds; the results of
    :func:`bench.studies.sweep.run_sweep`.

    Parameters
    ----------
    study : Study
    executor : Executor
    make : callable
        Builds the :class:`UnitExecutor` (started only when there is work).
    keep_going : bool
        A failed run is recorded and the others go on; otherwise the first failure cancels
        the remaining units (finished work stays on disk) and is raised.
    progress : bool
        A bar of units done / running / failed with an ETA.
    report : bool
        Write the study report at the end.
    log : callable, optional
        Receives status lines.
    """
    say = log or (lambda msg: None)
    study.check_names()
    planned = plan_study(study)
    out = SweepResult(study, [StudyRun(i, c) for i, c in enumerate(study.plan())],
                      study_dir(study))
    for o, plan, shape in zip(out.outcomes, planned.plans, planned.graph.runs):
        o.run_dir = plan.run_dir
        if shape.done:
            o.record, o.status = read_results(plan.run_dir), "done earlier"
            _track(o, say)
        elif plan.config.rerun:
            clear_partial(plan.run_dir)
    counts = planned.graph.counts()
    say(f"{len(out.outcomes)} runs ({sum(o.status == 'done earlier' for o in out.outcomes)} "
        f"done earlier): {counts['embed']} embed, {counts['classify']} classify and "
        f"{counts['finish']} finish tasks on {executor.describe()}")
    if planned.graph.units:
        try:
            with make(executor, study, say) as units:
                _follow(units, planned, out, keep_going, progress, say)
        except KeyboardInterrupt:
            for o in out.outcomes:  # as the sequential sweep records an interrupted run
                if o.status == "running":
                    o.status, o.error = "failed", "interrupted"
            write_study_state(out)
            raise
    if report:
        write_study_report(out, say)
    write_study_state(out)
    return out


def _track(o: StudyRun, say: Callable[[str], None]) -> None:
    """MLflow, on the client, once per finished run (``log_run`` is idempotent)."""
    if o.config.tracking:
        logged = track_outcome(o.config, RunOutcome(o.run_dir, o.record), say)
        o.tracked = logged.status if logged is not None else "failed"


def _follow(executor: UnitExecutor, planned: StudyPlan, out: SweepResult, keep_going: bool,
            progress: bool, say: Callable[[str], None]) -> None:
    """Run the graph's units, recording each run as its finish unit ends or a unit fails."""
    units = planned.graph.units
    for u in units:
        if u.kind == FINISH:
            out.outcomes[u.run].status = "running"
    t0, failed = time.perf_counter(), 0
    with bar(total=len(units), desc="tasks", unit="task", enabled_=progress) as pbar:
        for unit, result, error in executor.run(units, planned.tickets):
            o = out.outcomes[unit.run]
            if error is None and unit.kind == FINISH:
                o.run_dir, o.record, o.status = result.run_dir, result.record, "computed"
                o.seconds = time.perf_counter() - t0
                _track(o, say)
                write_study_state(out)
            elif error is not None:
                failed += 1
                if o.status != "failed":
                    o.status, o.error = "failed", error_text(error)
                    o.seconds = time.perf_counter() - t0
                    say(f"[{unit.run + 1}/{len(out.outcomes)}] {o.config.embedder} on "
                        f"{o.config.dataset} failed ({unit.kind}): {o.error}")
                    write_study_state(out)
                if not keep_going:
                    executor.cancel()
                    raise BenchError(f"run {unit.run + 1} failed in a {unit.kind} task: "
                                     f"{o.error}",
                                     hint="fix the cause and run the same command again "
                                          "(finished work is kept), or use --keep-going")
            pbar.update(1)
            pbar.set_postfix_str(f"done {pbar.n - failed}, running {executor.status()}, "
                                 f"failed {failed}", refresh=False)
    for o in out.outcomes:
        if o.status == "running":
            o.status = "failed"

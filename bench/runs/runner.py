"""One study run, end to end: dataset -> embeddings in the store -> protocol -> results on disk.

The run directory's name is derived from everything that changes the numbers
(``bench.runs.identity``), so running the same configuration again finds it: a finished run is
reported, not recomputed (``rerun`` forces it), and a run killed half-way resumes from its
finished (fold, repeat) records in ``partial/``. The work is the study graph of this one run
(``bench.runs.graph``: embed, classify each (split, repeat), finish), carried out here by the
simplest executor, a loop in dependency order, with progress bars and status lines.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from bench.errors import storage_error
from bench.evaluation.protocol import check_task
from bench.runs.config import RunConfig
from bench.runs.graph import CLASSIFY, EMBED, RunShape, Unit, build_graph, dependency_results
from bench.runs.identity import PlannedRun, plan_run
from bench.runs.record import PARTIAL_DIR, read_results
# partial_path, read_partial and set_threads live in bench.runs.steps; importable from here too
from bench.runs.steps import (clear_partial, open_parts, partial_path, read_partial,  # noqa: F401
                              set_threads)
from bench.runs.units import (Hooks, RunTicket, UnitDone, adopt, finish_task, merge_reports,
                              perform, release)
from bench.store.pipeline import EmbedReport, embed_clips
from bench.store.store import EmbeddingStore
from bench.util.cpus import default_threads
from bench.util.progress import bar
from bench.util.threads import use_default_threads


@dataclass
class RunOutcome:
    """What :func:`execute` did.

    Attributes
    ----------
    run_dir : Path
    record : RunRecord
        The ``results.json`` content (``record.path`` is that file).
    reused : bool
        The run was finished before: nothing was computed.
    resumed : int
        (fold, repeat) pieces taken from ``partial/`` of an interrupted earlier attempt.
    logged : object or None
        What MLflow tracking returned (``bench.tracking.logger.Logged``), ``None`` when off or failed.
    """

    run_dir: Path
    record: RunRecord
    reused: bool = False
    resumed: int = 0
    logged: Any = None


def execute(config: RunConfig, progress: bool = True,
            log: Callable[[str], None] | None = None) -> RunOutcome:
    """Carry out one run, or find it finished.

    MLflow logging is the caller's: :func:`bench.tracking.tracked.execute` runs and logs.

    Parameters
    ----------
    config : RunConfig
    progress : bool
        Show progress bars (stderr).
    log : callable, optional
        Receives one-line status messages (the command line prints them).
    """
    folders: list[Path] = []
    try:
        return _execute(config, progress, log, folders)
    finally:
        for run_dir in folders:
            _tidy(run_dir)


def _tidy(run_dir: Path) -> None:
    """Remove the run folder (and its ``partial/``) when a failed attempt left it empty, so a
    failed run leaves nothing behind; a folder with finished (fold, repeat) records stays."""
    for folder in (run_dir / PARTIAL_DIR, run_dir):
        try:
            folder.rmdir()  # only succeeds when empty
        except OSError:
            pass


def _execute(config: RunConfig, progress: bool,
             log: Callable[[str], None] | None, folders: list[Path]) -> RunOutcome:
    """:func:`execute`; ``folders`` receives the run folder once it is known."""
    say = log or (lambda msg: None)
    t_start = time.perf_counter()
    dataset, embedder, spec = open_parts(config, progress)
    check_task(dataset.task, config.protocol, spec)  # an unsupported task: before embedding
    store = EmbeddingStore(config.cache_dir)
    plan = plan_run(config, dataset, spec, store, progress, getattr(embedder, "notes", ()))
    for w in plan.warnings:
        say(f"warning: {w}")
    run_dir = plan.run_dir
    if plan.done and not config.rerun:
        say(f"already done: {run_dir} (its results are reused)")
        return RunOutcome(run_dir, read_results(run_dir), reused=True)
    if config.rerun:
        clear_partial(run_dir)
    folders.append(run_dir)  # removed again if this attempt fails before writing anything
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise storage_error(exc, run_dir, doing="create the run folder",
                            option="--out (or BENCH_RESULTS_DIR)", resumable=False) from exc
    adopt(plan, embedder)  # the units below use this plan and embedder, not fresh ones
    try:
        return _run_graph(plan, Hooks(progress, say), t_start)
    finally:
        release()


def _run_graph(plan: PlannedRun, hooks: Hooks, t_start: float) -> RunOutcome:
    """The local executor: the run's units one after another, in the graph's order, each
    (split, repeat) reported as it ends."""
    ticket, threads, epochs = RunTicket.of(plan), plan.config.threads, plan.protocol.max_epochs
    graph = build_graph([replace(RunShape.of(plan), done=False)])
    results: dict[str, Any] = {}
    spent = {EMBED: 0.0, CLASSIFY: 0.0}
    resumed = n_classify = graph.counts()[CLASSIFY]
    with ExitStack() as stack:
        pbar = None
        for unit in graph.units:
            inputs = dependency_results(unit, results)
            t0 = time.perf_counter()
            if unit.kind == EMBED:
                results[unit.key] = perform(unit, ticket, inputs, threads, hooks)
            elif unit.kind == CLASSIFY:
                if pbar is None:  # the embeddings are there: say so, then train
                    _say_embedded(merge_reports(_embedded(inputs), owner=True), hooks.say)
                    pbar = stack.enter_context(bar(total=n_classify * epochs, desc="training",
                                                   unit="epoch", enabled_=hooks.progress))
                done = _classify(plan, unit, inputs, hooks, pbar)
                resumed -= done.computed
                results[unit.key] = done
            else:
                timings = {"embed_s": spent[EMBED], "classify_s": spent[CLASSIFY],
                           "total_s": time.perf_counter() - t_start}
                results[unit.key] = finish_task(
                    ticket, _embedded(inputs), True,
                    [x for x in inputs if isinstance(x, UnitDone)], timings, threads)
            if unit.kind in spent:
                spent[unit.kind] += time.perf_counter() - t0
    if resumed:
        hooks.say(f"resumed: {resumed} of {n_classify} (fold, repeat) finished by an earlier "
                  f"attempt")
    finished = results[graph.units[-1].key]
    return RunOutcome(finished.run_dir, finished.record, resumed=resumed)


def _classify(plan: PlannedRun, unit: Unit, inputs: list[Any], hooks: Hooks, pbar) -> UnitDone:
    """One classify unit with the training bar: an epoch at a time, or all at once when an
    earlier attempt finished it; its accuracy and warnings said when it ends."""
    fold = f"fold {plan.splits[unit.split].test_fold}"
    seen = [0]

    def on_epoch(epoch: int, n_active: int) -> None:
        pbar.update(1)
        seen[0] = epoch
        pbar.set_postfix_str(f"{n_active} grid points training", refresh=False)

    pbar.set_description(f"{fold} repeat {unit.repeat}")
    done = perform(unit, RunTicket.of(plan), inputs, plan.config.threads,
                   replace(hooks, on_epoch=on_epoch))
    pbar.update(plan.protocol.max_epochs - seen[0])
    if done.computed:
        hooks.say(f"{fold} repeat {unit.repeat}: test {done.metric} {100 * done.score:.2f}% "
                  f"({done.chosen.describe()})")
        for w in done.warnings:
            hooks.say(f"warning: {fold} repeat {unit.repeat}: {w}")
    return done


def _embedded(inputs: list[Any]) -> list[EmbedReport]:
    return [x for x in inputs if isinstance(x, EmbedReport)]


def _say_embedded(report, say: Callable[[str], None]) -> None:
    say(f"embeddings: {report.n_cached} clips from the store, {report.n_computed} computed"
        + (f" ({report.windows_per_s:.1f} windows/s)" if report.n_computed else "")
        + (f", {len(report.skipped)} skipped" if report.skipped else ""))


def embed_only(config: RunConfig, progress: bool = True):
    """Fill the store for ``config``'s embedder and dataset; return the EmbedReport."""
    dataset, embedder, spec = open_parts(config, progress)
    report, _ = embed_clips(dataset.clips(), embedder, spec, EmbeddingStore(config.cache_dir),
                            resampler=config.resampler, batch_size=config.embed_batch_size,
                            skip_bad=config.skip_bad, progress=progress,
                            decode_workers=default_threads(config.threads))
    return report



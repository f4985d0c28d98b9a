"""What each unit of the study graph (``bench.runs.graph``) does, on whichever process runs it.

Each unit function is made of the run's steps (``bench.runs.steps``), so a run carried out
unit by unit, anywhere, gives the numbers of ``bench run``. Every unit is idempotent: an embed
unit computes only the clips the store lacks, a classify unit returns at once when its
``partial/`` record exists, a finish unit only assembles what is on disk. Units pass only small
results (counts, accuracies); the embeddings travel through the store. A process keeps the
plan and the embeddings matrix of the run it last worked for, so the classify units of one
run that land on one process open the dataset and read the matrix once. Nothing here knows
of an executor: :func:`perform` is what every executor calls.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from bench import datasets
from bench.errors import BenchError
from bench.evaluation.protocol import fold_data
from bench.runs.config import RunConfig
from bench.runs.graph import CLASSIFY, EMBED, FINISH, Unit
from bench.runs.identity import PlannedRun, plan_run
from bench.runs.record import ChosenPoint, RunRecord, read_results
from bench.runs.steps import (classify_unit, embeddings, finish_run, open_parts, partial_path,
                              read_partial, set_threads)
from bench.store.pipeline import (DamagedEntries, EmbedReport, embed_clips, load_matrix,
                                  open_namespace)
from bench.store.store import EmbeddingStore
from bench.util.cpus import default_threads


@dataclass(frozen=True)
class RunTicket:
    """What the planning process found for one run, sent with each of its units.

    Attributes
    ----------
    config : RunConfig
    spec : EmbedderSpec
        The prepared spec: workers check theirs against it and never load weights just to
        classify.
    key, run_id : str
        The run's identity; a worker that finds another key (other audio, other weights)
        fails instead of mixing runs.
    run_dir : Path
    notes : tuple of str
        The embedder's own warnings, for the run's record.
    """

    config: RunConfig
    spec: Any
    key: str
    run_id: str
    run_dir: Path
    notes: tuple[str, ...] = ()

    @classmethod
    def of(cls, plan: PlannedRun) -> "RunTicket":
        return cls(plan.config, plan.spec, plan.key, plan.run_id, plan.run_dir, plan.notes)


@dataclass(frozen=True)
class UnitDone:
    """A classify unit's result: what its record says in brief (``score``: the task's primary
    metric, named ``metric``)."""

    run_id: str
    split_index: int
    repeat: int
    score: float
    seconds: float
    computed: bool
    chosen: ChosenPoint | None = None
    warnings: tuple[str, ...] = ()
    metric: str = "accuracy"


@dataclass(frozen=True)
class RunDone:
    """A finish unit's result: the run's record."""

    run_dir: Path
    record: RunRecord = field(repr=False)


@dataclass(frozen=True)
class Hooks:
    """What a unit run in the caller's process may report (an executor of other processes
    passes none): progress bars, status lines, each epoch of a classify unit."""

    progress: bool = False
    say: Callable[[str], None] = lambda msg: None
    on_epoch: Callable[[int, int], None] | None = None


_QUIET = Hooks()

# -- this process's state ------------------------------------------------------------------------
_PLANS: dict[str, PlannedRun] = {}
_EMBEDDERS: dict[str, Any] = {}
_MATRIX: dict[tuple[str, str, str, frozenset[str]], tuple[Any, Any, list[Any]]] = {}


def adopt(plan: PlannedRun, embedder: Any = None) -> None:
    """Let the units of ``plan``'s run in this process use this plan (and this prepared
    embedder) instead of opening the dataset and the embedder again."""
    _PLANS.clear()
    _PLANS[plan.key] = plan
    _EMBEDDERS.clear()
    if embedder is not None:
        _EMBEDDERS[plan.key] = embedder


def release() -> None:
    """Forget this process's plan, embedder and matrix (a run carried out here is over: its
    embedder and embeddings need not outlive it)."""
    _PLANS.clear()
    _EMBEDDERS.clear()
    _MATRIX.clear()


def _plan(ticket: RunTicket, threads: int | None) -> PlannedRun:
    set_threads(threads)
    plan = _PLANS.get(ticket.key)
    if plan is None:
        config = ticket.config
        dataset = datasets.create(config.dataset, data_dir=config.data_dir,
                                  download=config.download)
        dataset.prepare(progress=False)
        dataset.prefer_rate(ticket.spec.sample_rate)  # as the client's open_parts did
        plan = plan_run(config, dataset, ticket.spec, EmbeddingStore(config.cache_dir),
                        progress=False, notes=ticket.notes)
        if plan.key != ticket.key:
            raise BenchError(f"run {ticket.run_id}: this worker sees other inputs (run key "
                             f"{plan.key[:8]}, the client's {ticket.key[:8]})",
                             hint="every host must see the same dataset files and the same "
                                  "bench version; check the data directory on this host")
        _PLANS.clear()  # one run at a time is enough to reuse, and bounds the memory
        _PLANS[ticket.key] = plan
    return plan


def _worker_embedder(ticket: RunTicket):
    """The embedder of the ticket's run in this process, checked against the client's spec."""
    if ticket.key in _EMBEDDERS:
        return _EMBEDDERS[ticket.key]
    config, spec = ticket.config, ticket.spec
    _, embedder, worker_spec = open_parts(config, progress=False)
    if worker_spec != spec:
        raise BenchError(f"embedder {config.embedder} on this worker is not the client's "
                         f"(weights sha256 {worker_spec.weights_sha256} vs {spec.weights_sha256},"
                         f" version {worker_spec.version} vs {spec.version})",
                         hint="install the same weights and bench version on every host")
    return embedder


# -- the units -----------------------------------------------------------------------------------
def perform(unit: Unit, ticket: RunTicket, inputs: list[Any], threads: int | None = None,
            hooks: Hooks = _QUIET) -> Any:
    """Carry out ``unit`` of ``ticket``'s run; ``inputs`` are the results of its ``deps``.

    Returns an :class:`~bench.store.pipeline.EmbedReport` (embed), a :class:`UnitDone`
    (classify) or a :class:`RunDone` (finish).
    """
    embedded = [x for x in inputs if isinstance(x, EmbedReport)]
    if unit.kind == EMBED:
        return embed_unit(ticket, unit.start, unit.stop, threads, hooks)
    if unit.kind == CLASSIFY:
        first = next((x for x in inputs if isinstance(x, UnitDone)), None)
        return classify_task(ticket, unit.split, unit.repeat, embedded, threads, first, hooks)
    if unit.kind == FINISH:
        return finish_task(ticket, embedded, unit.owner,
                           [x for x in inputs if isinstance(x, UnitDone)], threads=threads)
    raise ValueError(f"unknown unit kind {unit.kind!r}")


def embed_unit(ticket: RunTicket, start: int, stop: int, threads: int | None = None,
               hooks: Hooks = _QUIET) -> EmbedReport:
    """Put the embeddings of clips ``start:stop`` (in the dataset's order) into the store.

    Returns the counts only (:class:`~bench.store.pipeline.EmbedReport`).
    """
    plan = _plan(ticket, threads)
    shard = plan.clips[start:stop]
    ids = {c.id for c in shard}
    identities = ({k: v for k, v in plan.identities[0].items() if k in ids},
                  [s for s in plan.identities[1] if s["clip_id"] in ids])
    store = EmbeddingStore(ticket.config.cache_dir)
    ns = open_namespace(store, ticket.spec, ticket.config.resampler)
    if not ns.missing(sorted(set(identities[0].values()))):
        # all stored: count without building the embedder (no weights loaded)
        return EmbedReport(n_clips=len(shard), n_cached=len(identities[0]),
                           skipped=list(identities[1]), namespace=ns.key)
    config = ticket.config
    report, _ = embed_clips(shard, _worker_embedder(ticket), ticket.spec, store,
                            resampler=config.resampler, batch_size=config.embed_batch_size,
                            skip_bad=config.skip_bad, progress=hooks.progress,
                            identities=identities,
                            decode_workers=default_threads(threads or config.threads))
    return report


def classify_task(ticket: RunTicket, split_index: int, repeat: int,
                  embedded: list[EmbedReport], threads: int | None = None,
                  first: UnitDone | None = None, hooks: Hooks = _QUIET) -> UnitDone:
    """Train and test one (split, repeat) of a run from the stored embeddings; its record goes
    to the run's ``partial/`` folder. ``embedded`` are the run's embed units' reports (what
    they skipped is left out here too); ``first`` is split 0 of this repeat, whose chosen grid
    point is the only one trained when the protocol searches the grid on the first split."""
    plan = _plan(ticket, threads)
    split = plan.splits[split_index]
    saved = read_partial(partial_path(plan.run_dir, split, repeat))
    if saved is not None:
        return UnitDone(ticket.run_id, split_index, repeat, saved[0].score, 0.0, False,
                        saved[0].chosen, metric=saved[0].metric_name)
    t0 = time.perf_counter()
    X, offsets, used = _matrix(plan, embedded, hooks)
    data = fold_data(X, offsets, used, tuple(plan.dataset.classes), plan.protocol,
                     plan.dataset.task, plan.spec)
    record, _ = classify_unit(plan, data, split_index, split, repeat, hooks.on_epoch,
                              first_chosen=first.chosen if first is not None else None)
    return UnitDone(ticket.run_id, split_index, repeat, record.score,
                    time.perf_counter() - t0, True, record.chosen, tuple(record.warnings or ()),
                    record.metric_name)


def _matrix(plan: PlannedRun, embedded: list[EmbedReport], hooks: Hooks):
    skipped = frozenset(s["clip_id"] for r in embedded for s in r.skipped)
    key = (repr(plan.spec), plan.config.resampler, plan.content, skipped)
    if key in _MATRIX:
        return _MATRIX[key]
    audio_ids = {k: v for k, v in plan.identities[0].items() if k not in skipped}
    used = [c for c in plan.clips if c.id in audio_ids]
    store = EmbeddingStore(plan.config.cache_dir)
    _MATRIX.clear()
    try:
        X, offsets = load_matrix(used, open_namespace(store, plan.spec, plan.config.resampler),
                                 audio_ids, progress=hooks.progress)
    except DamagedEntries as exc:
        # an entry went bad after its embed unit: recompute it here, as the runner would
        hooks.say(f"warning: {len(exc.clip_ids)} stored embedding(s) failed verification; "
                  f"recomputing them")
        X, offsets, used, _ = embeddings(plan, _worker_embedder(RunTicket.of(plan)), store,
                                         progress=hooks.progress)
    _MATRIX[key] = (X, offsets, used)
    return X, offsets, used


def finish_task(ticket: RunTicket, embedded: list[EmbedReport], owner: bool,
                units: list[UnitDone], timings: dict[str, float] | None = None,
                threads: int | None = None) -> RunDone:
    """Write the run's ``results.json`` and ``predictions.csv`` from its ``partial/`` records.

    ``embedded`` are the reports of the embed units of the run's (embedder, dataset); the
    run that comes first in the study (``owner``) reports their work, as the sequential sweep's
    first run of a pair does, and the others report the clips as found in the store.
    ``timings`` (``embed_s``, ``classify_s``, ``total_s``): measured by the caller, else the
    units' own seconds.
    """
    plan = _plan(ticket, threads)
    if plan.done and not plan.config.rerun:
        return RunDone(plan.run_dir, read_results(plan.run_dir))
    fold_records, predictions = [], []
    for i, split, repeat in plan.units:
        saved = read_partial(partial_path(plan.run_dir, split, repeat))
        if saved is None:
            raise BenchError(f"run {ticket.run_id}: fold {split.test_fold} repeat {repeat} has "
                             f"no record in {plan.run_dir / 'partial'}",
                             hint="run the sweep again: finished pieces are kept")
        fold_records.append(saved[0])
        predictions.extend(saved[1])
    report = merge_reports(embedded, owner)
    if timings is None:
        classify_s = sum(float(r.classify_s or 0.0) for r in fold_records)
        timings = {"embed_s": report.seconds, "classify_s": classify_s,
                   "total_s": report.seconds + classify_s}
    return RunDone(plan.run_dir, finish_run(plan, fold_records, predictions, report, timings))


def merge_reports(reports: list[EmbedReport], owner: bool) -> EmbedReport:
    """One report for a run from its pair's shard reports, in shard order."""
    merged = EmbedReport(namespace=reports[0].namespace if reports else "")
    for r in reports:
        merged.n_clips += r.n_clips
        merged.n_cached += r.n_cached
        merged.n_computed += r.n_computed
        merged.n_windows += r.n_windows
        merged.seconds += r.seconds
        merged.skipped.extend(r.skipped)
    if not owner:  # a later run of the pair finds every clip in the store
        merged = replace(merged, n_cached=merged.n_cached + merged.n_computed, n_computed=0,
                         n_windows=0, seconds=0.0, skipped=list(merged.skipped))
    return merged

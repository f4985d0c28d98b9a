"""The units of a distributed study: embed a shard, classify a (split, repeat), finish a run.

Each function runs on a worker (any process, any host that sees the same data, store and
results folders) and is built from the runner's own pieces (:func:`bench.runs.identity.plan_run`,
``classify_unit``, ``finish_run``), so a study run this way gives the numbers of a sequential
one. Every task is idempotent: an embed task computes only the clips the store lacks, a
classify task returns at once when its ``partial/`` record exists, a finish task only assembles
what is on disk. Tasks pass only small results (counts, accuracies); the embeddings travel
through the store. Nothing here imports Dask: the executor (``bench.studies.dask_run``) wraps
these functions, and tests call them directly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench import datasets
from bench.errors import BenchError
from bench.evaluation.protocol import fold_data
from bench.runs.config import RunConfig
from bench.runs.record import read_results
from bench.runs.identity import PlannedRun, plan_run
from bench.runs.record import ChosenPoint
from bench.runs.runner import (classify_unit, embeddings, finish_run, open_parts, partial_path,
                               read_partial, set_threads)
from bench.store.pipeline import (DamagedEntries, EmbedReport, embed_clips, load_matrix,
                                  open_namespace)
from bench.store.store import EmbeddingStore


@dataclass(frozen=True)
class RunTicket:
    """What the client found for one run, sent with each of its tasks.

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
    units : tuple of (int, int)
        (split index, repeat) of every classify task.
    notes : tuple of str
        The embedder's own warnings, for the run's record.
    """

    config: RunConfig
    spec: Any
    key: str
    run_id: str
    run_dir: Path
    units: tuple[tuple[int, int], ...]
    notes: tuple[str, ...] = ()

    @classmethod
    def of(cls, plan: PlannedRun) -> "RunTicket":
        return cls(plan.config, plan.spec, plan.key, plan.run_id, plan.run_dir,
                   tuple((i, r) for i, _, r in plan.units), plan.notes)


@dataclass(frozen=True)
class UnitDone:
    """A classify task's result: where its record is and what it says in brief."""

    run_id: str
    split_index: int
    repeat: int
    accuracy: float
    seconds: float
    computed: bool
    chosen: ChosenPoint | None = None


@dataclass(frozen=True)
class RunDone:
    """A finish task's result: the run's record (for the client to track and summarise)."""

    run_dir: Path
    record: dict[str, Any] = field(repr=False)


# -- worker-side state ---------------------------------------------------------------------------
#: plans and the last loaded matrix of this worker process, so the classify tasks of one run
#: that land on one worker open the dataset and read the embeddings once
_PLANS: dict[str, PlannedRun] = {}
_MATRIX: dict[tuple[str, str, str, frozenset[str]], tuple[Any, Any, list[Any]]] = {}


def _plan(ticket: RunTicket, threads: int | None) -> PlannedRun:
    set_threads(threads)
    plan = _PLANS.get(ticket.key)
    if plan is None:
        config = ticket.config
        dataset = datasets.create(config.dataset, data_dir=config.data_dir,
                                  download=config.download)
        dataset.prepare(progress=False)
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


def _prepared(config: RunConfig, spec: Any):
    """The embedder of ``config`` on this worker, checked against the client's spec."""
    _, embedder, worker_spec = open_parts(config, progress=False)
    if worker_spec != spec:
        raise BenchError(f"embedder {config.embedder} on this worker is not the client's "
                         f"(weights sha256 {worker_spec.weights_sha256} vs {spec.weights_sha256},"
                         f" version {worker_spec.version} vs {spec.version})",
                         hint="install the same weights and bench version on every host")
    return embedder


# -- the tasks -----------------------------------------------------------------------------------
def embed_task(ticket: RunTicket, start: int, stop: int, threads: int | None = None
               ) -> EmbedReport:
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
    report, _ = embed_clips(shard, _prepared(config, ticket.spec), ticket.spec, store,
                            resampler=config.resampler, batch_size=config.embed_batch_size,
                            skip_bad=config.skip_bad, progress=False, identities=identities)
    return report


def classify_task(ticket: RunTicket, split_index: int, repeat: int,
                  embedded: list[EmbedReport], threads: int | None = None,
                  first: UnitDone | None = None) -> UnitDone:
    """Train and test one (split, repeat) of a run from the stored embeddings; its record goes
    to the run's ``partial/`` folder. ``embedded`` are the run's embed tasks' reports (what
    they skipped is left out here too); ``first`` is split 0 of this repeat, whose chosen grid
    point is the only one trained when the protocol searches the grid on the first split."""
    plan = _plan(ticket, threads)
    split = plan.splits[split_index]
    saved = read_partial(partial_path(plan.run_dir, split, repeat))
    if saved is not None:
        return UnitDone(ticket.run_id, split_index, repeat, saved[0].score, 0.0, False,
                        saved[0].chosen)
    t0 = time.perf_counter()
    X, offsets, used = _matrix(plan, embedded)
    data = fold_data(X, offsets, used, tuple(plan.dataset.classes), plan.protocol,
                     plan.dataset.task)
    record, _ = classify_unit(plan, data, split_index, split, repeat,
                              first_chosen=first.chosen if first is not None else None)
    return UnitDone(ticket.run_id, split_index, repeat, record.score,
                    time.perf_counter() - t0, True, record.chosen)


def _matrix(plan: PlannedRun, embedded: list[EmbedReport]):
    skipped = frozenset(s["clip_id"] for r in embedded for s in r.skipped)
    key = (repr(plan.spec), plan.config.resampler, plan.content, skipped)
    if key in _MATRIX:
        return _MATRIX[key]
    audio_ids = {k: v for k, v in plan.identities[0].items() if k not in skipped}
    used = [c for c in plan.clips if c.id in audio_ids]
    store = EmbeddingStore(plan.config.cache_dir)
    try:
        X, offsets = load_matrix(used, open_namespace(store, plan.spec, plan.config.resampler),
                                 audio_ids, progress=False)
    except DamagedEntries:
        # an entry went bad after its embed task: recompute it here, as the runner would
        X, offsets, used, _ = embeddings(plan, _prepared(plan.config, plan.spec), store,
                                         progress=False)
    _MATRIX.clear()
    _MATRIX[key] = (X, offsets, used)
    return X, offsets, used


def finish_task(ticket: RunTicket, embedded: list[EmbedReport], owner: bool,
                units: list[UnitDone]) -> RunDone:
    """Write the run's ``results.json`` and ``predictions.csv`` from its ``partial/`` records.

    ``embedded`` are the reports of the embed tasks of the run's (embedder, dataset); the
    run that comes first in the study (``owner``) reports their work, as the sequential sweep's
    first run of a pair does, and the others report the clips as found in the store.
    """
    plan = _plan(ticket, None)
    if plan.done:
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
    classify_s = sum(float(r.classify_s or 0.0) for r in fold_records)
    record = finish_run(plan, fold_records, predictions, report,
                        {"embed_s": report.seconds, "classify_s": classify_s,
                         "total_s": report.seconds + classify_s})
    return RunDone(plan.run_dir, record)


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

"""``bench sweep --executor dask:N|tcp://HOST:PORT|slurm|pbs``: a study as a Dask task graph.

The client (this process) plans every run (its identity, as the sequential sweep's runner
does), then submits per (embedder, dataset) one *embed* task per shard of clips, per run one
*classify* task per (split, repeat) that depends on its pair's embed tasks, and per run one
*finish* task that depends on its classify tasks (``bench.studies.tasks``). Task keys are the
run ids and store keys, so a second client of the same scheduler shares the work instead of
repeating it. As runs finish, the client logs each to MLflow once (workers never touch
the tracking store) and keeps ``sweep.json``/``summary.md`` up to date; the report comes last.

Faults: a worker that dies (SIGKILL, a lost node) has its tasks run elsewhere by Dask; what it
had stored (embeddings, ``partial/`` records) is kept and not computed again, because each
task starts by looking. A task that raises is retried ``dask.retries`` times. A killed client
is restarted by running the same command: everything finished is found on disk.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from bench.errors import BenchError, ConfigError
from bench.runs.record import read_results
from bench.runs.identity import PlannedRun, plan_run
from bench.runs.runner import RunOutcome, open_parts
from bench.store.format import namespace_description, namespace_key
from bench.store.store import EmbeddingStore
from bench.studies.executor import DaskSettings, Executor, shards
from bench.studies.study import Study
from bench.studies.sweep import (StudyRun, SweepResult, error_text, study_dir,
                                 write_study_report, write_study_state)
from bench.studies.tasks import RunTicket, classify_task, embed_task, finish_task
from bench.tracking.tracked import track_outcome
from bench.util.progress import bar


@dataclass
class StudyGraph:
    """The client's plan: one ticket per run still to do, and the embed shards of each pair."""

    plans: list[PlannedRun | None]        # per planned run; None when it failed to plan
    pairs: dict[str, list[int]]        # pair key -> indices of its runs (first = owner)
    shards: dict[str, list[tuple[int, int]]]

    def counts(self) -> dict[str, int]:
        todo = [p for p in self.plans if p is not None and not p.done]
        pairs = {k for k, runs in self.pairs.items() if any(not self.plans[i].done for i in runs)}
        return {"embed": sum(len(self.shards[k]) for k in pairs),
                "classify": sum(len(p.units) for p in todo), "finish": len(todo)}


def pair_key(plan: PlannedRun) -> str:
    """What one embed pass serves: the store namespace and the audio content."""
    ns = namespace_key(namespace_description(plan.spec.to_dict(), plan.config.resampler))
    return f"{ns[:16]}-{plan.content[:16]}"


def plan_study(study: Study, say: Callable[[str], None]) -> StudyGraph:
    """Plan every run on the client: datasets prepared and embedders' specs read once each
    (embedders on the CPU: this host needs no GPU), audio identities hashed once."""
    opened: dict[tuple[Any, ...], tuple[Any, Any]] = {}
    plans: list[PlannedRun | None] = []
    for cfg in study.plan():
        where = (cfg.dataset, cfg.data_dir, cfg.embedder, cfg.embedder_options, cfg.weights_dir)
        if where not in opened:
            dataset, embedder, spec = open_parts(cfg, progress=False, device="cpu")
            opened[where] = (dataset, spec, tuple(getattr(embedder, "notes", ())))
        dataset, spec, notes = opened[where]
        plans.append(plan_run(cfg, dataset, spec, EmbeddingStore(cfg.cache_dir), progress=False,
                              notes=notes))
    pairs: dict[str, list[int]] = {}
    for i, p in enumerate(plans):
        pairs.setdefault(pair_key(p), []).append(i)
    return StudyGraph(plans, pairs, {k: shards(len(plans[runs[0]].clips), study.dask.shard_clips)
                                     for k, runs in pairs.items()})


def run_sweep_dask(study: Study, executor: Executor, *, keep_going: bool = False,
                   progress: bool = True, report: bool = True,
                   log: Callable[[str], None] | None = None) -> SweepResult:
    """Run ``study`` on Dask workers; the same results as :func:`bench.studies.sweep.run_sweep`.

    Parameters
    ----------
    study : Study
    executor : Executor
        Not ``local``.
    keep_going : bool
        A failed run is recorded and the others go on; otherwise the first failure cancels
        the remaining tasks (finished work stays on disk) and is raised.
    progress : bool
        A bar of tasks done / running / failed with an ETA.
    report : bool
        Write the study report at the end.
    log : callable, optional
        Receives status lines.
    """
    say = log or (lambda msg: None)
    require_dask(executor)
    study.check_names()
    graph = plan_study(study, say)
    out = SweepResult(study, [StudyRun(i, c) for i, c in enumerate(study.plan())],
                      study_dir(study))
    for o, plan in zip(out.outcomes, graph.plans):
        o.run_dir = plan.run_dir
        if plan.done and not plan.config.rerun:
            o.record, o.status = read_results(plan.run_dir), "done earlier"
            _track(o, say)
    counts = graph.counts()
    say(f"{len(out.outcomes)} runs ({sum(o.status == 'done earlier' for o in out.outcomes)} "
        f"done earlier): {counts['embed']} embed, {counts['classify']} classify and "
        f"{counts['finish']} finish tasks on {executor.describe()}")
    if counts["finish"]:
        try:
            with DaskSession(executor, study) as (client, threads):
                _submit_and_wait(client, threads, graph, out, study.dask, keep_going, progress,
                                 say)
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


def _submit_and_wait(client, threads: int, graph: StudyGraph, out: SweepResult,
                     settings: DaskSettings, keep_going: bool, progress: bool,
                     say: Callable[[str], None]) -> None:
    from distributed import as_completed

    futures: dict[Any, tuple[str, int]] = {}   # future -> (kind, run index)
    t0 = time.perf_counter()
    for key, runs in graph.pairs.items():
        todo = [i for i in runs if not graph.plans[i].done]
        if not todo:
            continue
        owner = graph.plans[runs[0]]
        gpu = _resources(owner)
        embeds = [client.submit(embed_task, RunTicket.of(owner), a, b, threads,
                                key=f"embed-{key}-{a}", resources=gpu,
                                retries=settings.retries)
                  for a, b in graph.shards[key]]
        for f in embeds:
            futures[f] = ("embed", runs[0])
        for i in todo:
            plan = graph.plans[i]
            ticket = RunTicket.of(plan)
            # under grid_search="first_split" the later splits of a repeat wait for split 0
            chained = plan.protocol.grid_search == "first_split"
            firsts: dict[int, Any] = {}
            units = []
            for s, r in sorted(ticket.units):
                units.append(client.submit(
                    classify_task, ticket, s, r, embeds, threads,
                    firsts.get(r) if chained and s else None,
                    key=f"classify-{plan.run_id}-{s}-{r}", resources=_resources(plan),
                    retries=settings.retries))
                if s == 0:
                    firsts[r] = units[-1]
            for f in units:
                futures[f] = ("classify", i)
            fin = client.submit(finish_task, ticket, embeds, i == runs[0], units,
                                key=f"finish-{plan.run_id}", retries=settings.retries)
            futures[fin] = ("finish", i)
            out.outcomes[i].status = "running"
    failed = 0
    with bar(total=len(futures), desc="tasks", unit="task", enabled_=progress) as pbar:
        for future in as_completed(list(futures)):
            kind, i = futures[future]
            o = out.outcomes[i]
            if future.status == "finished":
                if kind == "finish":
                    done = future.result()
                    o.run_dir, o.record, o.status = done.run_dir, done.record, "computed"
                    o.seconds = time.perf_counter() - t0
                    _track(o, say)
                    write_study_state(out)
            elif future.status != "cancelled":
                failed += 1
                if o.status != "failed":
                    o.status, o.error = "failed", error_text(future.exception())
                    o.seconds = time.perf_counter() - t0
                    say(f"[{i + 1}/{len(out.outcomes)}] {o.config.embedder} on "
                        f"{o.config.dataset} failed ({kind}): {o.error}")
                    write_study_state(out)
                if not keep_going:
                    client.cancel(list(futures))
                    raise BenchError(f"run {i + 1} failed in a {kind} task: {o.error}",
                                     hint="fix the cause and run the same command again "
                                          "(finished work is kept), or use --keep-going")
            pbar.update(1)
            pbar.set_postfix_str(_status_line(client, futures, failed), refresh=False)
    for o in out.outcomes:
        if o.status == "running":
            o.status = "failed"


def _status_line(client, futures: dict, failed: int) -> str:
    """done / running / failed for the progress bar (tqdm adds the rate and ETA)."""
    try:
        processing = client.processing()
        ours = {f.key for f in futures}
        running = sum(1 for keys in processing.values() for k in keys if k in ours)
    except Exception:  # noqa: BLE001 - a status line must never stop the sweep
        running = -1
    done = sum(1 for f in futures if f.status == "finished")
    return f"done {done}, running {running if running >= 0 else '?'}, failed {failed}"


def _resources(plan: PlannedRun) -> dict[str, float] | None:
    """A GPU tag for tasks of a cuda run: a worker runs one such task per GPU it declares."""
    return {"GPU": 1} if plan.config.device.startswith("cuda") else None


class DaskSession:
    """A Dask client for ``executor`` (and the cluster it starts, closed on exit); yields
    ``(client, threads per worker)``."""

    def __init__(self, executor: Executor, study: Study):
        self.executor, self.study = executor, study
        self.cluster = self.client = None

    def __enter__(self):
        require_dask(self.executor)
        from distributed import Client

        from bench.studies.clusters import make_cluster

        settings = self.study.dask
        threads = settings.threads_per_worker
        if self.executor.kind == "address":
            self.client = Client(self.executor.address, timeout="30s")
        else:
            self.cluster = make_cluster(self.executor, self.study)
            self.client = Client(self.cluster)
        return self.client, threads

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
            # Ctrl-C: the cancelled tasks and the busy workers being stopped are the point
            # now; Dask's warnings about them would bury the one line that says what happened
            import logging

            from bench.studies.worker_setup import quiet

            quiet()
            if self.client is not None:
                try:
                    self.client.run(quiet)
                except Exception:  # noqa: BLE001 - only log levels: the close goes on
                    logging.getLogger(__name__).debug("workers not quietened", exc_info=True)
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()



def require_dask(executor: Executor) -> None:
    """Fail at once, saying what to install, when the dask extra is missing."""
    try:
        import distributed  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"--executor {executor.kind} needs Dask, which is not installed "
                          f"({exc})", hint="pip install 'bench-audio-embeddings[dask]'") from exc

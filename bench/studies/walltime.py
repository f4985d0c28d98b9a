"""``bench sweep --dry-run --executor ...``: a study's units and its wall time on N workers.

Costs come from :mod:`bench.studies.estimate`: an embed task costs its shard's windows times the
embedder's GFLOP per window; a classify task costs ``max_epochs`` epochs (an upper bound: early
stopping ends most sooner) over the training frames of its split, each frame a forward and
backward pass (about 3x the forward's 2·(D·512 + 512·128) FLOP) through every grid point. Both
are divided by one worker's GFLOP/s (the measured per-core figure times its threads, or
``--gflops`` for a GPU). The wall time is a list schedule of those tasks on N workers in the
order the executor submits them (a pair's embed shards, then its runs' classify tasks, which
wait for them), so it counts idle workers at the joins, not only total work / N. The units
and their order are the study graph's (``bench.runs.graph``), the one every executor runs.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

from bench.runs.graph import CLASSIFY, EMBED, FINISH, Graph, RunShape, build_graph
from bench.studies.estimate import StudyEstimate

#: hidden layers of the paper's MLP (docs/protocol.md)
_HIDDEN = (512, 128)


@dataclass
class TaskPlan:
    """The study graph of the runs not yet done, and each unit's cost."""

    graph: Graph
    costs: dict[str, float]         # unit key -> seconds of one worker (finish units: 0)
    unknown: int                    # units of unknown cost (counted as 0)

    @property
    def counts(self) -> dict[str, int]:
        return self.graph.counts()

    def work(self) -> tuple[float, float]:
        """Total seconds of one worker: embedding, classifier."""
        return tuple(sum(self.costs[u.key] for u in self.graph.units if u.kind == kind)
                     for kind in (EMBED, CLASSIFY))


def task_plan(study, est: StudyEstimate, worker_gflops: float) -> TaskPlan:
    """The units the executor would run for the runs of ``est`` not yet done: the study
    graph (``bench.runs.graph.build_graph``) of runs shaped from the estimate's rows, which need no
    dataset on this host, with each unit's cost."""
    costs = {(p.embedder_arg, p.dataset): p for p in est.pairs}
    plan = study.plan()
    shapes = []
    for row in est.rows:
        proto = plan[row["index"] - 1].protocol
        shapes.append(RunShape(f"run{row['index']}", f"{row['embedder']}|{row['dataset']}",
                               est.sizes[row["dataset"]].n_clips or 0, row["splits"] or 0,
                               row["repeats"] or 0, proto.grid_search == "first_split",
                               done=row["status"] == "done"))
    graph = build_graph(shapes, study.dask.shard_clips)
    unit_costs, unknown = {}, 0
    for u in graph.units:
        row, shape = est.rows[u.run], shapes[u.run]
        pc = costs[(row["embedder"], row["dataset"])]
        cost = None
        if u.kind == EMBED and pc.gflop is not None and shape.n_clips:
            cost = pc.gflop * (u.stop - u.start) / shape.n_clips / worker_gflops
        elif u.kind == CLASSIFY and pc.frames is not None and pc.dim is not None:
            proto = plan[row["index"] - 1].protocol
            # training frames of one split: the other folds' share, less validation
            train = pc.frames * (1 - 1 / max(2, shape.splits)) * (1 - proto.val_fraction)
            flop = 6 * (pc.dim * _HIDDEN[0] + _HIDDEN[0] * _HIDDEN[1]) * train
            cost = proto.max_epochs * flop * len(proto.grid) / 1e9 / worker_gflops
        elif u.kind == FINISH:
            cost = 0.0
        unknown += cost is None
        unit_costs[u.key] = cost or 0.0
    return TaskPlan(graph, unit_costs, unknown)


def wall_time(plan: TaskPlan, workers: int) -> float:
    """Seconds until the last unit ends, units started in the graph's order on the first free
    worker, none before the units it depends on end (finish units take no worker time)."""
    free = [0.0] * max(1, workers)
    ends: dict[str, float] = {}
    for u in plan.graph.units:
        ready = max((ends[d] for d in u.deps), default=0.0)
        if u.kind == FINISH:
            ends[u.key] = ready
            continue
        start = max(heapq.heappop(free), ready)
        ends[u.key] = start + plan.costs[u.key]
        heapq.heappush(free, ends[u.key])
    return max(ends.values(), default=0.0)


def format_tasks(plan: TaskPlan, workers: int, worker_gflops: float, source: str,
                 what: str, executor: str = "Dask") -> str:
    """The ``--dry-run`` lines about an executor of many workers."""
    c = plan.counts
    embed_s, classify_s = plan.work()
    lines = [f"{executor} tasks: {c['embed']} embed (shards of clips), {c['classify']} classify "
             f"((run, split, repeat)), {c['finish']} finish (one per run)",
             f"work of one {what} at {worker_gflops:.3g} GFLOP/s ({source}): embedding "
             f"{_duration(embed_s)}, classifier at most {_duration(classify_s)}"]
    for n in sorted({1, workers}):
        lines.append(f"estimated wall time on {n} {what}{'s' if n > 1 else ''}: "
                     f"{_duration(wall_time(plan, n))}")
    if plan.unknown:
        lines.append(f"{plan.unknown} task(s) of unknown cost counted as 0 (see the notes "
                     f"above)")
    lines.append("the classifier is an upper bound (every fit runs max_epochs); GPU rates are "
                 "what --gflops says; starting workers and the scheduler's ms per task are "
                 "not counted")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def format_dask_estimate(study, est: StudyEstimate, executor) -> str:
    """The ``--dry-run`` text for ``executor`` (a :class:`~bench.studies.executor.Executor`)."""
    settings = study.dask
    cuda = study.plan()[0].device.startswith("cuda")
    workers = settings.worker_count(executor, gpus=0)
    if executor.kind == "address" and executor.workers is None and settings.workers is None:
        workers = 1  # unknown until connected; the line for N=1 is still right
    per_worker = est.gflops * (1 if cuda else settings.threads_per_worker)
    source = est.gflops_source + ("" if cuda else
                                  f"; x {settings.threads_per_worker} thread(s) per worker")
    plan = task_plan(study, est, per_worker)
    return format_tasks(plan, workers, per_worker, source, "GPU" if cuda else "worker",
                        "process-pool" if executor.kind == "processes" else "Dask")

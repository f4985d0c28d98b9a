"""``bench sweep --dry-run --executor ...``: a study's Dask tasks and its wall time on N workers.

Costs come from :mod:`bench.studies.estimate`: an embed task costs its shard's windows times the
embedder's GFLOP per window; a classify task costs ``max_epochs`` epochs (an upper bound: early
stopping ends most sooner) over the training frames of its split, each frame a forward and
backward pass (about 3x the forward's 2·(D·512 + 512·128) FLOP) through every grid point. Both
are divided by one worker's GFLOP/s (the measured per-core figure times its threads, or
``--gflops`` for a GPU). The wall time is a list schedule of those tasks on N workers in the
order the executor submits them (a pair's embed shards, then its runs' classify tasks, which
wait for them), so it counts idle workers at the joins, not only total work / N.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

from bench.studies.estimate import StudyEstimate
from bench.studies.executor import shards

#: hidden layers of the paper's MLP (docs/protocol.md)
_HIDDEN = (512, 128)


@dataclass
class PairTasks:
    """One (embedder, dataset): its embed shards' costs and, per run, its classify tasks'
    costs (seconds of one worker)."""

    embed: list[float]
    runs: list[list[float]]


@dataclass
class TaskPlan:
    """The tasks of a study under Dask, in submission order."""

    pairs: list[PairTasks]
    unknown: int                    # tasks of unknown cost (counted as 0)

    @property
    def counts(self) -> dict[str, int]:
        return {"embed": sum(len(p.embed) for p in self.pairs),
                "classify": sum(len(r) for p in self.pairs for r in p.runs),
                "finish": sum(len(p.runs) for p in self.pairs)}

    def work(self) -> tuple[float, float]:
        """Total seconds of one worker: embedding, classifier."""
        return (sum(sum(p.embed) for p in self.pairs),
                sum(sum(r) for p in self.pairs for r in p.runs))


def task_plan(study, est: StudyEstimate, worker_gflops: float) -> TaskPlan:
    """The tasks the executor would submit for the runs of ``est`` not yet done."""
    costs = {(p.embedder_arg, p.dataset): p for p in est.pairs}
    plan = study.plan()
    todo: dict[tuple[str, str], list[dict]] = {}
    for row in est.rows:
        if row["status"] != "done":
            todo.setdefault((row["embedder"], row["dataset"]), []).append(row)
    pairs, unknown = [], 0
    for (e, d), rows in todo.items():
        pc, n_clips = costs[(e, d)], est.sizes[d].n_clips or 0
        parts = shards(n_clips, study.dask.shard_clips)
        if pc.gflop is None or not n_clips:
            unknown += len(parts)
            embed = [0.0] * len(parts)
        else:
            embed = [pc.gflop * (b - a) / n_clips / worker_gflops for a, b in parts]
        runs = []
        for row in rows:
            n_units = (row["splits"] or 0) * (row["repeats"] or 0)
            proto = plan[row["index"] - 1].protocol
            if pc.frames is None or pc.dim is None or not row["splits"]:
                unknown += n_units
                runs.append([0.0] * n_units)
                continue
            # training frames of one split: the other folds' share, less validation
            train = pc.frames * (1 - 1 / max(2, row["splits"])) * (1 - proto.val_fraction)
            flop = 6 * (pc.dim * _HIDDEN[0] + _HIDDEN[0] * _HIDDEN[1]) * train
            per_task = proto.max_epochs * flop * len(proto.grid) / 1e9 / worker_gflops
            runs.append([per_task] * n_units)
        pairs.append(PairTasks(embed, runs))
    return TaskPlan(pairs, unknown)


def wall_time(plan: TaskPlan, workers: int) -> float:
    """Seconds until the last task ends, tasks started in submission order on the first free
    worker (a classify task not before its pair's embed tasks end)."""
    free = [0.0] * max(1, workers)
    end = 0.0
    for pair in plan.pairs:
        ready = 0.0
        for c in pair.embed:
            start = heapq.heappop(free)
            heapq.heappush(free, start + c)
            ready = max(ready, start + c)
        end = max(end, ready)
        for costs in pair.runs:
            for c in costs:
                start = max(heapq.heappop(free), ready)
                heapq.heappush(free, start + c)
                end = max(end, start + c)
    return end


def format_tasks(plan: TaskPlan, workers: int, worker_gflops: float, source: str,
                 what: str) -> str:
    """The ``--dry-run`` lines about the Dask executor."""
    c = plan.counts
    embed_s, classify_s = plan.work()
    lines = [f"Dask tasks: {c['embed']} embed (shards of clips), {c['classify']} classify "
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
    return format_tasks(plan, workers, per_worker, source, "GPU" if cuda else "worker")

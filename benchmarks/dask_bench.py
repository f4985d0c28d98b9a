"""The Dask executor: wall time of a small study sequential vs ``--executor dask:N``, and what
the scheduler costs per task.

The study is the tests' (tests/test_studies_dask.py): 2 tiny embedders x 2 seeds on synth-mini,
3 epochs, one grid point. Each mode runs in a fresh process with an empty store and results
folder (the data is generated once beforehand and shared), so both pay their imports and
embed everything; the Dask time includes starting the cluster (N worker processes that import
torch and bench) and the resampler's JIT compilation in each worker. Then, on a fresh
LocalCluster of N processes, the overhead per task: no-op tasks submitted and gathered (the
scheduler's round trip), and tasks of the real per-task work removed (an embed task whose
clips are all stored, a classify task whose record exists: what a retried or repeated task
costs).

    python benchmarks/dask_bench.py              # N = 2, 200 no-op tasks
    python benchmarks/dask_bench.py --workers 4 --noop 1000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"


def _study(folder: Path, data_dir: Path) -> Path:
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump({
        "name": "dask-bench", "embedders": ["sweep_fixtures:TinyA", "sweep_fixtures:TinyB"],
        "datasets": ["synth-mini"],
        "protocol": {"preset": "paper", "max_epochs": 3, "patience": 2,
                     "learning_rates": [1e-3], "weight_decays": [1e-4]},
        "seeds": [0, 1], "embed_batch_size": 8, "resampler": "kaiser_fast",
        "out_dir": "runs", "cache_dir": "cache", "data_dir": str(data_dir), "tracking": False,
        "dask": {"shard_clips": 40}}))
    return path


def _sweep(study: Path, executor: str) -> float:
    env = dict(os.environ, PYTHONPATH=str(TESTS), OMP_NUM_THREADS="1", BENCH_PROGRESS="0")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bench", "sweep", str(study), "-q", "--no-report",
                    "--executor", executor], env=env, check=True, capture_output=True)
    return time.perf_counter() - t0


def _noop(x: int) -> int:
    return x


def _import_bench() -> None:
    import bench.runs.units  # noqa: F401  (torch, numpy, the run's steps)


def _overhead(workers: int, n_noop: int, done_study: Path) -> dict[str, float]:
    """Seconds per task on a fresh cluster: no-op round trips, and the tasks of a finished
    study (each finds its work done: opening the dataset and the store is what remains)."""
    sys.path.insert(0, str(TESTS))
    from distributed import Client, wait

    from bench.runs.graph import CLASSIFY, EMBED, build_graph
    from bench.runs.units import perform
    from bench.studies.clusters import local_cluster
    from bench.studies.dispatch import plan_study
    from bench.studies.study import load_study

    study = load_study(done_study)
    planned = plan_study(study)
    tickets = planned.tickets
    # the units of every run, done or not: each finds its work done
    graph = build_graph([replace(r, done=False) for r in planned.graph.runs],
                        study.dask.shard_clips)
    embed_units = [u for u in graph.units if u.kind == EMBED]
    t0 = time.perf_counter()
    with local_cluster(workers, 1) as cluster, Client(cluster) as client:
        client.run(_import_bench)  # workers up, with what a task imports
        start = time.perf_counter() - t0
        wait(client.map(_noop, range(10), pure=False))  # warm the connections
        t0 = time.perf_counter()
        wait(client.map(_noop, range(n_noop), pure=False))
        noop = (time.perf_counter() - t0) / n_noop
        embeds = [client.submit(perform, u, tickets[u.run], [], 1, pure=False)
                  for u in embed_units]
        wait(embeds)  # first call per worker opens the dataset: not what we time below
        t0 = time.perf_counter()
        embeds = [client.submit(perform, u, tickets[u.run], [], 1, pure=False)
                  for u in embed_units]
        wait(embeds)
        embed_done = (time.perf_counter() - t0) / len(embeds)
        reports = dict(zip((u.key for u in embed_units), client.gather(embeds)))
        units = [u for u in graph.units if u.kind == CLASSIFY]
        t0 = time.perf_counter()
        # a classify unit's inputs: the embed reports (its first-split input is not needed
        # when its record exists)
        futures = [client.submit(perform, u, tickets[u.run],
                                 [reports[d] for d in u.deps if d in reports], 1, pure=False)
                   for u in units]
        wait(futures)
        classify_done = (time.perf_counter() - t0) / len(units)
        assert all(not u.computed for u in client.gather(futures))
    return {"start": start, "noop": noop, "embed_done": embed_done, "classify_done": classify_done,
            "n_embed": len(embeds), "n_classify": len(units)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--noop", type=int, default=200, help="no-op tasks for the round trip")
    args = ap.parse_args()
    sys.path.insert(0, str(TESTS))
    from bench.datasets import create

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = tmp / "data"
        create("synth-mini", data_dir=data).prepare(progress=False)
        times = {}
        for mode in ("local", f"dask:{args.workers}"):
            folder = tmp / mode.replace(":", "-")
            folder.mkdir()
            times[mode] = _sweep(_study(folder, data), mode)
        over = _overhead(args.workers, args.noop, tmp / f"dask-{args.workers}" / "study.yaml")
    print(f"machine: {os.cpu_count()} cores (shared with other work: figures are noisy)")
    print("study: 2 tiny embedders x 2 seeds on synth-mini (120 clips, 5 folds, 3 epochs), "
          "4 runs; dask: 6 embed + 20 classify + 4 finish tasks")
    for mode, t in times.items():
        print(f"  {mode:<8} wall {t:6.1f} s")
    print(f"  ratio dask/local: {times[f'dask:{args.workers}'] / times['local']:.2f}")
    print(f"starting {args.workers} worker processes (and importing bench there): "
          f"{over['start']:.1f} s")
    print(f"scheduler overhead per task on {args.workers} workers:")
    print(f"  no-op task round trip        {1e3 * over['noop']:7.2f} ms ({args.noop} tasks)")
    print(f"  embed task, all stored       {1e3 * over['embed_done']:7.2f} ms "
          f"({over['n_embed']} tasks)")
    print(f"  classify task, record exists {1e3 * over['classify_done']:7.2f} ms "
          f"({over['n_classify']} tasks)")


if __name__ == "__main__":
    main()

"""``--executor`` parsing, the study's ``dask:`` section, the Slurm job a study asks for, the
dry-run's task counts and wall times, and a clear error without the dask extra."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.errors import ConfigError
from bench.runs.graph import shards
from bench.studies.estimate import estimate
from bench.studies.executor import DaskSettings, Executor, parse_executor
from bench.studies.study import study_from_dict, study_preset
from bench.studies.walltime import task_plan, wall_time


@pytest.mark.parametrize("text, kind, workers, address", [
    (None, "local", None, None), ("local", "local", None, None), ("dask", "dask", None, None),
    ("dask:3", "dask", 3, None), ("processes:2", "processes", 2, None),
    ("processes", "processes", None, None), ("slurm", "slurm", None, None),
    ("pbs:16", "pbs", 16, None),
    ("tcp://10.0.0.5:8786", "address", None, "tcp://10.0.0.5:8786"),
])
def test_executor_values(text, kind, workers, address):
    ex = parse_executor(text)
    assert (ex.kind, ex.workers, ex.address) == (kind, workers, address)
    assert ex.distributed == (kind != "local")


@pytest.mark.parametrize("text", ["dask:0", "local:2", "spark", "tcp://host", "dask:x",
                                  "processes:0"])
def test_bad_executor_values_say_what_is_allowed(text):
    with pytest.raises(ConfigError, match="dask\\[:N\\], tcp://HOST:PORT|at least 1"):
        parse_executor(text)


def test_dask_section_of_a_study_file():
    study = study_from_dict({"name": "s", "embedders": "mfcc", "datasets": "synth-mini",
                             "dask": {"workers": 8, "shard_clips": 50, "retries": 0,
                                      "slurm": {"cores": 4, "memory": "16GB"}}})
    assert study.dask == DaskSettings(workers=8, shard_clips=50, retries=0,
                                      slurm={"cores": 4, "memory": "16GB"})
    assert study.dask.worker_count(Executor("dask", 3)) == 3  # the command line wins
    assert study.dask.worker_count(Executor("slurm")) == 8
    assert DaskSettings().worker_count(Executor("slurm")) == 1
    assert DaskSettings().worker_count(Executor("dask"), gpus=4) == 4
    for bad, match in [({"colour": 1}, "unknown key"), ({"workers": 0}, "positive"),
                       ({"slurm": [1]}, "mapping")]:
        with pytest.raises(ConfigError, match=match):
            study_from_dict({"name": "s", "embedders": "mfcc", "datasets": "synth-mini",
                             "dask": bad})


def test_shards_cover_every_clip_once():
    for n, size in [(2000, 200), (8732, 200), (7, 3), (3, 10)]:
        parts = shards(n, size)
        assert parts[0][0] == 0 and parts[-1][1] == n
        assert all(a < b <= a + size for a, b in parts)
        assert all(p[1] == q[0] for p, q in zip(parts, parts[1:]))
        assert len(parts) == math.ceil(n / size)


def test_slurm_job_asks_for_what_the_study_says():
    pytest.importorskip("dask_jobqueue")
    from bench.studies.clusters import jobqueue_cluster

    cluster = jobqueue_cluster("slurm", {"cores": 4, "memory": "16GB", "walltime": "02:00:00",
                                         "account": "audio-lab", "queue": "gpu",
                                         "job_extra_directives": ["--constraint=a100"]},
                               cuda=True)
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    for line in ("#SBATCH -A audio-lab", "#SBATCH -p gpu", "#SBATCH -t 02:00:00",
                 "#SBATCH --constraint=a100", "#SBATCH --gres=gpu:1"):
        assert line in script, script
    assert "--resources GPU=1" in script and "--nthreads 4" in script
    with pytest.raises(ConfigError, match="one GPU per job"):
        jobqueue_cluster("slurm", {"cores": 4, "memory": "16GB", "gpus": 2}, cuda=True)


def test_paper_study_task_counts_and_wall_time():
    study = study_preset("paper")
    est = estimate(study, gflops=50.0)
    plan = task_plan(study, est, 50.0)
    # 8 embedders; shards of 200 clips: ESC-50 2000 -> 10, UrbanSound8K 8732 -> 44, DCASE 1;
    # classify: 5 folds x 5 repeats, 10 x 2, 1 x 1 per embedder
    assert plan.counts == {"embed": 8 * (10 + 44 + 1), "classify": 8 * (25 + 20 + 1),
                           "finish": 24}
    embed_s, classify_s = plan.work()
    assert embed_s == pytest.approx(est.total_gflop / 50.0, rel=1e-9)
    one = wall_time(plan, 1)
    assert one == pytest.approx(embed_s + classify_s, rel=1e-9)  # one worker: all the work
    longest = max(plan.costs.values())
    n_pairs = len({r.pair for r in plan.graph.runs})
    for n in (8, 64):
        assert one / n <= wall_time(plan, n) <= one / n + 2 * longest * n_pairs
    assert wall_time(plan, 64) < wall_time(plan, 8) < one


def test_dry_run_prints_the_dask_plan():
    res = CliRunner().invoke(main, ["sweep", "--preset", "paper", "--dry-run", "--gflops",
                                    "50", "--executor", "dask:8"])
    assert res.exit_code == 0, res.output
    assert "Dask tasks: 440 embed" in res.output and "368 classify" in res.output
    assert "estimated wall time on 8 workers" in res.output
    assert "estimated wall time on 1 worker:" in res.output
    # the process pool runs the same graph: the same units, the same schedule
    pool = CliRunner().invoke(main, ["sweep", "--preset", "paper", "--dry-run", "--gflops",
                                     "50", "--executor", "processes:8"])
    assert pool.exit_code == 0, pool.output
    assert "process-pool tasks: 440 embed" in pool.output and "368 classify" in pool.output
    wall = [line for line in res.output.splitlines() if "wall time on 8" in line]
    assert wall and wall[0] in pool.output


def test_without_the_extra_the_executor_says_how_to_get_it(monkeypatch, synth_mini_root):
    from bench.studies.dask_run import DaskSession

    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    study = study_from_dict({"name": "s", "embedders": "mfcc", "datasets": "synth-mini",
                             "data_dir": str(synth_mini_root)})
    with pytest.raises(ConfigError, match=r"pip install 'bench-audio-embeddings\[dask\]'"):
        DaskSession(Executor("dask", 2), study).__enter__()


def test_the_sequential_sweep_never_imports_dask():
    code = ("import sys; from bench.cli import main; import bench.studies.launch; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('dask', 'distributed', 'dask_jobqueue')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"

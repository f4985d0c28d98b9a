"""``bench sweep --executor dask:2`` and ``--executor processes:2``: a LocalCluster of 2 worker
processes and a pool of 2 processes give the sequential sweep's results (the same study graph,
three executors); Dask workers SIGKILLed in an embed task and in a classify task change
nothing."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sweep_fixtures import read_log, record_numbers

from bench.cli import main

pytestmark = pytest.mark.slow
needs_dask = pytest.mark.skipif(importlib.util.find_spec("distributed") is None,
                                reason="the dask extra is not installed")

TESTS = Path(__file__).resolve().parent
BATCH = 8
MAX_WINDOWS_PER_CLIP = 9
#: fields that say when, where and how fast, not what was computed


def _write_study(root: Path, data_dir: Path, tracking: bool) -> Path:
    study = root / "study.yaml"
    study.write_text(yaml.safe_dump({
        "name": "dask-test",
        "embedders": ["sweep_fixtures:TinyA", "sweep_fixtures:TinyB"],
        "datasets": ["synth-mini"],
        "protocol": {"preset": "paper", "max_epochs": 3, "patience": 2,
                     "learning_rates": [1e-3], "weight_decays": [1e-4]},
        "seeds": [0, 1],
        "embed_batch_size": BATCH, "resampler": "kaiser_fast",
        "out_dir": "runs", "cache_dir": "cache", "data_dir": str(data_dir),
        "tracking": tracking, "tracking_uri": f"sqlite:///{root / 'mlflow.db'}",
        "dask": {"shard_clips": 40},
    }))
    return study


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update(PYTHONPATH=os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1", BENCH_PROGRESS="0",
               # every worker loads the fixtures, which count (and can kill) folds there too
               DASK_DISTRIBUTED__WORKER__PRELOAD='["sweep_fixtures"]', **extra)
    return env


def _dask_sweep(study: Path, env: dict[str, str], executor: str = "dask:2"
                ) -> subprocess.CompletedProcess:
    code = "import sys, sweep_fixtures; sweep_fixtures.drive(sys.argv[1:])"
    return subprocess.run([sys.executable, "-c", code, "sweep", str(study), "-q", "--no-report",
                           "--executor", executor], env=env, capture_output=True, text=True,
                          timeout=600)


def _results(runs: Path) -> dict[str, dict]:
    return {d.name: json.loads((d / "results.json").read_text())
            for d in sorted(runs.iterdir()) if (d / "results.json").is_file()}


def _what(record: dict) -> dict:
    """A record less its timings, host fields, folders and tracking settings."""
    return record_numbers(record, ("out_dir", "cache_dir", "tracking", "tracking_uri"))


@pytest.fixture(scope="module")
def sequential(tmp_path_factory, synth_mini_root):
    """The study run the ordinary way, in this process."""
    root = tmp_path_factory.mktemp("sequential")
    study = _write_study(root, synth_mini_root, tracking=False)
    res = CliRunner().invoke(main, ["sweep", str(study), "-q", "--no-report"])
    assert res.exit_code == 0, res.output
    results = _results(root / "runs")
    assert len(results) == 4
    return results


@needs_dask
def test_dask_sweep_gives_the_sequential_results(tmp_path, synth_mini_root, sequential):
    study = _write_study(tmp_path, synth_mini_root, tracking=True)
    p = _dask_sweep(study, _env())
    assert p.returncode == 0, p.stderr[-3000:]
    results = _results(tmp_path / "runs")
    assert sorted(results) == sorted(sequential)  # the same run ids
    for run_id, record in results.items():
        assert _what(record) == _what(sequential[run_id]), run_id
        seq_dir = tmp_path / "runs" / run_id
        assert (seq_dir / "predictions.csv").is_file()
    # the first run of each embedder computed its embeddings, the second found them
    computed = sorted(r["embedding"]["n_computed"] for r in results.values())
    assert computed == [0, 0, 120, 120]

    # the client logged each run to MLflow once (a parent run and one per fold)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("dask-test").experiment_id])
    assert len(runs) == 4 * (1 + 5)
    state = json.loads((tmp_path / "runs" / "studies" / "dask-test" / "sweep.json").read_text())
    assert state["counts"] == {"computed": 4}

    # a second sweep finds everything done: no task is submitted
    again = _dask_sweep(study, _env())
    assert again.returncode == 0, again.stderr[-3000:]
    assert "0 embed, 0 classify and 0 finish tasks" in again.stderr
    state = json.loads((tmp_path / "runs" / "studies" / "dask-test" / "sweep.json").read_text())
    assert state["counts"] == {"done earlier": 4}


def test_a_process_pool_gives_the_sequential_results(tmp_path, synth_mini_root, sequential):
    study = _write_study(tmp_path, synth_mini_root, tracking=False)
    p = _dask_sweep(study, _env(), "processes:2")
    assert p.returncode == 0, p.stderr[-3000:]
    assert "6 embed, 20 classify and 4 finish tasks on 2 processes of a local pool" in p.stderr
    results = _results(tmp_path / "runs")
    assert sorted(results) == sorted(sequential)
    for run_id, record in results.items():
        assert _what(record) == _what(sequential[run_id]), run_id
    assert sorted(r["embedding"]["n_computed"] for r in results.values()) == [0, 0, 120, 120]
    state = json.loads((tmp_path / "runs" / "studies" / "dask-test" / "sweep.json").read_text())
    assert state["counts"] == {"computed": 4}


def test_a_pool_worker_killed_stops_the_sweep_in_one_line(tmp_path, synth_mini_root):
    # (running the same command again then resumes from disk, as after any stop: the local
    # and Dask tests above and test_sweep_resume.py show that path)
    study = _write_study(tmp_path, synth_mini_root, tracking=False)
    died = _dask_sweep(study, _env(BENCH_TEST_KILL="embed:tiny-a:2"), "processes:2")
    assert died.returncode == 2, died.stderr[-3000:]
    assert "a worker process of the pool died" in died.stderr
    assert "run the same command again" in died.stderr
    assert "Traceback" not in died.stderr
    state = json.loads((tmp_path / "runs" / "studies" / "dask-test" / "sweep.json").read_text())
    assert state["counts"].get("failed", 0) >= 1


@needs_dask
def test_workers_killed_in_embed_and_classify_tasks_change_nothing(tmp_path, synth_mini_root,
                                                                   sequential):
    study = _write_study(tmp_path, synth_mini_root, tracking=False)
    marks = tmp_path / "kills"
    marks.mkdir()
    log = tmp_path / "log"
    p = _dask_sweep(study, _env(BENCH_TEST_KILL="embed:tiny-a:3,fold:*:2",
                                BENCH_TEST_KILL_ONCE=str(marks), BENCH_TEST_LOG=str(log),
                                BENCH_TEST_FOLD_NAME="data"))
    assert p.returncode == 0, p.stderr[-3000:]
    # both kills happened (a worker died in each kind of task) ...
    assert sorted(f.name for f in marks.iterdir()) == ["embed_tiny-a_3.killed",
                                                       "fold_any_2.killed"]
    # ... and the study has the numbers of the undisturbed sequential sweep
    results = _results(tmp_path / "runs")
    assert sorted(results) == sorted(sequential)
    for run_id, record in results.items():
        want = _what(sequential[run_id])
        got = _what(record)
        got.pop("embedding"), want.pop("embedding")  # a retried shard finds part stored
        assert got == want, run_id

    # nothing that was stored was computed again: each (run, fold) once, and only the windows
    # of the batch the kill cut were embedded twice
    counts = read_log(log)
    folds = [(name, f, r) for name, units in counts["fold"].items() for f, r in units]
    assert len(folds) == len(set(folds)) == 4 * 5
    full = counts["embed"]["tiny-b"]
    assert 0 <= counts["embed"]["tiny-a"] - full < MAX_WINDOWS_PER_CLIP + BATCH

    verify = CliRunner().invoke(main, ["cache", "verify", "-q", "--cache-dir",
                                       str(tmp_path / "cache")])
    assert verify.exit_code == 0, verify.output
    assert "0 damaged" in verify.output

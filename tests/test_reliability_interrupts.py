"""Ctrl-C, as a terminal sends it (SIGINT to the command's whole process group), at chosen
points of a run and of a sweep: once, the command stops at the next safe point; twice 100 ms
apart, at once. Either way it exits 130 with one line and no traceback, leaves no process
behind and nothing half-written, and the same command then completes with the numbers of an
uninterrupted run. The signals are sent from inside the command, at the start of its k-th fold
or embedder call (``BENCH_TEST_SIGINT``, see ``sweep_fixtures``), so where they land is exact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sweep_fixtures import record_numbers

from bench.cli import main
from bench.util.interrupt import MESSAGE, MESSAGE_AT_ONCE

pytestmark = pytest.mark.slow

TESTS = Path(__file__).resolve().parent
QUICK = ["--max-epochs", "2", "--lr", "1e-3", "--wd", "1e-4"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update(PYTHONPATH=os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1", BENCH_PROGRESS="0", **extra)
    return env


def _interrupted(args: list[str], sigint: str, **env: str) -> subprocess.CompletedProcess:
    """``bench ARGS`` in its own process group, Ctrl-C'd at ``sigint``
    (``kind:name:k:times``). ``communicate`` only returns once every process holding the
    command's stderr (its decoding pool, its Dask workers) is gone."""
    code = "import sys, sweep_fixtures; sweep_fixtures.drive(sys.argv[1:])"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=_env(BENCH_TEST_SIGINT=sigint, **env), timeout=300,
                          start_new_session=True)


def _one_line(p: subprocess.CompletedProcess, line: str) -> None:
    assert p.returncode == 130, p.stderr[-3000:]
    assert "Traceback" not in p.stderr and "KeyboardInterrupt" not in p.stderr, p.stderr[-3000:]
    assert p.stderr.strip().splitlines()[-1] == line, p.stderr[-3000:]
    assert p.stderr.count("interrupted") == 1, p.stderr[-3000:]


def _no_half_files(folder: Path) -> None:
    assert not [f for f in folder.rglob("*") if f.name.endswith(".tmp")]


def _run_args(out: Path, data: Path, cache: Path, embedder: str = "mfcc") -> list[str]:
    return ["run", "-e", embedder, "-d", "synth-mini", "-q", "--no-tracking", "--data-dir",
            str(data), "--cache-dir", str(cache), "--out", str(out), "--resampler",
            "kaiser_fast", *QUICK]


@pytest.fixture(scope="module")
def reference(synth_mini_root, mfcc_store, tmp_path_factory):
    """An uninterrupted quick mfcc run (in this process): its record."""
    out = tmp_path_factory.mktemp("interrupt-ref")
    res = CliRunner().invoke(main, _run_args(out, synth_mini_root, mfcc_store))
    assert res.exit_code == 0, res.output
    (results,) = out.glob("*/results.json")
    return json.loads(results.read_text())


def _numbers(record: dict) -> dict:
    """What was computed (the store's report differs: the reference filled the store)."""
    out = record_numbers(record, ("out_dir", "cache_dir"))
    out.pop("embedding")
    return out


@pytest.mark.parametrize("times, line, kept", [(1, MESSAGE, 2), (2, MESSAGE_AT_ONCE, 2)])
def test_ctrl_c_during_a_fold(reference, synth_mini_root, mfcc_store, tmp_path, times, line,
                              kept):
    out = tmp_path / "out"
    args = _run_args(out, synth_mini_root, mfcc_store)
    p = _interrupted(args, f"fold:*:3:{times}")
    _one_line(p, line)
    (run_dir,) = [d for d in out.iterdir() if d.is_dir()]
    # the two finished folds are kept; the third stopped at an epoch's end, unwritten
    assert sorted(f.name for f in (run_dir / "partial").glob("*.json")) == \
        [f"fold-{i}-repeat-0.json" for i in range(1, kept + 1)]
    assert not (run_dir / "results.json").exists()
    _no_half_files(run_dir)
    if times == 2:  # the same folds are kept: resuming them is the case above
        return
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert f"resumed: {kept} of 5" in res.output
    got = json.loads((run_dir / "results.json").read_text())
    assert _numbers(got) == _numbers(reference)


@pytest.mark.parametrize("times, line", [(1, MESSAGE), (2, MESSAGE_AT_ONCE)])
def test_ctrl_c_while_embedding(synth_mini_root, tmp_path, times, line):
    out, cache = tmp_path / "out", tmp_path / "cache"
    args = _run_args(out, synth_mini_root, cache, "sweep_fixtures:TinyA")
    # the 4th embedder call: three batches are stored, the decoding pool has clips in flight
    p = _interrupted([*args, "--threads", "2"], f"embed:tiny-a:4:{times}")
    _one_line(p, line)
    assert not (out.exists() and list(out.glob("*/partial/*")))
    _no_half_files(cache)
    stored = list(cache.rglob("*.npy"))
    assert 0 < len(stored) < 120  # what the first batches embedded, whole: none damaged
    verify = CliRunner().invoke(main, ["cache", "verify", "-q", "--cache-dir", str(cache)])
    assert verify.exit_code == 0 and "0 damaged" in verify.output, verify.output
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert f"{len(stored)} clips from the store" in res.output


def _study(root: Path, data: Path, **extra) -> Path:
    study = root / "study.yaml"
    study.write_text(yaml.safe_dump({
        "name": "interrupt-test", "embedders": ["sweep_fixtures:TinyA"],
        "datasets": ["synth-mini"],
        "protocol": {"preset": "paper", "max_epochs": 2, "patience": 2,
                     "learning_rates": [1e-3], "weight_decays": [1e-4]},
        "embed_batch_size": 8, "resampler": "kaiser_fast", "out_dir": "runs",
        "cache_dir": "cache", "data_dir": str(data), "tracking": False, **extra}))
    return study


def test_ctrl_c_in_a_local_sweep(synth_mini_root, tmp_path):
    study = _study(tmp_path, synth_mini_root)
    p = _interrupted(["sweep", str(study), "-q", "--no-report"], "fold:*:2:1")
    _one_line(p, MESSAGE)
    state = json.loads((tmp_path / "runs" / "studies" / "interrupt-test" / "sweep.json")
                       .read_text())
    assert [(r["status"], r["error"]) for r in state["runs"]] == [("failed", "interrupted")]
    res = CliRunner().invoke(main, ["sweep", str(study), "-q", "--no-report"])
    assert res.exit_code == 0, res.output
    assert "resumed: 1 of 5" in res.output


@pytest.mark.parametrize("times, line", [(1, MESSAGE), (2, MESSAGE_AT_ONCE)])
def test_ctrl_c_in_a_dask_sweep(synth_mini_root, tmp_path, times, line):
    pytest.importorskip("distributed")
    study = _study(tmp_path, synth_mini_root, dask={"shard_clips": 60})
    marks = tmp_path / "marks"
    marks.mkdir()
    # the first classify task to start, in whichever worker, sends it
    p = _interrupted(["sweep", str(study), "-q", "--no-report", "--executor", "dask:2"],
                     f"fold:*:1:{times}", BENCH_TEST_KILL_ONCE=str(marks),
                     DASK_DISTRIBUTED__WORKER__PRELOAD='["sweep_fixtures"]')
    _one_line(p, line)
    assert [f.name for f in marks.iterdir()] == ["fold_any_1.interrupted"]
    _no_half_files(tmp_path / "runs")
    if times == 1:  # (at once means at once: sweep.json keeps its last state, here none)
        state = json.loads((tmp_path / "runs" / "studies" / "interrupt-test" / "sweep.json")
                           .read_text())
        assert [(r["status"], r["error"]) for r in state["runs"]] == [("failed", "interrupted")]

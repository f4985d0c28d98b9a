"""A sweep of two embedders on synth-mini, killed (SIGKILL) while embedding and again while
classifying, then resumed: each pass computes only what is missing, and the resumed run gives
the numbers of an uninterrupted one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from sweep_fixtures import read_log

from bench.runs.record import read_results

pytestmark = pytest.mark.slow

TESTS = Path(__file__).resolve().parent
BATCH = 8
MAX_WINDOWS_PER_CLIP = 9  # synth clips last 2-5 s: 1 s windows every 0.5 s give 3..9


def _sweep(study: Path, log: Path, kill: str | None, env_base: dict) -> subprocess.CompletedProcess:
    env = dict(env_base, BENCH_TEST_LOG=str(log))
    if kill:
        env["BENCH_TEST_KILL"] = kill
    code = "import sys, sweep_fixtures; sweep_fixtures.drive(sys.argv[1:])"
    return subprocess.run([sys.executable, "-c", code, "sweep", str(study), "-q", "--no-report"],
                          env=env,
                          capture_output=True, text=True, timeout=600)


def test_killed_sweep_resumes_with_only_the_missing_work(tmp_path, synth_mini_root):
    runs = tmp_path / "runs"
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump({
        "name": "resume-test",
        "embedders": ["sweep_fixtures:TinyA", "sweep_fixtures:TinyB"],
        "datasets": ["synth-mini"],
        "protocol": {"preset": "paper", "max_epochs": 3, "patience": 2,
                     "learning_rates": [1e-3], "weight_decays": [1e-4]},
        "tags": {"purpose": "test"},
        "embed_batch_size": BATCH, "resampler": "kaiser_fast",
        "out_dir": "runs", "data_dir": str(synth_mini_root), "cache_dir": "cache",
        "tracking": False,  # tracking across passes: test_sweep_study.py
    }))
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update(PYTHONPATH=os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1", BENCH_PROGRESS="0")

    # pass 1: tiny-a finishes; tiny-b is killed at the start of its 10th embedder call
    p1 = _sweep(study, tmp_path / "log1", "embed:tiny-b:10", env)
    assert p1.returncode == -signal.SIGKILL, p1.stderr[-2000:]
    log1 = read_log(tmp_path / "log1")
    total = log1["embed"]["tiny-a"]  # both embedders frame the audio identically
    assert total > 120 * 3
    assert sorted(log1["fold"]["tiny-a"]) == [(f, 0) for f in range(1, 6)]
    assert 0 < log1["embed"]["tiny-b"] < total and "tiny-b" not in log1["fold"]
    [a_dir] = [d for d in runs.iterdir() if "tiny-a" in d.name]
    a_bytes = (a_dir / "results.json").read_bytes()

    # pass 2: the rest of tiny-b's embeddings; killed at its 3rd (fold, repeat)
    p2 = _sweep(study, tmp_path / "log2", "fold:tiny-b:3", env)
    assert p2.returncode == -signal.SIGKILL, p2.stderr[-2000:]
    log2 = read_log(tmp_path / "log2")
    assert "tiny-a" not in log2["embed"] and "tiny-a" not in log2["fold"]
    redone = log1["embed"]["tiny-b"] + log2["embed"]["tiny-b"] - total
    # every window embedded once, except those of the clips whose batch the kill cut (clips
    # are stored when their batch is done: fewer than one batch plus one clip of windows)
    assert 0 <= redone < MAX_WINDOWS_PER_CLIP + BATCH
    assert log2["fold"]["tiny-b"] == [(1, 0), (2, 0)]

    # pass 3: only tiny-b's last three folds are computed
    p3 = _sweep(study, tmp_path / "log3", None, env)
    assert p3.returncode == 0, p3.stderr[-3000:]
    log3 = read_log(tmp_path / "log3")
    assert log3["embed"] == {}
    assert log3["fold"] == {"tiny-b": [(3, 0), (4, 0), (5, 0)]}
    assert (a_dir / "results.json").read_bytes() == a_bytes
    assert "done earlier" in p3.stdout and "computed" in p3.stdout

    state = json.loads((runs / "studies" / "resume-test" / "sweep.json").read_text())
    assert [r["status"] for r in state["runs"]] == ["done earlier", "computed"]
    [b_dir] = [d for d in runs.iterdir() if "tiny-b" in d.name]
    resumed = read_results(b_dir)
    assert resumed.tags == {"purpose": "test", "study": "resume-test"}
    assert [f.test_fold for f in resumed.folds] == [1, 2, 3, 4, 5]

    # the resumed run has the numbers of an uninterrupted one (same seed, same machine)
    sys.path.insert(0, str(TESTS))
    from bench.tracking.tracked import run
    from bench.studies.study import load_study

    cfg = load_study(study).plan()[1].replace(out_dir=tmp_path / "fresh", tracking=False)
    _, fresh = run(cfg, progress=False)
    assert [f.accuracy for f in fresh.folds] == [f.accuracy for f in resumed.folds]
    assert [f.chosen for f in fresh.folds] == [f.chosen for f in resumed.folds]

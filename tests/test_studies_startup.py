"""Executors that start workers fail in one line when the workers cannot come: ``--executor
slurm`` without ``sbatch`` at once (before any planning), batch jobs that never start and a
scheduler that does not answer after the start-up timeout, which the study's
``dask.startup_timeout`` or ``--startup-timeout`` sets. No real Slurm: a PATH without
``sbatch``, or with a fake one that submits nothing."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from bench.cli import main
from bench.errors import ClusterError, ConfigError
from bench.studies.clusters import check_submit_command, start_client, wait_for_worker
from bench.studies.executor import (STARTUP_TIMEOUT_S, DaskSettings, Executor,
                                    parse_executor)
from bench.studies.study import study_from_dict

pytest.importorskip("distributed")


def _study(tmp_path: Path, **dask) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({
        "name": "s", "embedders": ["mfcc"], "datasets": ["synth-mini"], "tracking": False,
        "out_dir": str(tmp_path / "runs"), "cache_dir": str(tmp_path / "cache"),
        "data_dir": str(tmp_path / "data"),
        "dask": {"slurm": {"cores": 1, "memory": "1GB",
                           "scheduler_options": {"dashboard_address": None}},
                 "pbs": {"cores": 1, "memory": "1GB"},
                 **dask}}))
    return path


def _bin(tmp_path: Path, **scripts: str) -> Path:
    """A folder for PATH holding python and the given fake commands (and nothing else)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "python").symlink_to(sys.executable)
    for name, body in scripts.items():
        (folder / name).write_text("#!/bin/sh\n" + body + "\n")
        (folder / name).chmod(0o755)
    return folder


def test_slurm_without_sbatch_fails_at_once(tmp_path):
    study = _study(tmp_path)
    env = {**os.environ, "PATH": f"{_bin(tmp_path)}:/usr/bin:/bin", "BENCH_PROGRESS": "0"}
    t0 = time.monotonic()
    # before: the progress bar sat at 0 tasks until killed (here: the timeout fails the test)
    res = subprocess.run([sys.executable, "-m", "bench", "sweep", str(study), "--executor",
                          "slurm"], env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith("error: --executor slurm: sbatch not found on PATH, so no "
                                 "Slurm job can be submitted from this machine\n  hint: ")
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 2
    assert time.monotonic() - t0 < 30
    assert not (tmp_path / "data").exists()  # failed before planning: nothing prepared


def test_pbs_without_qsub_fails_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", f"{_bin(tmp_path)}:/usr/bin:/bin")
    res = CliRunner().invoke(main, ["sweep", str(_study(tmp_path)), "--executor", "pbs:4"])
    assert res.exit_code == 2
    assert res.output.startswith("error: --executor pbs: qsub not found on PATH, so no PBS job")
    assert not (tmp_path / "data").exists()


def test_slurm_jobs_that_never_start_fail_after_the_startup_timeout(tmp_path, monkeypatch):
    calls = tmp_path / "calls.txt"
    folder = _bin(tmp_path, sbatch=f'echo sbatch >> {calls}; echo "Submitted batch job 42"',
                  scancel=f'echo "scancel $*" >> {calls}')
    monkeypatch.setenv("PATH", f"{folder}:{os.environ['PATH']}")
    study = study_from_dict(yaml.safe_load(_study(tmp_path, startup_timeout=1.5).read_text()))
    t0 = time.monotonic()
    with pytest.raises(ClusterError) as info:
        start_client(Executor("slurm", 2), study)
    waited = time.monotonic() - t0
    assert str(info.value).startswith("no slurm job became a Dask worker within 1.5 s "
                                      "(jobs were submitted with sbatch")
    assert "squeue" in info.value.hint and "startup_timeout" in info.value.hint
    assert 1.5 <= waited < 30
    lines = calls.read_text().splitlines()
    assert lines.count("sbatch") == 2  # two jobs asked for ...
    assert any(line.startswith("scancel") and "42" in line for line in lines)  # ... cancelled


def test_a_scheduler_that_does_not_answer_fails_after_the_timeout(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    study = study_from_dict(yaml.safe_load(_study(tmp_path).read_text()))
    t0 = time.monotonic()
    with pytest.raises(ClusterError, match=f"no Dask scheduler answered at "
                                           f"tcp://127.0.0.1:{port} within 1 s"):
        start_client(parse_executor(f"tcp://127.0.0.1:{port}", startup_timeout=1), study)
    assert time.monotonic() - t0 < 20


class _NoWorkers:
    def wait_for_workers(self, n, timeout):
        self.asked = (n, timeout)
        raise TimeoutError(f"only 0/{n} workers arrived after {timeout}")


@pytest.mark.parametrize("executor, says, hint", [
    (Executor("dask", 2), "no local Dask worker process started within 7 s", "busy machine"),
    (Executor("address", address="tcp://h:8786"),
     "the Dask scheduler at tcp://h:8786 has no worker: none joined within 7 s",
     "dask worker tcp://h:8786"),
    (Executor("pbs", 1), "no pbs job became a Dask worker within 7 s (jobs were submitted "
                         "with qsub", "qstat"),
])
def test_workers_that_never_arrive_are_named(executor, says, hint):
    client = _NoWorkers()
    with pytest.raises(ClusterError) as info:
        wait_for_worker(client, executor, 7.0)
    assert client.asked == (1, 7.0)
    assert str(info.value).startswith(says) and hint in info.value.hint


def test_the_startup_timeout_comes_from_the_option_the_study_or_the_kind():
    study = DaskSettings.from_dict({"startup_timeout": 300})
    assert study.startup_wait(Executor("slurm")) == 300.0
    assert study.startup_wait(parse_executor("slurm", startup_timeout=5)) == 5.0
    assert DaskSettings().startup_wait(Executor("slurm")) == STARTUP_TIMEOUT_S["slurm"] == 1800
    assert DaskSettings().startup_wait(Executor("dask", 2)) == STARTUP_TIMEOUT_S["dask"] == 120
    for bad in (0, -1, float("nan"), float("inf"), "soon"):
        with pytest.raises(ConfigError, match="startup_timeout must be a finite number > 0"):
            DaskSettings.from_dict({"startup_timeout": bad})
    with pytest.raises(ConfigError, match="startup timeout must be a finite number > 0"):
        parse_executor("dask:2", startup_timeout=float("nan"))


def test_dask_executors_need_no_submit_command():
    for executor in (Executor("dask", 2), Executor("address", address="tcp://h:1"),
                     Executor("local")):
        check_submit_command(executor)  # nothing to look for

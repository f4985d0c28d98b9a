"""The MLflow store cannot be left half-made: SIGKILL while MLflow creates ``mlflow.db`` (at a
fixed migration and at timed moments), and a half-made store left by an older bench."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tracking_fixtures import make_record, write_run

from bench.tracking.logger import log_run

# A child that logs a run while MLflow creates the store, and kills itself (SIGKILL: no cleanup
# of any kind) after half of the schema migrations: what a kill or a full disk at that moment
# leaves behind.
_KILLED_MIDWAY = r"""
import os, signal, sys
import mlflow.store.db.utils as u

def upgrade_half_then_die(engine):
    from alembic import command
    from alembic.script import ScriptDirectory
    config = u._get_alembic_config(str(engine.url))
    revisions = list(ScriptDirectory.from_config(config).walk_revisions())
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revisions[len(revisions) // 2].revision)
    os.kill(os.getpid(), signal.SIGKILL)

u._upgrade_db = upgrade_half_then_die
mode, target = sys.argv[1], sys.argv[2]
if mode == "bench":  # bench's own path: log a run to the default store
    from bench.runs.record import read_results
    from bench.tracking.logger import log_run
    log_run(read_results(target), target, strict=True)
else:  # MLflow creating a store in place, as bench did before
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    SqlAlchemyStore("sqlite:///" + target, "file:///tmp")
"""


def _child(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    return subprocess.run([sys.executable, "-c", _KILLED_MIDWAY, *args], env=env,
                          capture_output=True, text=True, timeout=300)


def _logged_runs(uri: str, experiment_id: str) -> int:
    from mlflow.tracking import MlflowClient

    return len(MlflowClient(tracking_uri=uri).search_runs([experiment_id]))


def test_sigkill_while_mlflow_creates_the_store_leaves_no_half_made_store(tmp_path):
    rec = make_record(run_id="killed-1")
    run_dir = write_run(tmp_path / "runs", rec)
    died = _child("bench", str(run_dir))
    assert died.returncode == -signal.SIGKILL, died.stderr[-2000:]
    db = tmp_path / "runs" / "mlflow.db"
    assert not db.exists()  # the half-made store was a temporary file, never mlflow.db
    logged = log_run(rec, run_dir, strict=True)  # the next attempt just works
    assert logged.status == "logged" and db.is_file()
    assert _logged_runs(logged.tracking_uri, logged.experiment_id) == 1 + len(rec.folds)
    assert not list(db.parent.glob(".mlflow.db.creating-*"))  # the dead child's temp is gone


def test_a_half_made_store_is_set_aside_and_made_again(tmp_path):
    rec = make_record(run_id="after-crash")
    run_dir = write_run(tmp_path / "runs", rec)
    db = tmp_path / "runs" / "mlflow.db"
    died = _child("mlflow", str(db))  # a store left half-made by MLflow in place
    assert died.returncode == -signal.SIGKILL and db.is_file()
    messages: list[str] = []
    logged = log_run(rec, run_dir, strict=True, log=messages.append)
    assert logged.status == "logged"
    err = "\n".join(messages)
    assert "half-made" in err and f"bench track {db.parent}" in err
    assert len(list(db.parent.glob("mlflow.db.incomplete-*"))) == 1
    assert _logged_runs(logged.tracking_uri, logged.experiment_id) == 1 + len(rec.folds)


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.2, 1.0])
def test_sigkill_at_a_timed_moment_of_bench_track(tmp_path, delay):
    rec = make_record(run_id=f"timed-{delay}")
    run_dir = write_run(tmp_path / "runs", rec)
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    child = subprocess.Popen([sys.executable, "-m", "bench", "track", str(run_dir)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list((tmp_path / "runs").glob("*mlflow.db*")) and child.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(delay)
    child.send_signal(signal.SIGKILL)
    child.wait()
    logged = log_run(rec, run_dir, strict=True)  # whatever the kill hit, the next one works
    assert logged.status in ("logged", "replaced", "unchanged")
    assert _logged_runs(logged.tracking_uri, logged.experiment_id) == 1 + len(rec.folds)


@pytest.mark.slow  # two MLflow imports and one store creation: ~40 s on a busy machine
def test_two_bench_track_at_once_on_a_new_store_both_succeed_and_log_the_run_once(tmp_path):
    """They used to race: both created the store, or one met "database is locked" and exited 2
    with "1 of 1 run(s) could not be logged". The lock beside the store serialises them."""
    rec = make_record(run_id="two-trackers")
    run_dir = write_run(tmp_path / "runs", rec)
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    children = [subprocess.Popen([sys.executable, "-m", "bench", "track", str(run_dir)],
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True) for _ in range(2)]
    outs = [c.communicate(timeout=300)[0] for c in children]
    assert [c.returncode for c in children] == [0, 0], outs
    assert not any("Traceback" in o for o in outs)
    statuses = sorted(o.split()[0] for o in outs)
    assert statuses == ["logged", "unchanged"], outs  # logged once, then found
    logged = log_run(rec, run_dir, strict=True)
    assert logged.status == "unchanged"
    assert _logged_runs(logged.tracking_uri, logged.experiment_id) == 1 + len(rec.folds)
    assert (tmp_path / "runs" / "mlflow.db.lock").exists()

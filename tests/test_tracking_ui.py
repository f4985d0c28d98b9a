"""``bench ui`` serves the MLflow UI for the default store: the page answers 200, the runs
logged without a server are listed, and their artifacts are served from the results directory."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from tracking_fixtures import make_record, write_run

from bench.tracking import log_run
from bench.tracking_ui import free_port, server_command, wait_until_up

pytestmark = pytest.mark.slow


def test_bench_ui_serves_the_default_store(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    results = tmp_path / "runs"
    rec = make_record(run_id="ui-run", tags={"study": "ui-study"})
    run_dir = write_run(results, rec)
    logged = log_run(rec, run_dir, strict=True)
    assert logged.experiment == "ui-study"  # the study tag names the experiment

    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    proc = subprocess.Popen([sys.executable, "-m", "bench", "ui", "--port", str(port),
                             "--results-dir", str(results)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, proc, timeout=120)
        with urllib.request.urlopen(url + "/", timeout=10) as resp:
            assert resp.status == 200
            assert b"<html" in resp.read(2000).lower()
        body = json.dumps({"experiment_ids": [logged.experiment_id],
                           "filter": "tags.`bench.run_id` = 'ui-run'"}).encode()
        req = urllib.request.Request(url + "/api/2.0/mlflow/runs/search", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            runs = json.loads(resp.read())["runs"]
        assert [r["info"]["run_id"] for r in runs] == [logged.mlflow_run_id]
        art = (f"{url}/get-artifact?path=results.json&run_uuid={logged.mlflow_run_id}")
        with urllib.request.urlopen(art, timeout=10) as resp:
            assert resp.read() == (run_dir / "results.json").read_bytes()
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: bench ui stops its server and exits
        out, _ = proc.communicate(timeout=30)
    assert f"MLflow UI for sqlite:///{(results / 'mlflow.db').resolve()}" in out
    assert proc.returncode == 0
    time.sleep(0.5)
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0  # nothing left listening


def test_ui_refuses_a_server_uri():
    from bench.errors import TrackingError

    with pytest.raises(TrackingError, match="serves its own UI"):
        server_command("http://127.0.0.1:5000", 5001)

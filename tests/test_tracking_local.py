"""Tracking without a server: store resolution, the default SQLite store in the results
directory, what a record maps to, the confusion figure, failures that only warn."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest
from tracking_fixtures import make_record, write_run

from bench.runs.record import load_runs
from bench.tracking.logger import log_run
from bench.tracking.session import default_tracking_uri, resolve_tracking_uri
from bench.tracking.record import confusion_counts, confusion_figure, plan_runs


def test_store_resolution_order(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("BENCH_RESULTS_DIR", str(tmp_path / "res"))
    assert resolve_tracking_uri() == f"sqlite:///{tmp_path / 'res' / 'mlflow.db'}"
    assert resolve_tracking_uri(None, tmp_path) == default_tracking_uri(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:1")
    assert resolve_tracking_uri(None, tmp_path) == "http://127.0.0.1:1"
    assert resolve_tracking_uri("sqlite:////x/y.db", tmp_path) == "sqlite:////x/y.db"


def test_default_store_is_sqlite_next_to_the_runs(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    rec = make_record(run_id="local-1")
    run_dir = write_run(tmp_path / "runs", rec)
    logged = log_run(rec, run_dir, strict=True)
    assert logged.tracking_uri == f"sqlite:///{(tmp_path / 'runs' / 'mlflow.db').resolve()}"
    assert (tmp_path / "runs" / "mlflow.db").is_file()
    copies = list((tmp_path / "runs" / "mlartifacts").rglob("results.json"))
    assert len(copies) == 1 and copies[0].read_bytes() == (run_dir / "results.json").read_bytes()
    # the artifact copy of results.json is not mistaken for a second run
    assert [r.run_id for r in load_runs([tmp_path / "runs"])] == ["local-1"]

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=logged.tracking_uri)
    runs = client.search_runs([logged.experiment_id])
    assert len(runs) == 7
    assert log_run(rec, run_dir, strict=True).status == "unchanged"


def test_unreachable_server_warns_fast_and_keeps_going(tmp_path, capsys):
    from bench.tracking.ui import free_port

    rec = make_record()
    run_dir = write_run(tmp_path, rec)
    uri = f"http://127.0.0.1:{free_port()}"
    t0 = time.perf_counter()
    hint = f"bench track {run_dir} --tracking-uri {uri}"
    with pytest.warns(UserWarning, match="does not answer") as caught:
        assert log_run(rec, run_dir, tracking_uri=uri) is None
    assert time.perf_counter() - t0 < 10
    assert hint in str(caught[0].message)
    messages: list[str] = []  # with a log callable the warning goes there, nothing is printed
    assert log_run(rec, run_dir, tracking_uri=uri, log=messages.append) is None
    assert len(messages) == 1 and "does not answer" in messages[0] and hint in messages[0]
    assert capsys.readouterr().err == ""
    from bench.errors import TrackingError

    with pytest.raises(TrackingError, match="does not answer"):
        log_run(rec, run_dir, tracking_uri=uri, strict=True)


def test_plan_maps_every_field_and_sanitises_names():
    rec = make_record(classes=("car horn (close)", "dog", "rain"), folds=(1, 2), repeats=1)
    parent, children = plan_runs(rec, digest="d" * 64)
    assert {f"protocol.{k}" for k in rec.protocol} <= set(parent.params)
    assert parent.params["embedder.weights_sha256"] == "none"
    assert parent.params["embedder.window_s"] == "1.0"
    # MLflow accepts alphanumerics, _ - . space / in keys
    assert "class_accuracy/car horn _close_" in parent.metrics
    assert parent.metrics["class_accuracy/dog"] == rec.per_class_accuracy["dog"]
    assert parent.series["fold_test_accuracy"] == [f.accuracy for f in rec.folds]
    assert parent.tags["bench.results_sha256"] == "d" * 64
    assert len(children) == 2
    assert children[1].params["test_fold"] == "2" and children[1].tags["bench.of_run_id"] == \
        rec.run_id
    assert len(parent.params) <= 100 and all(len(v) <= 6000 for v in parent.params.values())
    # a missing value is left out, not logged as a number
    rec.embedding = {"n_windows": 0, "windows_per_s": float("nan")}
    rec.timings.embed_windows_per_s = None
    parent, _ = plan_runs(rec)
    assert parent.metrics["embedding/n_windows"] == 0
    assert "embedding/windows_per_s" not in parent.metrics
    assert "time/embed_windows_per_s" not in parent.metrics


def test_confusion_counts_and_figure(tmp_path):
    rec = make_record(folds=(1, 2, 3, 4), repeats=1)
    want = np.zeros((3, 3), dtype=int)
    for f in rec.folds:
        for i, row in enumerate(f.confusion):
            for j, v in enumerate(row):
                want[i, j] += v
    assert np.array_equal(confusion_counts(rec), want)
    assert np.trace(want) / want.sum() == pytest.approx(
        sum(f.accuracy * f.n_test_clips for f in rec.folds) /
        sum(f.n_test_clips for f in rec.folds))
    path = confusion_figure(rec, tmp_path / "c.png")
    import matplotlib.image

    img = matplotlib.image.imread(path)
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 200
    assert img[..., :3].std() > 0.05  # not a blank canvas

    for f in rec.folds:
        f.confusion = None
    assert confusion_counts(rec) is None and confusion_figure(rec, tmp_path / "d.png") is None


def test_importing_the_commands_does_not_import_mlflow():
    code = ("import sys, bench.cli.tracking, bench.tracking.logger, bench.tracking.ui;"
            "print('mlflow' in sys.modules, 'matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_ui_refuses_a_server_uri():
    from bench.errors import TrackingError
    from bench.tracking.ui import server_command

    with pytest.raises(TrackingError, match="serves its own UI"):
        server_command("http://127.0.0.1:5000", 5001)

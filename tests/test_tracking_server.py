"""A real MLflow tracking server on 127.0.0.1 (SQLite backend), started with `bench ui`: runs
logged over HTTP or straight into its database, read back with MlflowClient and through the UI's
HTTP API. One server for the module; the last test stops it mid-run and starts it again."""

from __future__ import annotations

import json
import signal
import time
import urllib.request

import numpy as np
import pytest
from click.testing import CliRunner
from tracking_fixtures import make_record, mlflow_server, write_run  # noqa: F401 - fixture

from bench.cli import main
from bench.runs.record import read_results, write_results
from bench.tracking.logger import log_run

pytestmark = pytest.mark.slow

SHA = "ab" * 32


def _client(url):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=url)


def _active_runs(client, exp_id, filt=""):
    return client.search_runs([exp_id], filter_string=filt, max_results=1000)


def _record(**kw):
    rec = make_record(tags={"train_samples": "13e6"}, **kw)
    rec.embedder["weights_sha256"] = SHA
    return rec


def test_bench_ui_serves_runs_logged_into_the_default_store(mlflow_server, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    rec = make_record(run_id="ui-run", tags={"study": "ui-study"})
    run_dir = write_run(mlflow_server.root, rec)  # a run in the results directory bench ui serves
    logged = log_run(rec, run_dir, strict=True)  # no URI: the directory's SQLite store
    assert logged.tracking_uri == f"sqlite:///{(mlflow_server.root / 'mlflow.db').resolve()}"
    assert logged.experiment == "ui-study"  # the study tag names the experiment

    url = mlflow_server.url
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
    metrics = {m["key"]: m["value"] for m in runs[0]["data"]["metrics"]}
    assert metrics["accuracy_mean"] == pytest.approx(rec.accuracy.mean)
    # artifacts of a run logged without a server are served from the results directory
    art = f"{url}/get-artifact?path=results.json&run_uuid={logged.mlflow_run_id}"
    with urllib.request.urlopen(art, timeout=10) as resp:
        assert resp.read() == (run_dir / "results.json").read_bytes()


def test_run_params_metrics_artifacts_read_back(mlflow_server, tmp_path):
    rec = _record(run_id="run-readback")
    run_dir = write_run(tmp_path / "runs", rec)
    logged = log_run(rec, run_dir, tracking_uri=mlflow_server.url, strict=True)
    assert logged.status == "logged" and logged.n_children == 6

    client = _client(mlflow_server.url)
    exp = client.get_experiment_by_name("bench-synth-mini")
    assert exp is not None and exp.experiment_id == logged.experiment_id
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"  # UI: runs table
    parents = _active_runs(client, exp.experiment_id, "tags.`bench.run_id` = 'run-readback'")
    assert [p.info.run_id for p in parents] == [logged.mlflow_run_id]
    parent = parents[0]
    assert parent.info.status == "FINISHED"

    p = parent.data.params
    assert p["protocol.preset"] == "paper"
    assert p["protocol.repeats"] == "2"
    assert p["protocol.learning_rates"] == "[0.0001,0.001]"
    assert p["protocol.hidden_sizes"] == "[512,128]"
    assert p["protocol.patience"] == "20" and p["protocol.val_unit"] == "clip"
    assert {f"protocol.{k}" for k in rec.protocol} <= set(p)
    assert p["embedder.name"] == "mfcc" and p["embedder.weights_sha256"] == SHA
    assert p["embedder.options.n_mfcc"] == "20" and p["embedder.dim"] == "40"
    assert p["dataset.name"] == "synth-mini" and p["dataset.version"] == "1"
    assert p["dataset.n_clips"] == "36" and p["seed"] == "0"

    # the numbers, recomputed from the confusion matrices
    confs = [np.asarray(f.confusion) for f in rec.folds]
    accs = [np.trace(c) / c.sum() for c in confs]
    m = parent.data.metrics
    assert m["accuracy_mean"] == pytest.approx(np.mean(accs), abs=1e-12)
    assert m["accuracy_std"] == pytest.approx(np.std(accs, ddof=1), abs=1e-12)
    assert m["class_accuracy/rain"] == pytest.approx(np.mean([c[1, 1] / c[1].sum()
                                                              for c in confs]))
    assert m["time/embed_s"] == 1.5 and m["time/total_s"] == 3.75
    history = client.get_metric_history(parent.info.run_id, "fold_test_accuracy")
    assert [h.value for h in sorted(history, key=lambda h: h.step)] == pytest.approx(accs)

    t = parent.data.tags
    assert t["bench.version"] == rec.bench_version and t["bench.git_sha"] == rec.git_sha
    assert t["mlflow.source.git.commit"] == rec.git_sha
    assert t["train_samples"] == "13e6" and t["bench.logged"] == "complete"

    children = _active_runs(client, exp.experiment_id,
                            f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert len(children) == 6
    by_key = {(int(c.data.params["test_fold"]), int(c.data.params["repeat"])): c
              for c in children}
    for f in rec.folds:
        c = by_key[(f.test_fold, f.repeat)]
        conf = np.asarray(f.confusion)
        assert c.data.metrics["test_accuracy"] == pytest.approx(np.trace(conf) / conf.sum())
        best = max(f.grid, key=lambda g: g.val_accuracy)
        assert float(c.data.params["chosen.lr"]) == best.lr
        assert c.data.metrics["val_accuracy"] == pytest.approx(best.val_accuracy)
        assert c.data.metrics["epochs"] == best.epochs
        assert c.data.metrics[f"grid/lr{best.lr:g}_wd0.0001/val_accuracy"] == \
            pytest.approx(best.val_accuracy)

    names = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert names == {"results.json", "predictions.csv", "confusion_matrix.png"}
    dst = tmp_path / "dl"
    dst.mkdir()
    got = client.download_artifacts(parent.info.run_id, "results.json", str(dst))
    assert json.loads(open(got).read()) == json.loads((run_dir / "results.json").read_text())
    png = client.download_artifacts(parent.info.run_id, "confusion_matrix.png", str(dst))
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    pred = client.download_artifacts(parent.info.run_id, "predictions.csv", str(dst))
    assert sum(1 for _ in open(pred)) == 1 + sum(int(c.sum()) for c in confs)


def test_logging_twice_is_idempotent_and_a_rerun_replaces(mlflow_server, tmp_path):
    rec = _record(run_id="run-idem", dataset="synth-idem")
    run_dir = write_run(tmp_path / "runs", rec)
    first = log_run(rec, run_dir, tracking_uri=mlflow_server.url, strict=True)
    again = log_run(rec, run_dir, tracking_uri=mlflow_server.url, strict=True)
    assert again.status == "unchanged" and again.mlflow_run_id == first.mlflow_run_id
    client = _client(mlflow_server.url)
    assert len(_active_runs(client, first.experiment_id)) == 7  # 1 parent + 6 nested

    # the same run recomputed (bench run --rerun): same run_id, new numbers
    rec2 = read_results(run_dir)
    rec2.timings.embed_s = 9.0
    write_results(run_dir, rec2)
    third = log_run(rec2, run_dir, tracking_uri=mlflow_server.url, strict=True)
    assert third.status == "replaced" and third.mlflow_run_id != first.mlflow_run_id
    runs = _active_runs(client, first.experiment_id)
    assert len(runs) == 7
    parent = client.get_run(third.mlflow_run_id)
    assert parent.data.metrics["time/embed_s"] == 9.0


def test_interrupted_logging_is_redone(mlflow_server, tmp_path, monkeypatch):
    import bench.tracking.logger as tracking

    rec = _record(run_id="run-broken", dataset="synth-broken")
    run_dir = write_run(tmp_path / "runs", rec)

    def boom(*a, **k):
        raise RuntimeError("artifact store went away")

    with monkeypatch.context() as m:
        m.setattr(tracking, "_log_artifacts", boom)
        messages: list[str] = []
        assert log_run(rec, run_dir, tracking_uri=mlflow_server.url, log=messages.append) is None
    assert f"bench track {run_dir}" in messages[0] and "artifact store went away" in messages[0]

    client = _client(mlflow_server.url)
    exp = client.get_experiment_by_name("bench-synth-broken")
    broken = _active_runs(client, exp.experiment_id, "tags.`bench.run_id` = 'run-broken'")
    assert len(broken) == 1 and broken[0].info.status == "FAILED"
    assert "bench.logged" not in broken[0].data.tags

    fixed = log_run(rec, run_dir, tracking_uri=mlflow_server.url, strict=True)
    assert fixed.status == "replaced"
    assert len(_active_runs(client, exp.experiment_id)) == 7


def test_server_stopped_mid_run_keeps_the_run_and_bench_track_logs_it_later(
        mlflow_server, tmp_path, synth_mini_root, monkeypatch):
    """A real `bench run` (runner, tiny embedder, synth-mini) whose tracking server is stopped
    while it embeds: the run completes, says how to log it, and `bench track` does later."""
    import sweep_fixtures

    from bench.evaluation.settings import ProtocolConfig
    from bench.runs.config import RunConfig
    from bench.tracking.tracked import run

    monkeypatch.setenv("BENCH_PROGRESS", "0")
    original = sweep_fixtures.TinyA.embed_windows

    def stop_then_embed(self, windows):
        if mlflow_server.proc is not None:
            mlflow_server.stop(signal.SIGTERM)  # `kill`: the server goes away mid-run
        return original(self, windows)

    monkeypatch.setattr(sweep_fixtures.TinyA, "embed_windows", stop_then_embed)
    cfg = RunConfig(embedder="sweep_fixtures:TinyA", dataset="synth-mini",
                    protocol=ProtocolConfig(max_epochs=2, patience=1, learning_rates=(1e-3,),
                                            weight_decays=(1e-4,)),
                    data_dir=synth_mini_root, cache_dir=tmp_path / "cache",
                    out_dir=tmp_path / "runs", resampler="kaiser_fast",
                    tracking_uri=mlflow_server.url)
    t0 = time.perf_counter()
    with pytest.warns(UserWarning) as caught:  # no log callable: the failure is a warning
        run_dir, record = run(cfg, progress=False)
    assert mlflow_server.proc is None  # it really was stopped during the run
    # `kill` ended bench ui cleanly, with its server (stop() checks nothing listens any more)
    assert mlflow_server.returncode == 0
    assert f"MLflow UI for sqlite:///{(mlflow_server.root / 'mlflow.db').resolve()}" in \
        mlflow_server.output
    assert time.perf_counter() - t0 < 120
    assert (run_dir / "results.json").is_file() and len(record.folds) == 5
    assert any(f"bench track {run_dir}" in str(w.message) for w in caught)
    before = (run_dir / "results.json").read_bytes()

    runner = CliRunner()
    res = runner.invoke(main, ["track", str(run_dir), "--tracking-uri", mlflow_server.url])
    assert res.exit_code != 0 and "does not answer" in res.output

    mlflow_server.start()
    res = runner.invoke(main, ["track", str(tmp_path / "runs"), "--tracking-uri",
                               mlflow_server.url])
    assert res.exit_code == 0, res.output
    assert res.output.startswith("logged")
    assert (run_dir / "results.json").read_bytes() == before
    client = _client(mlflow_server.url)
    exp = client.get_experiment_by_name("bench-synth-mini")
    runs = _active_runs(client, exp.experiment_id,
                        f"tags.`bench.run_id` = '{record.run_id}'")
    assert len(runs) == 1
    assert runs[0].data.metrics["accuracy_mean"] == record.accuracy.mean
    assert runs[0].data.params["embedder.name"] == "tiny-a"

"""Helpers for the tracking and sweep tests: results records of the schema's shape with known
numbers, and a real MLflow server on 127.0.0.1 (module-scoped: it takes seconds to start)."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

from bench import __version__
from bench.config import ProtocolConfig, RunConfig
from bench.results import SCHEMA_VERSION, summary_stats, write_predictions, write_results


def make_record(embedder: str = "mfcc", dataset: str = "synth-mini",
                classes: tuple[str, ...] = ("bark", "rain", "siren"), folds: tuple = (1, 2, 3),
                repeats: int = 2, seed: int = 0, run_id: str | None = None,
                tags: dict | None = None, clips_per_class: int = 4, rng: int = 0,
                learning_rates: tuple = (1e-4, 1e-3), weight_decays: tuple = (1e-4,)) -> dict:
    """A results record whose accuracies follow from random confusion matrices, so every
    figure in it can be recomputed independently."""
    gen = np.random.default_rng(rng)
    n = len(classes)
    protocol = ProtocolConfig().replace(repeats=repeats, learning_rates=learning_rates,
                                        weight_decays=weight_decays)
    fold_records = []
    for fold in folds:
        for r in range(repeats):
            conf = np.zeros((n, n), dtype=int)
            for i in range(n):
                conf[i] = gen.multinomial(clips_per_class, _row(gen, n, i))
            per_class = {c: conf[i, i] / conf[i].sum() for i, c in enumerate(classes)}
            grid = [{"lr": lr, "weight_decay": wd, "val_accuracy": float(gen.uniform(0.3, 0.9)),
                     "val_loss": float(gen.uniform(0.2, 2.0)), "epochs": int(gen.integers(21, 51)),
                     "best_epoch": int(gen.integers(1, 21))} for lr, wd in protocol.grid]
            best = max(grid, key=lambda g: g["val_accuracy"])
            fold_records.append({
                "test_fold": fold, "repeat": r, "seed": seed * 1000 + 10 * fold + r,
                "accuracy": float(np.trace(conf) / conf.sum()),
                "val_accuracy": best["val_accuracy"], "val_loss": best["val_loss"],
                "chosen": {"lr": best["lr"], "weight_decay": best["weight_decay"]},
                "grid": grid, "per_class_accuracy": per_class, "confusion": conf.tolist(),
                "n_train_clips": (len(folds) - 1) * n * clips_per_class * 9 // 10,
                "n_val_clips": (len(folds) - 1) * n * clips_per_class // 10,
                "n_test_clips": int(conf.sum())})
    config = RunConfig(embedder=embedder, dataset=dataset, protocol=protocol, seed=seed,
                       tags=tuple((tags or {}).items()))
    return {
        "schema_version": SCHEMA_VERSION, "run_id": run_id or uuid.uuid4().hex,
        "created": "2026-01-02T03:04:05+00:00", "bench_version": __version__,
        "git_sha": "0123456789abcdef0123456789abcdef01234567",
        "embedder": {"name": embedder, "sample_rate": 16000, "dim": 40, "window_s": 1.0,
                     "hop_s": 0.1, "version": "1", "weights_url": None, "weights_sha256": None,
                     "options": {"n_mfcc": 20}},
        "dataset": {"name": dataset, "version": "1", "classes": list(classes),
                    "n_clips": n * clips_per_class * len(folds)},
        "protocol": protocol.to_dict(), "config": config.to_dict(), "seed": seed,
        "tags": dict(tags or {}),
        "environment": {"python": "3.11", "torch": "2.13.0", "numpy": np.__version__,
                        "device": "cpu"},
        "accuracy": summary_stats(f["accuracy"] for f in fold_records),
        "per_class_accuracy": {c: float(np.mean([f["per_class_accuracy"][c]
                                                 for f in fold_records])) for c in classes},
        "folds": fold_records,
        "timings": {"embed_s": 1.5, "classify_s": 2.25, "total_s": 3.75},
        "skipped": [],
    }


def _row(gen, n: int, i: int) -> np.ndarray:
    p = gen.uniform(0.0, 0.3, size=n)
    p[i] = gen.uniform(0.5, 1.0)
    return p / p.sum()


def write_run(root: Path, record: dict, name: str | None = None) -> Path:
    """Write ``record`` as a run directory under ``root`` (results.json + predictions.csv)."""
    run_dir = Path(root) / (name or f"{record['embedder']['name']}-{record['run_id'][:8]}")
    run_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    classes = record["dataset"]["classes"]
    for f in record["folds"]:
        conf = np.asarray(f["confusion"])
        k = 0
        for i, true in enumerate(classes):
            for j, pred in enumerate(classes):
                for _ in range(int(conf[i, j])):
                    rows.append({"clip_id": f"{f['test_fold']}-{k}", "test_fold": f["test_fold"],
                                 "repeat": f["repeat"], "label": true, "predicted": pred,
                                 "correct": int(i == j), "n_frames": 41, "score": 1.0})
                    k += 1
    write_predictions(run_dir, rows)
    write_results(run_dir, record)
    return run_dir


class ServerHandle:
    """A real MLflow tracking server on 127.0.0.1, started as users start it: ``bench ui`` on
    the default SQLite store of a results directory (``root``). Tests log to it over HTTP, or
    straight into ``root/mlflow.db`` as ``bench run`` does; it can be stopped (Ctrl-C, as a
    user would) and started again on the same port and database."""

    def __init__(self, root: Path):
        from bench.tracking_ui import free_port

        self.root = Path(root)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None
        self.output = ""
        self.returncode = None

    def start(self) -> None:
        import os
        import subprocess
        import sys

        from bench.tracking_ui import wait_until_up

        env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench", "ui", "--port", str(self.port), "--results-dir",
             str(self.root)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=env, start_new_session=True)
        try:
            wait_until_up(self.url, self.proc, timeout=120)
        except Exception:
            self.stop()
            print(self.output[-3000:])
            raise

    def stop(self, sig: int | None = None) -> None:
        """Stop bench ui with Ctrl-C (SIGINT to its process group) or ``sig`` (to it alone,
        as `kill` does); it must take its server down with it."""
        import os
        import signal
        import socket

        if self.proc is None:
            return
        if sig is None:
            os.killpg(self.proc.pid, signal.SIGINT)
        else:
            os.kill(self.proc.pid, sig)
        self.output, _ = self.proc.communicate(timeout=60)
        self.returncode = self.proc.returncode
        self.proc = None
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", self.port)) != 0, "the MLflow server outlived bench ui"


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """A real MLflow tracking server for the module (it takes seconds to start)."""
    handle = ServerHandle(tmp_path_factory.mktemp("mlflow-server"))
    handle.start()
    yield handle
    handle.stop()
    assert handle.returncode == 0, handle.output[-2000:]

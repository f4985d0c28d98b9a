"""Helpers for the tracking and sweep tests: results records whose numbers follow from random
confusion matrices (built by analysis_fixtures), and a real MLflow server on 127.0.0.1
(module-scoped: it takes seconds to start)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from analysis_fixtures import fold_record, make_record as build_record
from analysis_fixtures import write_run  # noqa: F401 - the tracking tests' run writer

from bench.runs.record import RunRecord


def make_record(embedder: str = "mfcc", dataset: str = "synth-mini",
                classes: tuple[str, ...] = ("bark", "rain", "siren"), folds: tuple = (1, 2, 3),
                repeats: int = 2, seed: int = 0, run_id: str | None = None,
                tags: dict | None = None, clips_per_class: int = 4, rng: int = 0,
                learning_rates: tuple = (1e-4, 1e-3), weight_decays: tuple = (1e-4,)) -> RunRecord:
    """A results record whose accuracies follow from random confusion matrices, so every
    figure in it can be recomputed independently."""
    gen = np.random.default_rng(rng)
    n = len(classes)
    fold_records = []
    for fold in folds:
        for r in range(repeats):
            conf = np.zeros((n, n), dtype=int)
            for i in range(n):
                conf[i] = gen.multinomial(clips_per_class, _row(gen, n, i))
            grid = [{"lr": lr, "weight_decay": wd, "val_accuracy": float(gen.uniform(0.3, 0.9)),
                     "val_loss": float(gen.uniform(0.2, 2.0)), "epochs": int(gen.integers(21, 51)),
                     "best_epoch": int(gen.integers(1, 21))}
                    for lr in learning_rates for wd in weight_decays]
            fold_records.append(fold_record(
                fold, r, float(np.trace(conf) / conf.sum()), seed=seed * 1000 + 10 * fold + r,
                classes=classes, grid=grid, confusion=conf,
                per_class={c: conf[i, i] / conf[i].sum() for i, c in enumerate(classes)},
                n_train=(len(folds) - 1) * n * clips_per_class * 9 // 10,
                n_val=(len(folds) - 1) * n * clips_per_class // 10, n_test=int(conf.sum())))
    return build_record(embedder, dataset, folds=folds, repeats=repeats, seed=seed, tags=tags,
                        run_id=run_id, classes=classes, fold_records=fold_records,
                        protocol={"learning_rates": learning_rates,
                                  "weight_decays": weight_decays},
                        n_clips=n * clips_per_class * len(folds),
                        embedder_spec={"dim": 40, "options": {"n_mfcc": 20}})


def _row(gen, n: int, i: int) -> np.ndarray:
    p = gen.uniform(0.0, 0.3, size=n)
    p[i] = gen.uniform(0.5, 1.0)
    return p / p.sum()


class ServerHandle:
    """A real MLflow tracking server on 127.0.0.1, started as users start it: ``bench ui`` on
    the default SQLite store of a results directory (``root``). Tests log to it over HTTP, or
    straight into ``root/mlflow.db`` as ``bench run`` does; it can be stopped (Ctrl-C, as a
    user would) and started again on the same port and database."""

    def __init__(self, root: Path):
        from bench.tracking.ui import free_port

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

        from bench.tracking.ui import wait_until_up

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

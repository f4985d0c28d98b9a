"""Results records of schema v1 built by hand, of the shape bench.runs.runner writes. One builder for
every test that reads records: stats, plots, report, check, and tracking (tracking_fixtures
derives its numbers from random confusion matrices and builds the record here).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from bench import __version__
from bench.evaluation.settings import PROTOCOL_PRESETS, ProtocolConfig
from bench.runs.config import RunConfig
from bench.runs.record import (SCHEMA_VERSION, AccuracySummary, RunRecord, write_predictions,
                               write_results)

CLASSES = ("dog", "rain", "siren")
GIT_SHA = "0123456789abcdef0123456789abcdef01234567"


def accuracies_near(base: float, scale: float = 0.02) -> Callable[[Any, int], float]:
    """``(fold, repeat) -> accuracy`` a little above ``base``, varying over folds and repeats in
    the same pattern for every run (a ``make_record`` ``accuracies`` argument)."""
    return lambda f, r: base + scale * ((f * 7 + r * 3) % 5) / 4


def fold_record(fold: Any, repeat: int, accuracy: float, *, seed: int = 0,
                classes: Sequence[str] = CLASSES, grid: list[dict[str, Any]] | None = None,
                confusion: Any = None, per_class: Mapping[str, float] | None = None,
                n_train: int = 100, n_val: int = 10, n_test: int = 40) -> dict[str, Any]:
    """One ``folds`` entry as bench.evaluation.protocol.run_fold writes it: ``chosen`` is the grid point
    with the best validation accuracy (the first of equals), with its epochs and best epoch.

    Defaults: one grid point whose validation numbers follow ``accuracy``, every class at
    ``accuracy``, an identity confusion matrix.
    """
    if grid is None:
        grid = [{"lr": 1e-4, "weight_decay": 1e-5, "val_accuracy": accuracy,
                 "val_loss": 1 - accuracy, "epochs": 10, "best_epoch": 5}]
    best = max(grid, key=lambda g: g["val_accuracy"])
    if confusion is None:
        confusion = np.eye(len(classes), dtype=int)
    return {"test_fold": fold, "repeat": repeat, "seed": seed, "accuracy": accuracy,
            "val_accuracy": best["val_accuracy"], "val_loss": best["val_loss"],
            "chosen": {k: best[k] for k in ("lr", "weight_decay", "epochs", "best_epoch")},
            "grid": grid,
            "per_class_accuracy": dict(per_class) if per_class is not None
            else {c: accuracy for c in classes},
            "confusion": np.asarray(confusion).tolist(),
            "n_train_clips": n_train, "n_val_clips": n_val, "n_test_clips": n_test}


def make_record(embedder: str = "mfcc", dataset: str = "esc50", accuracies: Any = None, *,
                folds: Sequence[Any] = (1, 2, 3, 4, 5), repeats: int = 1, seed: int = 0,
                tags: Mapping[str, str] | None = None, preset: str = "paper",
                run_id: str | None = None, created: str = "2024-01-01T00:00:00+00:00",
                classes: Sequence[str] = CLASSES, n_test: int = 40,
                protocol: Mapping[str, Any] | None = None,
                fold_records: list[dict[str, Any]] | None = None, n_clips: int = 200,
                embedder_spec: Mapping[str, Any] | None = None) -> RunRecord:
    """A complete results record, read from the JSON object a run would write.

    ``accuracies``: a mapping ``{(fold, repeat): acc}``, a sequence in fold-major, repeat-minor
    order, or a callable ``(fold, repeat) -> acc``; default: all 0.5. ``fold_records`` (from
    :func:`fold_record`) replaces them. ``protocol``: overrides of the preset's fields;
    ``embedder_spec``: overrides of the embedder's spec fields.
    """
    if fold_records is None:
        keys = [(f, r) for f in folds for r in range(repeats)]
        if accuracies is None:
            accs = {k: 0.5 for k in keys}
        elif callable(accuracies):
            accs = {k: float(accuracies(*k)) for k in keys}
        elif isinstance(accuracies, Mapping):
            accs = {k: float(accuracies[k]) for k in keys}
        else:
            accs = dict(zip(keys, map(float, accuracies)))
            assert len(accs) == len(keys), "one accuracy per (fold, repeat)"
        fold_records = [fold_record(f, r, acc, seed=seed * 1000 + r, classes=classes,
                                    n_test=n_test) for (f, r), acc in accs.items()]
    base = PROTOCOL_PRESETS.get(preset) or ProtocolConfig(preset=preset)
    proto = base.replace(**{"repeats": repeats, **dict(protocol or {})})
    tags = dict(tags or {})
    config = RunConfig(embedder=embedder, dataset=dataset, protocol=proto, seed=seed,
                       tags=tuple(tags.items()))
    accuracy = [f["accuracy"] for f in fold_records]
    return RunRecord.from_dict({
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id or f"{embedder}-{dataset}-s{seed}",
        "created": created, "bench_version": __version__, "git_sha": GIT_SHA,
        "embedder": {"name": embedder, "sample_rate": 16000, "dim": 8, "window_s": 1.0,
                     "hop_s": 0.1, "version": "1", "weights_url": None, "weights_sha256": None,
                     "options": {}, **dict(embedder_spec or {})},
        "dataset": {"name": dataset, "version": "1", "classes": list(classes),
                    "n_clips": n_clips},
        "protocol": proto.to_dict(), "config": config.to_dict(), "seed": seed, "tags": tags,
        "environment": {"python": "3.11", "numpy": np.__version__, "torch": "2",
                        "platform": "test", "device": "cpu"},
        "accuracy": AccuracySummary.of(accuracy).to_dict(),
        "per_class_accuracy": {c: float(np.mean([f["per_class_accuracy"][c]
                                                 for f in fold_records])) for c in classes},
        "folds": fold_records,
        "timings": {"embed_s": 1.5, "classify_s": 2.25, "total_s": 3.75},
        "skipped": [],
    })


def write_run(root: Path, record: RunRecord, name: str | None = None) -> Path:
    """Write ``record`` as ``root/<name or run_id>/`` with ``results.json`` and the
    ``predictions.csv`` its confusion matrices imply; return the run directory."""
    run_dir = Path(root) / (name or record.run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    classes = record.classes
    for f in record.folds:
        conf = np.asarray(f.confusion)
        k = 0
        for i, true in enumerate(classes):
            for j, pred in enumerate(classes):
                for _ in range(int(conf[i, j])):
                    rows.append({"clip_id": f"{f.test_fold}-{k}", "test_fold": f.test_fold,
                                 "repeat": f.repeat, "label": true, "predicted": pred,
                                 "correct": int(i == j), "n_frames": 41, "score": 1.0})
                    k += 1
    write_predictions(run_dir, rows)
    write_results(run_dir, record)
    return run_dir

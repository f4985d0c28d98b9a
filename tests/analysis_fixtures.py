"""Results records of schema v1 built by hand, for the analysis tests (stats, plots, report,
check). One place builds them so that every test reads records of the shape bench.runner writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from bench.results import summary_stats, write_results

CLASSES = ("dog", "rain", "siren")


def make_record(embedder: str, dataset: str = "esc50", accuracies: Any = None, *,
                folds: Sequence[Any] = (1, 2, 3, 4, 5), repeats: int = 1, seed: int = 0,
                tags: Mapping[str, str] | None = None, preset: str = "paper",
                run_id: str | None = None, created: str = "2024-01-01T00:00:00+00:00",
                n_test: int = 40, protocol: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A complete results record.

    ``accuracies``: a mapping ``{(fold, repeat): acc}``, a sequence in fold-major, repeat-minor
    order, or a callable ``(fold, repeat) -> acc``; default: all 0.5.
    """
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
    fold_entries = []
    for (fold, rep), acc in accs.items():
        fold_entries.append({
            "test_fold": fold, "repeat": rep, "seed": seed * 1000 + rep, "accuracy": acc,
            "val_accuracy": acc, "val_loss": 1.0 - acc,
            "chosen": {"lr": 1e-4, "weight_decay": 1e-5},
            "grid": [{"lr": 1e-4, "weight_decay": 1e-5, "val_accuracy": acc, "val_loss": 1 - acc,
                      "epochs": 10, "best_epoch": 5}],
            "per_class_accuracy": {c: acc for c in CLASSES},
            "confusion": [[1 if i == j else 0 for j in range(len(CLASSES))]
                          for i in range(len(CLASSES))],
            "n_train_clips": 100, "n_val_clips": 10, "n_test_clips": n_test})
    proto = {"preset": preset, "val_fraction": 0.1, "val_unit": "clip", "scaler_fit": "train",
             "repeats": repeats}
    proto.update(protocol or {})
    tags = dict(tags or {})
    return {
        "schema_version": 1,
        "run_id": run_id or f"{embedder}-{dataset}-s{seed}",
        "created": created, "bench_version": "0.1.0", "git_sha": None,
        "embedder": {"name": embedder, "sample_rate": 16000, "dim": 8, "window_s": 1.0,
                     "hop_s": 0.1, "version": "1", "weights_sha256": None, "options": {}},
        "dataset": {"name": dataset, "version": "1", "classes": list(CLASSES), "n_clips": 200},
        "protocol": proto,
        "config": {"embedder": embedder, "dataset": dataset, "seed": seed, "tags": tags},
        "seed": seed, "tags": tags,
        "environment": {"python": "3.11", "numpy": "2", "torch": "2", "platform": "test",
                        "device": "cpu"},
        "accuracy": summary_stats(accs.values()),
        "per_class_accuracy": {c: summary_stats(accs.values())["mean"] for c in CLASSES},
        "folds": fold_entries,
        "timings": {"embed_s": 1.0, "classify_s": 2.0, "total_s": 3.0},
        "skipped": [],
    }


def write_run(root: Path, record: dict[str, Any], name: str | None = None) -> Path:
    """Write ``record`` as ``root/<name or run_id>/results.json``; return the run directory."""
    run_dir = Path(root) / (name or record["run_id"])
    run_dir.mkdir(parents=True, exist_ok=True)
    write_results(run_dir, record)
    return run_dir

"""What a run looks like in MLflow: the parent run's and nested runs' params, metrics and tags,
and the confusion-matrix figure, built from a results record as plain data (no mlflow here), so
the mapping is testable and the logging in :mod:`bench.tracking.logger` stays thin.

Names: params ``protocol.<field>`` (every resolved field), ``embedder.<field>`` (the spec incl.
``weights_sha256``), ``dataset.{name,version,n_clips,n_classes}``, ``seed``; parent metrics
``accuracy_mean``, ``accuracy_std``, ``val_accuracy_mean``, ``epochs_mean``,
``class_accuracy/<class>``, ``time/<phase>``, and the histories ``fold_test_accuracy`` and
``fold_val_accuracy`` (one step per (fold, repeat)); nested runs ``test_accuracy``,
``val_accuracy``, ``val_loss``, ``epochs``, ``best_epoch``, ``grid/lr<lr>_wd<wd>/<metric>`` and
params ``test_fold``, ``repeat``, ``chosen.lr``, ``chosen.weight_decay``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.runs.record import FoldRecord, RunRecord, format_summary

#: tag on a parent run holding bench's own run_id: how a logged run is found again
RUN_ID_TAG = "bench.run_id"
#: tag on nested runs naming the bench run_id of their parent
OF_RUN_TAG = "bench.of_run_id"
#: sha256 of the logged results.json: a changed record (``--rerun``) replaces the old MLflow run
DIGEST_TAG = "bench.results_sha256"

@dataclass
class RunPlan:
    """What one MLflow run gets: plain data, built from a record without touching MLflow."""

    name: str
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    series: dict[str, list[float]]  # metric histories (step = position)


def plan_runs(record: RunRecord, digest: str = "", run_dir: str | None = None
              ) -> tuple[RunPlan, list[RunPlan]]:
    """The parent run and the nested (fold, repeat) runs for ``record``.

    Parameters
    ----------
    record : RunRecord
        A results record (schema v1 or v2).
    digest : str
        sha256 of the results file, stored as a tag so a changed record is noticed.
    run_dir : str, optional
        The run directory, stored as a tag.
    """
    emb, ds, proto = record.embedder, record.dataset, record.protocol
    emb_name, ds_name = record.embedder_name, record.dataset_name
    seed = record.run_seed

    params: dict[str, Any] = {}
    for k, v in proto.items():
        params[f"protocol.{k}"] = v
    if isinstance(emb, dict):
        for k, v in emb.items():
            if k == "options":
                for ok, ov in (v or {}).items():
                    params[f"embedder.options.{ok}"] = ov
            else:
                params[f"embedder.{k}"] = v
    else:
        params["embedder.name"] = emb
    if isinstance(ds, dict):
        params["dataset.name"] = ds.get("name")
        params["dataset.version"] = ds.get("version")
        params["dataset.n_clips"] = ds.get("n_clips")
        params["dataset.n_classes"] = len(record.classes)
    else:
        params["dataset.name"] = ds
    params["seed"] = seed
    config = record.config or {}
    for k in ("device", "resampler", "embed_batch_size"):
        if k in config:
            params[f"config.{k}"] = config[k]

    folds = record.folds
    acc = record.primary
    name = key(record.metric_name)
    metrics: dict[str, float] = {f"{name}_mean": acc.mean, f"{name}_std": acc.std,
                                 f"{name}_n": len(folds) if acc.n is None else acc.n}
    for k, v in (record.metrics or {}).items():  # the task's other metrics (schema v2)
        if k != record.metric_name and v is not None:
            metrics[f"{key(k)}_mean"] = v
    vals = [f.val_accuracy for f in folds if _finite(f.val_accuracy)]
    if vals:
        metrics["val_accuracy_mean"] = sum(vals) / len(vals)
    epochs = [f.chosen.epochs for f in folds if f.chosen.epochs is not None]
    if epochs:
        metrics["epochs_mean"] = sum(epochs) / len(epochs)
    for cls, a in (record.per_class_accuracy or {}).items():
        metrics[f"class_accuracy/{key(cls)}"] = a
    for k, v in record.timings.to_dict().items():
        metrics[f"time/{key(k)}"] = v
    embedding = record.embedding or {}
    for k in ("n_clips", "n_cached", "n_computed", "n_windows", "windows_per_s"):
        if k in embedding:
            metrics[f"embedding/{k}"] = embedding[k]
    metrics["n_skipped"] = len(record.skipped or [])
    metrics["n_warnings"] = len(record.warnings or [])

    run_id = str(record.run_id)
    tags: dict[str, Any] = {
        RUN_ID_TAG: run_id, DIGEST_TAG: digest,
        "bench.version": record.bench_version, "bench.git_sha": record.git_sha,
        "bench.embedder": emb_name, "bench.dataset": ds_name,
        "bench.protocol": proto.get("preset"), "bench.seed": seed,
        "bench.created": record.created, "bench.run_dir": run_dir,
        "bench.chosen": _chosen_summary(folds),
        "mlflow.source.name": "bench", "mlflow.source.type": "LOCAL",
        "mlflow.note.content": _note(record),
    }
    if record.git_sha:
        tags["mlflow.source.git.commit"] = str(record.git_sha).removesuffix("-dirty")
    for k, v in record.environment.to_dict().items():
        tags[f"bench.env.{k}"] = v
    for k, v in record.run_tags.items():
        tags[f"user.{k}" if k.startswith(("mlflow.", "bench.")) else k] = v

    series = {f"fold_test_{name}": [f.score for f in folds],
              "fold_val_accuracy": [f.val_accuracy for f in folds]}
    parent = RunPlan(f"{emb_name} on {ds_name} ({record.preset}, seed {seed})",
                     _params(params), _metrics(metrics), _tags(tags), series)
    children = [_plan_fold(f, run_id) for f in folds]
    return parent, children


#: fold figures logged as metrics of a nested run when the record has them
_FOLD_METRICS = ("val_loss", "n_train_clips", "n_val_clips", "n_test_clips", "n_train_frames",
                 "n_val_frames", "n_test_frames", "classify_s")


def _plan_fold(fold: FoldRecord, run_id: str) -> RunPlan:
    chosen = fold.chosen
    params = {"test_fold": fold.test_fold, "repeat": fold.repeat, "seed": fold.seed,
              "chosen.lr": chosen.lr, "chosen.weight_decay": chosen.weight_decay}
    metrics: dict[str, Any] = {f"test_{key(fold.metric_name)}": fold.score,
                               "val_accuracy": fold.val_accuracy}
    for k, v in (fold.metrics or {}).items():
        if v is not None:
            metrics[f"test_{key(k)}"] = v
    for cls, ap in (fold.per_class_ap or {}).items():
        if ap is not None:
            metrics[f"class_ap/{key(cls)}"] = ap
    for k in _FOLD_METRICS:
        if getattr(fold, k) is not None:
            metrics[k] = getattr(fold, k)
    for k in ("epochs", "best_epoch"):
        if getattr(chosen, k) is not None:
            metrics[k] = getattr(chosen, k)
    for g in fold.grid:
        if g.lr is None:  # logistic regression: no grid
            continue
        gk = f"grid/lr{g.lr:g}_wd{g.weight_decay:g}"
        if g.hidden_sizes is not None:  # the PyTorch head's grid also varies shape and init
            gk += f"_h{'x'.join(map(str, g.hidden_sizes)) or 'linear'}_{g.init or ''}"
        for k in ("val_accuracy", "val_loss", "epochs", "best_epoch"):
            if getattr(g, k) is not None:
                metrics[f"{gk}/{k}"] = getattr(g, k)
    for cls, a in fold.per_class_accuracy.items():
        metrics[f"class_accuracy/{key(cls)}"] = a
    tags = {OF_RUN_TAG: run_id, "bench.fold": fold.test_fold, "bench.repeat": fold.repeat}
    name = f"fold {fold.test_fold} repeat {fold.repeat}"
    return RunPlan(name, _params(params), _metrics(metrics), _tags(tags), {})


def _chosen_summary(folds: list[FoldRecord]) -> str:
    counts: dict[str, int] = {}
    for f in folds:
        key = f"lr={f.chosen.lr} wd={f.chosen.weight_decay}"
        counts[key] = counts.get(key, 0) + 1
    return "; ".join(f"{k} x{n}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1]))


def _note(record: RunRecord) -> str:
    try:
        return "```\n" + format_summary(record) + "\n```"
    except (TypeError, ValueError):  # a description is a nicety, never a failure
        return ""


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


_BAD_KEY_CHARS = re.compile(r"[^A-Za-z0-9_\-. /]")


def key(s: Any) -> str:
    """A metric/param key fragment MLflow accepts (alphanumerics, _ - . space /)."""
    k = _BAD_KEY_CHARS.sub("_", str(s)).strip(" /") or "_"
    return re.sub(r"/+", "/", k).replace("..", "_")


def _value(v: Any) -> str:
    if v is None:
        return "none"
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(v, separators=(",", ":"), default=str)
    return str(v)


def _params(d: dict[str, Any]) -> dict[str, str]:
    return {key(k)[:250]: _value(v)[:6000] for k, v in d.items()}


def _tags(d: dict[str, Any]) -> dict[str, str]:
    return {str(k)[:250]: _value(v)[:8000] for k, v in d.items() if v is not None}


def _metrics(d: dict[str, Any]) -> dict[str, float]:
    # a missing value (None, NaN: e.g. a rate when nothing was computed) is left out rather
    # than shown as a number
    return {key(k)[:250]: float(v) for k, v in d.items()
            if isinstance(v, (int, float)) and math.isfinite(v)}



def confusion_counts(record: RunRecord):
    """The confusion matrices of all (fold, repeat) summed (rows true, columns predicted), or
    ``None`` when the record has none or their shapes differ."""
    import numpy as np

    mats = [np.asarray(f.confusion, dtype=np.int64) for f in record.folds if f.confusion]
    if not mats or len({m.shape for m in mats}) != 1:
        return None
    return np.sum(mats, axis=0)


def confusion_figure(record: RunRecord, path: Path) -> Path | None:
    """Draw the confusion matrix summed over every (fold, repeat), rows normalised to recall,
    into ``path`` (PNG); ``None`` when the record holds no confusion matrices."""
    import numpy as np

    counts = confusion_counts(record)
    if counts is None:
        return None
    n = counts.shape[0]
    n_mats = sum(1 for f in record.folds if f.confusion)
    classes = record.classes
    if len(classes) != n:
        classes = [str(i) for i in range(n)]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = counts / counts.sum(axis=1, keepdims=True)

    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure  # no pyplot: no global figure state, no GUI backend

    side = min(4 + 0.22 * n, 16)
    fig = Figure(figsize=(side + 1.2, side), dpi=100)
    ax = fig.add_subplot()
    im = ax.imshow(np.nan_to_num(frac), cmap="viridis", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    fs = max(4, min(9, int(220 / max(n, 1))))
    ax.set_xticks(range(n), classes, rotation=90, fontsize=fs)
    ax.set_yticks(range(n), classes, fontsize=fs)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 15:  # counts are readable only for small matrices
        for i in range(n):
            for j in range(n):
                if counts[i, j]:
                    ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=fs,
                            color="white" if frac[i, j] < 0.6 else "black")
    acc = record.primary
    ax.set_title(f"{record.embedder_name} on {record.dataset_name}: "
                 f"{100 * acc.mean:.1f}% ± {100 * acc.std:.1f} "
                 f"(sum over {n_mats} fold×repeat)", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, format="png")
    return path


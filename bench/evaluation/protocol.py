"""Cross-validation over the official folds: split, standardise, train the grid, decide per clip.

For each official split and each repeat: hold out a validation share of the training data
(whole clips, stratified, for ``paper``; single frames for ``l3embedding``), fit the
standardisation (training frames, or training + validation frames), train the MLP grid with
early stopping, keep the grid point with the best validation accuracy, and predict each test
clip by summing its frames' class likelihoods.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from bench.evaluation.grid import (Frames, GridMLP, MLPSettings, Standardizer, clip_scores)
from bench.evaluation.settings import ProtocolConfig
from bench.datasets.base import Clip, Split
from bench.errors import ProtocolError


@dataclass
class FoldData:
    """Everything a fold needs: the shared matrix, clip offsets, labels and folds."""

    X: np.ndarray
    offsets: np.ndarray
    clips: list[Clip]
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        index = {c: i for i, c in enumerate(self.classes)}
        self.labels = np.array([index[c.label] for c in self.clips], dtype=np.int64)
        self.counts = np.diff(self.offsets)

    def frames_of(self, clip_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows and per-row clip position of the given clips."""
        clip_idx = np.asarray(clip_idx, dtype=np.int64)
        counts = self.counts[clip_idx]
        rows = np.concatenate([np.arange(self.offsets[i], self.offsets[i + 1]) for i in clip_idx]
                              ) if len(clip_idx) else np.zeros(0, np.int64)
        pos = np.repeat(np.arange(len(clip_idx)), counts)
        return rows.astype(np.int64), pos


def allocate(labels: np.ndarray, fraction: float, rng: np.random.Generator,
             min_per_class: int = 0) -> np.ndarray:
    """Stratified hold-out: positions (into ``labels``) chosen for validation.

    ``round(fraction * n)`` items in all, spread over classes in proportion to their size by
    largest remainder (ties broken at random), each class with at least two items given at
    least ``min_per_class`` and at least one item always left for training.
    """
    n = len(labels)
    classes, counts = np.unique(labels, return_counts=True)
    ideal = fraction * counts
    take = np.floor(ideal).astype(int)
    remaining = int(round(fraction * n)) - take.sum()
    if remaining > 0:
        order = np.lexsort((rng.random(len(classes)), -(ideal - take)))
        take[order[:remaining]] += 1
    take = np.where(counts >= 2, np.maximum(take, min_per_class), 0)
    take = np.minimum(take, counts - 1)
    chosen = []
    for c, k in zip(classes, take):
        members = np.flatnonzero(labels == c)
        if k > 0:
            chosen.append(rng.choice(members, size=k, replace=False))
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)


def fold_seeds(seed: int, split_index: int, repeat: int) -> tuple[int, int]:
    """Seeds of the validation split and of the MLP for one (split, repeat)."""
    ss = np.random.SeedSequence([seed, split_index, repeat])
    a, b = ss.generate_state(2)
    return int(a), int(b)


def validation_split(data: FoldData, train_clips: np.ndarray, protocol: ProtocolConfig,
                     rng: np.random.Generator) -> tuple[Frames, Frames, int, int, list[str]]:
    """Hold out validation data from a split's training clips.

    Whole clips, stratified (``val_unit="clip"``), or single frames, stratified, so that frames
    of one clip may fall on both sides (``"frame"``, the authors' code).

    Returns
    -------
    train, val : Frames
    n_train_clips, n_val_clips : int
        Clips with frames on each side.
    warnings : list of str
    """
    warnings: list[str] = []
    if protocol.val_unit == "clip":
        val_pos = allocate(data.labels[train_clips], protocol.val_fraction, rng,
                           protocol.min_val_per_class)
        val_clips = train_clips[val_pos]
        fit_clips = np.setdiff1d(train_clips, val_clips)
        tr_rows, tr_pos = data.frames_of(fit_clips)
        va_rows, va_pos = data.frames_of(val_clips)
        train = Frames(data.X, tr_rows, data.labels[fit_clips][tr_pos], tr_pos)
        val = Frames(data.X, va_rows, data.labels[val_clips][va_pos], va_pos)
        lonely = sorted(set(data.labels[train_clips].tolist())
                        - set(data.labels[val_clips].tolist()))
        if lonely:
            warnings.append(f"classes with a single training clip have no validation clip: "
                            f"{[data.classes[c] for c in lonely]}")
        return train, val, len(fit_clips), len(val_clips), warnings
    rows, pos = data.frames_of(train_clips)
    y = data.labels[train_clips][pos]
    mask = np.zeros(len(rows), bool)
    mask[allocate(y, protocol.val_fraction, rng, 0)] = True
    train = Frames(data.X, rows[~mask], y[~mask], _dense(pos[~mask]))
    val = Frames(data.X, rows[mask], y[mask], _dense(pos[mask]))
    return train, val, len(train_clips), val.n_clips, warnings


def run_fold(data: FoldData, split: Split, split_index: int, repeat: int,
             protocol: ProtocolConfig, seed: int, device: str = "cpu",
             on_epoch: Callable[[int, int], None] | None = None
             ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Train and test one (split, repeat).

    Returns
    -------
    record : dict
        The fold entry of ``results.json``.
    predictions : list of dict
        One row per test clip.
    """
    t0 = time.perf_counter()
    split_seed, mlp_seed = fold_seeds(seed, split_index, repeat)
    rng = np.random.default_rng(split_seed)
    train_folds = set(split.train_folds)
    train_clips = np.array([i for i, c in enumerate(data.clips) if c.fold in train_folds],
                           dtype=np.int64)
    test_clips = np.array([i for i, c in enumerate(data.clips) if c.fold == split.test_fold],
                          dtype=np.int64)
    if len(train_clips) == 0 or len(test_clips) == 0:
        raise ProtocolError(f"split with test fold {split.test_fold!r} has "
                            f"{len(train_clips)} training and {len(test_clips)} test clips; "
                            f"both must be non-empty")
    n_classes = len(data.classes)
    train, val, n_fit_clips, n_val_clips, warnings = validation_split(data, train_clips,
                                                                      protocol, rng)
    if len(val) == 0:
        raise ProtocolError(f"test fold {split.test_fold!r}: the validation split is empty "
                            f"({len(train_clips)} training clips)",
                            hint="every class needs at least two training clips")
    scaler_rows = (train.rows if protocol.scaler_fit == "train"
                   else np.concatenate([train.rows, val.rows]))
    scaler = Standardizer.fit(data.X, scaler_rows)
    settings = MLPSettings(n_classes=n_classes, grid=protocol.grid,
                           hidden_sizes=protocol.hidden_sizes, batch_size=protocol.batch_size,
                           max_epochs=protocol.max_epochs, patience=protocol.patience,
                           betas=(protocol.adam_beta1, protocol.adam_beta2), eps=protocol.adam_eps,
                           selection_unit=protocol.selection_unit, tie_break=protocol.tie_break,
                           device=device, random_state=mlp_seed)
    model = GridMLP(settings).fit(train, val, scaler, on_epoch=on_epoch)

    te_rows, te_pos = data.frames_of(test_clips)
    test = Frames(data.X, te_rows, data.labels[test_clips][te_pos], te_pos)
    proba = model.predict_proba(test, scaler)
    scores = clip_scores(proba, te_pos, len(test_clips))
    pred = scores.argmax(axis=1)
    truth = data.labels[test_clips]
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(confusion, (truth, pred), 1)
    per_class = {data.classes[c]: float(confusion[c, c] / confusion[c].sum())
                 for c in range(n_classes) if confusion[c].sum() > 0}
    chosen = model.points_[model.best_index_]
    record = {
        "test_fold": split.test_fold, "repeat": repeat, "seed": mlp_seed, "split_seed": split_seed,
        "accuracy": float((pred == truth).mean()),
        "val_accuracy": chosen.val_accuracy, "val_loss": chosen.val_loss,
        "chosen": {"lr": chosen.lr, "weight_decay": chosen.weight_decay,
                   "epochs": chosen.epochs, "best_epoch": chosen.best_epoch},
        "grid": [p.to_dict() for p in model.points_],
        "per_class_accuracy": per_class,
        "confusion": confusion.tolist(),
        "n_train_clips": int(n_fit_clips), "n_val_clips": int(n_val_clips),
        "n_test_clips": int(len(test_clips)),
        "n_train_frames": len(train), "n_val_frames": len(val),
        "n_test_frames": int(len(te_rows)),
        "classify_s": time.perf_counter() - t0,
        "warnings": warnings,
    }
    counts = data.counts[test_clips]
    predictions = [{"clip_id": data.clips[i].id, "test_fold": split.test_fold, "repeat": repeat,
                    "label": data.classes[truth[k]], "predicted": data.classes[pred[k]],
                    "correct": int(pred[k] == truth[k]), "n_frames": int(counts[k]),
                    "score": float(scores[k, pred[k]] / counts[k])}
                   for k, i in enumerate(test_clips)]
    return record, predictions


def _dense(pos: np.ndarray) -> np.ndarray:
    """Renumber clip positions 0..k-1 in order of first appearance."""
    _, inv = np.unique(pos, return_inverse=True)
    return inv.astype(np.int64)

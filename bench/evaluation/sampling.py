"""Which rows and clips a fold trains on: clip pooling, few-shot subsets, the next-fold split.

These are the data-side settings of the peers' protocols (docs/protocol.md): HEAR and EVAR
classify one vector per clip (pooled frames), HEAR validates on the fold after the test fold,
MTEB's few-shot tasks train on K clips per class.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.errors import ProtocolError


def pool_clips(X: np.ndarray, offsets: np.ndarray, mode: str, chunk: int = 512) -> np.ndarray:
    """One vector per clip from its frames ``X[offsets[i]:offsets[i+1]]``.

    ``mean`` (HEAR's scene embeddings), ``max``, or ``mean+max``: mean and max added element-wise
    (EVAR's ``mean_max_pooling``), all in float64 and returned as float32. Clips are taken a
    chunk at a time, so a memory-mapped matrix is read once without a full copy.
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    counts = np.diff(offsets)
    if len(counts) and counts.min() < 1:
        raise ProtocolError("every clip needs at least one frame to be pooled")
    out = np.empty((len(counts), X.shape[1]), dtype=np.float32)
    for s in range(0, len(counts), chunk):
        e = min(s + chunk, len(counts))
        block = np.asarray(X[offsets[s]:offsets[e]], dtype=np.float64)
        starts = offsets[s:e] - offsets[s]
        parts = []
        if mode in ("mean", "mean+max"):
            parts.append(np.add.reduceat(block, starts, axis=0) / counts[s:e, None])
        if mode in ("max", "mean+max"):
            parts.append(np.maximum.reduceat(block, starts, axis=0))
        if not parts:
            raise ProtocolError(f"unknown pooling {mode!r}")
        out[s:e] = sum(parts)
    return out


def few_shot(train_clips: np.ndarray, labels: np.ndarray, per_class: int,
             rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """``per_class`` training clips of each class, drawn without replacement (all of a class
    that has fewer, with a warning). Returns the kept clip indices (sorted) and warnings."""
    kept, short = [], []
    for c in np.unique(labels[train_clips]):
        members = train_clips[labels[train_clips] == c]
        if len(members) < per_class:
            short.append(int(c))
            kept.append(members)
        else:
            kept.append(rng.choice(members, size=per_class, replace=False))
    warnings = ([f"{len(short)} class(es) have fewer than {per_class} training clips; all of "
                 f"theirs are used"] if short else [])
    return np.sort(np.concatenate(kept)), warnings


def next_fold(folds: list[Any], test_fold: Any) -> Any:
    """The validation fold of ``test_fold`` as HEAR takes it: the next one in sorted order,
    wrapping around (folds sorted numerically when they are numbers)."""
    def key(f: Any) -> tuple[int, Any]:
        try:
            return (0, float(f))
        except (TypeError, ValueError):
            return (1, str(f))

    ordered = sorted(set(folds), key=key)
    if len(ordered) < 3:
        raise ProtocolError(f"next-fold validation needs at least 3 folds (test, validation, "
                            f"training), found {len(ordered)}",
                            hint="use a holdout validation (val_source holdout) on this dataset")
    return ordered[(ordered.index(test_fold) + 1) % len(ordered)]

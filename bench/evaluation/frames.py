"""Frames of clips as the classifier sees them, their standardisation, and the clip decision rule."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.errors import ProtocolError
from bench.evaluation.metrics import average_precision


# -- data ---------------------------------------------------------------------------------------
@dataclass
class Frames:
    """Frames taken from a shared embedding matrix by row number.

    Attributes
    ----------
    X : ndarray, shape (n_total, dim), float32
        All frame embeddings of a dataset (not copied).
    rows : ndarray of int64
        The rows that belong to this set.
    y : ndarray of int64, or of float32 with shape (n, n_classes)
        Class index of each selected row; on a multilabel task its 0/1 targets.
    clip : ndarray of int64
        Clip number (0..n_clips-1 within this set) of each selected row.
    """

    X: np.ndarray
    rows: np.ndarray
    y: np.ndarray
    clip: np.ndarray

    def __post_init__(self) -> None:
        self.rows = np.asarray(self.rows, dtype=np.int64)
        self.y = np.asarray(self.y, dtype=np.float32 if np.ndim(self.y) == 2 else np.int64)
        self.clip = np.asarray(self.clip, dtype=np.int64)
        if not (len(self.rows) == len(self.y) == len(self.clip)):
            raise ValueError("rows, y and clip must have the same length")

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def n_clips(self) -> int:
        return int(self.clip.max()) + 1 if len(self.clip) else 0

    @property
    def multilabel(self) -> bool:
        return self.y.ndim == 2

    def clip_labels(self) -> np.ndarray:
        """The label of each clip (all frames of a clip share it); multilabel: its 0/1 row,
        a class being on when it is on in any of the clip's frames (an event task's frames
        have targets of their own)."""
        if self.multilabel:
            out = np.zeros((self.n_clips, self.y.shape[1]), dtype=np.float32)
            np.maximum.at(out, self.clip, self.y)
            return out
        out = np.full(self.n_clips, -1, dtype=np.int64)
        out[self.clip] = self.y
        return out


@dataclass
class Standardizer:
    """Per-dimension mean and scale, as scikit-learn's StandardScaler (ddof 0, scale 1 where the
    variance is 0)."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray, rows: np.ndarray, chunk: int = 8192) -> "Standardizer":
        """Fit on ``X[rows]`` in chunks with float64 sums (no copy of the whole set)."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) == 0:
            raise ProtocolError("cannot fit the standardisation on zero frames")
        dim = X.shape[1]
        total = np.zeros(dim)
        for s in range(0, len(rows), chunk):
            total += X[rows[s:s + chunk]].sum(axis=0, dtype=np.float64)
        mean = total / len(rows)
        sq = np.zeros(dim)
        for s in range(0, len(rows), chunk):
            d = X[rows[s:s + chunk]].astype(np.float64) - mean
            sq += np.einsum("ij,ij->j", d, d)
        var = sq / len(rows)
        scale = np.sqrt(var)
        scale[scale < 10 * np.finfo(np.float64).eps] = 1.0
        return cls(mean.astype(np.float32), scale.astype(np.float32))

    def transform(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale).astype(np.float32)


# -- configuration and fitted state ----------------------------------------------------------------


def clip_scores(proba: np.ndarray, clip: np.ndarray, n_clips: int) -> np.ndarray:
    """Sum the frame likelihoods of each clip (the paper's clip decision rule)."""
    scores = np.zeros((n_clips, proba.shape[1]), dtype=np.float64)
    np.add.at(scores, clip, proba)
    return scores


def clip_means(proba: np.ndarray, clip: np.ndarray, n_clips: int) -> np.ndarray:
    """Mean of each clip's frame probabilities: the clip decision of a multilabel task (a sum
    would rank clips with more frames higher; with pooled clips it is the clip's one row)."""
    counts = np.bincount(clip, minlength=n_clips).astype(np.float64)
    return clip_scores(proba, clip, n_clips) / np.maximum(counts, 1.0)[:, None]


def mean_average_precision(targets: np.ndarray, scores: np.ndarray) -> float:
    """Macro average precision over the classes with a positive row (NaN when none has one):
    the validation figure of a multilabel task."""
    aps = [average_precision(targets[:, c], scores[:, c]) for c in range(targets.shape[1])]
    kept = [a for a in aps if a == a]
    return float(np.mean(kept)) if kept else float("nan")


def require_validation(val: Frames) -> None:
    """Early stopping and the grid search need validation frames: say so when there are none."""
    if len(val) == 0:
        raise ProtocolError("the validation split is empty; early stopping and the grid "
                            "search need validation frames",
                            hint="use more clips per class or a larger val_fraction")

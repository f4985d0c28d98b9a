"""Metrics of multilabel clip tasks: average precision, ROC AUC and d', per class and macro.

Computed here in numpy (scipy for the normal quantile), not through scikit-learn, which is a
test dependency only; the tests compare every number with scikit-learn's on random scores with
ties. The definitions are scikit-learn's (and so the HEAR evaluation kit's):

* average precision of one class: ``sum_n (R_n - R_{n-1}) P_n`` over the distinct score
  thresholds from the highest down (tied scores form one threshold), no interpolation;
* ROC AUC of one class: the probability that a positive clip scores above a negative one, a
  tie counting one half (the Mann-Whitney statistic; equal to the trapezoidal area);
* d' of one class: ``sqrt(2) * Phi^-1(AUC)`` (the separation of two equal-variance normal
  distributions with that AUC).

Macro values are the means over classes. A class with no positive clip in the test set has no
AP and no AUC (NaN), a class with no negative clip no AUC: they are left out of the macro
means and named in :attr:`MultilabelScores.undefined`; scikit-learn would raise (AUC) or count
the AP as 0, HEAR's kit would give NaN for the whole task. An AUC of exactly 1 (or 0) would
give an infinite d': it is taken as ``1 - 1/(2PN)`` (or ``1/(2PN)``), half of one of the
``P*N`` positive-negative pairs misordered, so d' stays finite (docs/protocol.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class MultilabelScores:
    """A multilabel test set's scores.

    Attributes
    ----------
    classes : tuple of str
        Class names, in the columns' order.
    average_precision, auc, d_prime : tuple of float
        Per class; NaN where undefined (see :attr:`undefined`).
    undefined : tuple of str
        ``"<class>: no positive clip"`` or ``"<class>: no negative clip"`` for each class left
        out of a macro mean.
    """

    classes: tuple[str, ...]
    average_precision: tuple[float, ...]
    auc: tuple[float, ...]
    d_prime: tuple[float, ...]
    undefined: tuple[str, ...]

    @property
    def mAP(self) -> float:  # noqa: N802 (the field's name in HEAR and the literature)
        """Macro average precision over the classes with a positive clip."""
        return _nanmean(self.average_precision)

    @property
    def aucroc(self) -> float:
        """Macro ROC AUC over the classes with positive and negative clips."""
        return _nanmean(self.auc)

    @property
    def macro_d_prime(self) -> float:
        """Mean of the per-class d' (as HEAR's kit averages it)."""
        return _nanmean(self.d_prime)

    def as_dict(self) -> dict[str, float]:
        """The macro values under their metric names (``KIND_METRICS["multilabel"]``)."""
        return {"mAP": self.mAP, "d_prime": self.macro_d_prime, "aucroc": self.aucroc}


def multilabel_targets(labels: Sequence[Sequence[str]], classes: Sequence[str]) -> np.ndarray:
    """0/1 targets of clips with any number of labels (``Clip.labels``).

    Parameters
    ----------
    labels : sequence of sequence of str
        Each clip's labels (possibly none).
    classes : sequence of str
        Column order.

    Returns
    -------
    ndarray, shape (n_clips, n_classes), float32
    """
    index = {c: i for i, c in enumerate(classes)}
    out = np.zeros((len(labels), len(classes)), dtype=np.float32)
    for row, clip_labels in enumerate(labels):
        for label in clip_labels:
            if label not in index:
                raise ValueError(f"label {label!r} is not among the classes {list(classes)}")
            out[row, index[label]] = 1.0
    return out


def average_precision(target: np.ndarray, score: np.ndarray) -> float:
    """Average precision of one class (scikit-learn's definition; NaN without positives).

    Parameters
    ----------
    target : ndarray, shape (n,)
        1 for clips of the class, 0 otherwise.
    score : ndarray, shape (n,)
        The classifier's score for the class (higher: more likely).
    """
    y = np.asarray(target, dtype=bool)
    s = np.asarray(score, dtype=np.float64)
    positives = int(y.sum())
    if positives == 0:
        return math.nan
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    tp = np.cumsum(y)
    # one threshold per distinct score: the last position of each run of tied scores
    last = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]
    tp = tp[last].astype(np.float64)
    precision = tp / (last + 1)
    recall = tp / positives
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def roc_auc(target: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC of one class: P(positive scores above negative), ties one half; NaN when the
    class has no positive or no negative clip."""
    from scipy.stats import rankdata

    y = np.asarray(target, dtype=bool)
    positives, negatives = int(y.sum()), int((~y).sum())
    if positives == 0 or negatives == 0:
        return math.nan
    ranks = rankdata(np.asarray(score, dtype=np.float64))  # tied scores share the mean rank
    u = ranks[y].sum() - positives * (positives + 1) / 2.0
    return float(u / (positives * negatives))


def d_prime(auc: float, positives: int, negatives: int) -> float:
    """``sqrt(2) * Phi^-1(auc)``, with an AUC of 1 or 0 moved half a pair inwards (finite)."""
    from scipy.stats import norm

    if math.isnan(auc):
        return math.nan
    half_pair = 0.5 / (positives * negatives)
    auc = min(max(auc, half_pair), 1.0 - half_pair)
    return float(math.sqrt(2.0) * norm.ppf(auc))


def multilabel_scores(targets: np.ndarray, scores: np.ndarray,
                      classes: tuple[str, ...] | list[str]) -> MultilabelScores:
    """Every multilabel metric of a test set.

    Parameters
    ----------
    targets : ndarray, shape (n_clips, n_classes)
        0/1 labels.
    scores : ndarray, shape (n_clips, n_classes)
        Per-class scores (probabilities or logits: only their order matters).
    classes : sequence of str
        The columns' class names.

    Returns
    -------
    MultilabelScores
    """
    y = np.asarray(targets)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 2 or y.shape[1] != len(classes):
        raise ValueError(f"targets {y.shape} and scores {s.shape} must both be "
                         f"(n_clips, {len(classes)})")
    aps, aucs, dps, undefined = [], [], [], []
    for c, name in enumerate(classes):
        col = y[:, c].astype(bool)
        pos, neg = int(col.sum()), int((~col).sum())
        if pos == 0:
            undefined.append(f"{name}: no positive clip")
        elif neg == 0:
            undefined.append(f"{name}: no negative clip")
        aps.append(average_precision(col, s[:, c]))
        aucs.append(roc_auc(col, s[:, c]))
        dps.append(d_prime(aucs[-1], pos, neg))
    return MultilabelScores(tuple(classes), tuple(aps), tuple(aucs), tuple(dps),
                            tuple(undefined))


def _nanmean(values: tuple[float, ...]) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return float(np.mean(kept)) if kept else math.nan

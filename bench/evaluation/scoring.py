"""A fold's test scores from its clip decisions: accuracy and confusion (one class per clip), or
mAP, d' and macro ROC AUC (any number of classes per clip), and the predictions rows.

Multiclass: a clip's class is the arg-max of its summed frame likelihoods (the paper's rule,
:func:`bench.evaluation.frames.clip_scores`). Multilabel: a clip's score of each class is the
mean of its frames' sigmoid outputs (:func:`bench.evaluation.frames.clip_means`; with pooled
clips, the HEAR protocol's, the one row of the pooled clip), ranked per class for AP and AUC; a
class counts as predicted when its score is at least 0.5 (the predictions file only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.evaluation.frames import clip_means, clip_scores
from bench.evaluation.metrics import multilabel_scores

#: the label separator of multilabel rows in predictions.csv
LABEL_SEP = ";"


@dataclass
class TestScores:
    """What a fold's test set scored, in the fields of a fold record."""

    metric: str
    metrics: dict[str, float | None]
    accuracy: float | None = None
    per_class_accuracy: dict[str, float] = field(default_factory=dict)
    confusion: list[list[int]] | None = None
    per_class_ap: dict[str, float | None] | None = None
    warnings: list[str] = field(default_factory=list)
    predictions: list[dict[str, Any]] = field(default_factory=list)


def score_test(proba: np.ndarray, clip: np.ndarray, truth: np.ndarray, classes: tuple[str, ...],
               counts: np.ndarray, rows: list[dict[str, Any]], primary: str) -> TestScores:
    """Score one fold's test clips.

    Parameters
    ----------
    proba : ndarray, shape (n_frames, C)
        The chosen classifier's outputs per test frame.
    clip : ndarray of int
        Test clip position of each frame.
    truth : ndarray
        Class index per clip, or (multilabel) the clips' 0/1 rows.
    classes : tuple of str
    counts : ndarray of int
        Frames per test clip.
    rows : list of dict
        The start of each clip's predictions row (id, fold, repeat).
    primary : str
        The task's primary metric (``accuracy``, ``mAP``, ...).
    """
    if truth.ndim == 2:
        return _multilabel(proba, clip, truth, classes, counts, rows, primary)
    n_classes = len(classes)
    scores = clip_scores(proba, clip, len(truth))
    pred = scores.argmax(axis=1)
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(confusion, (truth, pred), 1)
    per_class = {classes[c]: float(confusion[c, c] / confusion[c].sum())
                 for c in range(n_classes) if confusion[c].sum() > 0}
    accuracy = float((pred == truth).mean())
    predictions = [{**row, "label": classes[truth[k]], "predicted": classes[pred[k]],
                    "correct": int(pred[k] == truth[k]), "n_frames": int(counts[k]),
                    "score": float(scores[k, pred[k]] / counts[k])}
                   for k, row in enumerate(rows)]
    return TestScores("accuracy", {"accuracy": accuracy}, accuracy, per_class,
                      confusion.tolist(), predictions=predictions)


def _multilabel(proba, clip, truth, classes, counts, rows, primary) -> TestScores:
    means = clip_means(proba, clip, len(truth))
    found = multilabel_scores(truth, means, classes)
    metrics = {k: json_number(v) for k, v in found.as_dict().items()}
    warnings = ([f"classes left out of the macro means (no positive or no negative test clip): "
                 f"{', '.join(found.undefined)}"] if found.undefined else [])
    on = means >= 0.5
    predictions = []
    for k, row in enumerate(rows):
        true = [classes[c] for c in np.flatnonzero(truth[k])]
        said = [classes[c] for c in np.flatnonzero(on[k])]
        predictions.append({**row, "label": LABEL_SEP.join(true),
                            "predicted": LABEL_SEP.join(said), "correct": int(true == said),
                            "n_frames": int(counts[k]), "score": float(means[k].max())})
    return TestScores(primary if primary in metrics else "mAP", metrics,
                      per_class_ap={c: json_number(a)
                                    for c, a in zip(classes, found.average_precision)},
                      warnings=warnings, predictions=predictions)


def json_number(x: float) -> float | None:
    """A metric as results.json holds it: ``None`` (null) where undefined (NaN), strict JSON
    having no NaN."""
    return None if x != x else float(x)

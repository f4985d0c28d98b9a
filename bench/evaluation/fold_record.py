"""What one (fold, repeat) of the protocol found: the ``folds`` entries of ``results.json``.

The run record (:mod:`bench.runs.record`) holds a list of these; the protocol builds them, so
they live at the evaluation stage. Accuracies are fractions in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from bench.util.jsonrecord import ABSENT, JsonRecord

#: the columns of an event task's predictions.csv: one row per detected event (here, with the
#: records, so that reading or writing a run never imports the numeric event code)
EVENT_PREDICTION_FIELDS = ["clip_id", "test_fold", "repeat", "predicted", "onset", "offset",
                           "n_frames", "score"]


@dataclass(kw_only=True)
class ChosenPoint(JsonRecord):
    """The grid point kept for testing (best validation accuracy, ties by the protocol's rule).

    ``epochs`` (trained) and ``best_epoch`` (of the lowest validation loss, whose weights were
    kept) are absent from records that predate them.
    """

    lr: float | None  # None: a classifier without one (logistic regression)
    weight_decay: float | None
    epochs: int | None = None
    best_epoch: int | None = None
    #: set when the grid varies them (the PyTorch head's grid)
    hidden_sizes: list[int] | None = None
    init: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """The point in words: ``lr 0.001, wd 0.0001`` (plus hidden shape and init when the
        grid varies them); a classifier without a learning rate gives its iterations."""
        if self.lr is None or self.lr != self.lr:  # NaN: logistic regression, no grid
            return f"{'?' if self.epochs is None else self.epochs} L-BFGS iterations"
        parts = [f"lr {self.lr:g}", f"wd {self.weight_decay:g}"]
        if self.hidden_sizes is not None:
            parts.append(f"hidden {list(self.hidden_sizes)}")
        if self.init is not None:
            parts.append(str(self.init))
        return ", ".join(parts)


@dataclass(kw_only=True)
class GridPointRecord(JsonRecord):
    """One grid point as trained on one (fold, repeat): its validation figures at its best
    epoch. ``val_accuracy`` is the one the protocol's ``selection_unit`` selects by."""

    lr: float | None
    weight_decay: float | None
    #: ``None`` (JSON null) for a number that does not exist (a network that diverged)
    val_accuracy: float | None
    val_loss: float | None = ABSENT
    val_frame_accuracy: float | None = ABSENT
    val_clip_accuracy: float | None = ABSENT
    epochs: int | None = None
    best_epoch: int | None = None
    hidden_sizes: list[int] | None = None
    init: str | None = None
    #: "mAP" when the ``val_*accuracy`` figures are a multilabel task's validation mAP
    val_metric: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(kw_only=True)
class PostprocessingRecord(JsonRecord):
    """Event tasks: the post-processing chosen on the validation clips (the grid point of
    :mod:`bench.evaluation.events` with the best ``val_metric``, the task's primary metric)."""

    median_filter_ms: float
    min_duration_ms: float
    val_metric: str
    #: the primary metric's value on the validation clips with this post-processing
    val_value: float | None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(kw_only=True)
class FoldRecord(JsonRecord):
    """One (test fold, repeat): the chosen point's test accuracy and how it was found.

    Attributes
    ----------
    test_fold : int or str
        The official fold held out (as the dataset names it).
    repeat : int
    seed, split_seed : int, optional
        Seeds of the MLP and of the validation split.
    accuracy : float
        Test accuracy of the chosen grid point (clip decisions); absent on multilabel tasks.
    metric : str
        The task's primary metric (schema v2; absent from v1 records: ``accuracy``).
    metrics : dict
        Every test metric of the task by name (``accuracy``; or ``mAP``, ``d_prime``,
        ``aucroc``), ``None`` where undefined.
    per_class_ap : dict, optional
        Multilabel: average precision per class (``None``: no positive test clip).
    postprocessing : PostprocessingRecord, optional
        Event tasks: the post-processing chosen on validation.
    val_accuracy, val_loss : float or None
        The chosen point's validation figures (``None`` when it diverged).
    chosen : ChosenPoint
    grid : list of GridPointRecord
        Every grid point, in grid order.
    per_class_accuracy : dict
        Test accuracy per class present in the test fold.
    confusion : list of list of int, optional
        Rows: true class, columns: predicted, in the dataset's class order.
    n_train_clips, n_val_clips, n_test_clips, n_train_frames, n_val_frames, n_test_frames : int
    classify_s : float
        Seconds spent on this (fold, repeat).
    warnings : list of str
    """

    NESTED: ClassVar = {"chosen": ChosenPoint, "grid": GridPointRecord,
                        "postprocessing": PostprocessingRecord}

    test_fold: Any
    repeat: int
    seed: int | None = None
    split_seed: int | None = None
    accuracy: float | None = ABSENT
    metric: str | None = ABSENT
    metrics: dict[str, float | None] | None = ABSENT
    val_accuracy: float | None
    val_loss: float | None = ABSENT
    chosen: ChosenPoint
    grid: list[GridPointRecord]
    per_class_accuracy: dict[str, float]
    confusion: list[list[int]] | None = None
    per_class_ap: dict[str, float | None] | None = None
    postprocessing: PostprocessingRecord | None = None
    n_train_clips: int | None = None
    n_val_clips: int | None = None
    n_test_clips: int | None = None
    n_train_frames: int | None = None
    n_val_frames: int | None = None
    n_test_frames: int | None = None
    classify_s: float | None = None
    warnings: list[str] | None = None
    #: classes with test clips but no training clip in this split, and their test clips
    untrained_classes: dict[str, int] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def metric_name(self) -> str:
        """The primary metric's name (``accuracy`` for records that predate the field)."""
        return self.metric or "accuracy"

    @property
    def score(self) -> float:
        """The primary metric's value (NaN when undefined): what runs are compared on."""
        value = self.metrics.get(self.metric) if self.metric and self.metrics else self.accuracy
        return float("nan") if value is None or value is ABSENT else float(value)

    @property
    def key(self) -> tuple[str, int]:
        """``(test_fold, repeat)`` with the fold as a string, so that runs written by different
        tools pair."""
        return (str(self.test_fold), int(self.repeat))

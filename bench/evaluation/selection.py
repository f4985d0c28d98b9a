"""The grid search of a fold, whichever classifier trains it: the points, what each did, the choice.

One home for the policy every classifier shares: which grid points a fold trains
(:func:`fold_grid`: the whole grid, a seeded sample of it, or the first split's choice), what a
trained point reports (:class:`GridPoint`) and which point wins (:func:`select_winner`). The
trainers (:mod:`bench.evaluation.stacked`, :mod:`bench.evaluation.head`,
:mod:`bench.evaluation.logreg`) only train and score the points they are given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bench.evaluation.fold_record import ChosenPoint
from bench.evaluation.settings import ProtocolConfig


@dataclass(frozen=True)
class HeadSpec:
    """One grid point to train: learning rate, weight decay, hidden shape, initialisation."""

    lr: float
    weight_decay: float
    hidden_sizes: tuple[int, ...]
    init: str

    def point(self) -> "GridPoint":
        return GridPoint(self.lr, self.weight_decay, hidden_sizes=self.hidden_sizes,
                         init=self.init)


@dataclass
class GridPoint:
    """What one grid point did: its hyper-parameters and its best validation check.

    ``val_accuracy`` is the figure the choice reads (clip or frame, as the protocol's
    ``selection_unit`` says); on a multilabel task the ``val_*accuracy`` figures hold the
    validation mAP instead (``val_metric`` says so).
    """

    lr: float
    weight_decay: float
    val_accuracy: float = float("nan")
    val_frame_accuracy: float = float("nan")
    val_clip_accuracy: float = float("nan")
    val_loss: float = float("inf")
    best_epoch: int = 0
    epochs: int = 0
    #: the PyTorch head's grid also varies the hidden shape and initialisation (None: the
    #: stacked trainer's points, whose shape and init the protocol fixes)
    hidden_sizes: tuple[int, ...] | None = None
    init: str | None = None
    #: None: accuracy (single-label tasks, the record keeps its v1 keys); "mAP" on multilabel
    val_metric: str | None = None

    def to_dict(self) -> dict:
        """The record's grid entry; a number that does not exist (the validation loss of a
        network that diverged at once) is ``None`` (JSON ``null``), never NaN or Infinity."""
        def num(x: float) -> float | None:
            return x if math.isfinite(x) else None

        d = {"lr": num(self.lr), "weight_decay": num(self.weight_decay),
             "val_accuracy": num(self.val_accuracy), "val_loss": num(self.val_loss),
             "val_frame_accuracy": num(self.val_frame_accuracy),
             "val_clip_accuracy": num(self.val_clip_accuracy),
             "epochs": self.epochs, "best_epoch": self.best_epoch}
        if self.hidden_sizes is not None:
            d["hidden_sizes"] = list(self.hidden_sizes)
        if self.init is not None:
            d["init"] = self.init
        if self.val_metric is not None:
            d["val_metric"] = self.val_metric
        return d


def grid_specs(protocol: ProtocolConfig) -> list[HeadSpec]:
    """Every grid point: learning rate (slowest), weight decay, hidden shape, init (fastest)."""
    return [HeadSpec(lr, wd, hidden, init) for lr in protocol.learning_rates
            for wd in protocol.weight_decays for hidden in protocol.hidden_options
            for init in protocol.inits]


def fold_grid(protocol: ProtocolConfig, seed: int, repeat: int,
              fixed: ChosenPoint | None = None) -> list[HeadSpec]:
    """The grid points one fold trains.

    ``fixed``: the ``chosen`` record of the first split of this repeat (``grid_search=
    "first_split"``): only that point. Otherwise the whole grid, or ``grid_sample`` points of
    it drawn once per repeat (so every split of a repeat searches the same points).
    """
    if fixed is not None:
        return [HeadSpec(float(fixed.lr), float(fixed.weight_decay),
                         tuple(protocol.hidden_sizes if fixed.hidden_sizes is None
                               else fixed.hidden_sizes),
                         str(protocol.inits[0] if fixed.init is None else fixed.init))]
    specs = grid_specs(protocol)
    if 0 < protocol.grid_sample < len(specs):
        rng = np.random.default_rng([seed, repeat, 0x67726964])  # "grid"
        keep = np.sort(rng.choice(len(specs), size=protocol.grid_sample, replace=False))
        specs = [specs[i] for i in keep]
    return specs


def set_selected(points: list[GridPoint], selection_unit: str) -> None:
    """Fill each point's ``val_accuracy`` with the figure the protocol selects by."""
    for p in points:
        p.val_accuracy = p.val_clip_accuracy if selection_unit == "clip" else p.val_frame_accuracy


def select_winner(points: list[GridPoint], tie_break: str) -> int:
    """Index of the grid point with the highest validation figure (``val_accuracy``).

    Ties go to the lower validation loss (``val_loss``) or to the first point in grid order
    (``first``, the authors' strict ``>``).
    """
    best = 0
    for i, p in enumerate(points[1:], start=1):
        b = points[best]
        if p.val_accuracy > b.val_accuracy:
            best = i
        elif p.val_accuracy == b.val_accuracy and tie_break == "val_loss" and p.val_loss < b.val_loss:
            best = i
    return best


def chosen_record(points: list[GridPoint], best_index: int) -> ChosenPoint:
    """The ``chosen`` entry of a fold record: the winning point's settings and epochs."""
    p = points[best_index]
    return ChosenPoint(lr=_or_none(p.lr), weight_decay=_or_none(p.weight_decay), epochs=p.epochs,
                       best_epoch=p.best_epoch,
                       hidden_sizes=None if p.hidden_sizes is None else list(p.hidden_sizes),
                       init=p.init)


def _or_none(x: float) -> float | None:
    # logistic regression has neither: null in JSON (strict JSON has no NaN)
    return None if x != x else x

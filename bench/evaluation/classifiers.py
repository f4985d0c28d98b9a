"""The classifier of a fold, as the protocol names it: one interface, one table of builders.

Every classifier is built from the protocol, the fold's grid points and the fold's facts
(:class:`FoldSetup`), and then answers the same :class:`Classifier` interface: ``fit`` (train
every grid point, early-stop and choose on validation), ``predict_proba`` (the chosen point's
class likelihoods per frame), ``points_`` and ``best_index_`` (what each point did and which won,
:mod:`bench.evaluation.selection`). ``keras-mlp`` is the paper's stacked trainer
(:mod:`bench.evaluation.stacked`), ``torch-mlp`` the PyTorch head
(:mod:`bench.evaluation.head`), ``logreg`` logistic regression (:mod:`bench.evaluation.logreg`).
A new classifier is one builder in :data:`BUILDERS` (and its name in ``settings.CLASSIFIERS``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from bench.errors import ConfigError
from bench.evaluation.fold_record import ChosenPoint
from bench.evaluation.frames import Frames, Standardizer
from bench.evaluation.head import HeadSettings, TorchHead
from bench.evaluation.logreg import LogisticRegression, LogRegSettings
from bench.evaluation.selection import GridPoint, HeadSpec, chosen_record
from bench.evaluation.settings import ProtocolConfig
from bench.evaluation.stacked import GridMLP, MLPSettings


class Classifier(Protocol):
    """What the protocol asks of a fold's classifier."""

    points_: list[GridPoint]
    best_index_: int

    def fit(self, train: Frames, val: Frames, scaler: Standardizer,
            on_epoch: Callable[[int, int], None] | None = None) -> "Classifier": ...

    def predict_proba(self, frames: Frames, scaler: Standardizer) -> np.ndarray: ...


@dataclass(frozen=True)
class FoldSetup:
    """The fold's facts a classifier is built with (the protocol gives the rest).

    ``threads``: the user's ``--threads`` (fixed); ``None`` lets the stacked trainer choose.
    ``multilabel``: sigmoid outputs and binary cross-entropy (a multilabel task).
    """

    n_classes: int
    seed: int
    device: str = "cpu"
    threads: int | None = None
    multilabel: bool = False


def _stacked(protocol: ProtocolConfig, grid: list[HeadSpec], fold: FoldSetup) -> Classifier:
    return GridMLP(MLPSettings.from_protocol(
        protocol, n_classes=fold.n_classes, grid=[(g.lr, g.weight_decay) for g in grid],
        device=fold.device, random_state=fold.seed, threads=fold.threads,
        multilabel=fold.multilabel))


def _torch_head(protocol: ProtocolConfig, grid: list[HeadSpec], fold: FoldSetup) -> Classifier:
    return TorchHead(HeadSettings.from_protocol(
        protocol, n_classes=fold.n_classes, device=fold.device, random_state=fold.seed,
        multilabel=fold.multilabel), grid)


def _logreg(protocol: ProtocolConfig, grid: list[HeadSpec], fold: FoldSetup) -> Classifier:
    if fold.multilabel:
        raise ConfigError("classifier 'logreg' is multinomial: it cannot learn a multilabel "
                          "task", hint="use --protocol paper, hear or linear on this task")
    return LogisticRegression(LogRegSettings(n_classes=fold.n_classes, C=protocol.logreg_c,
                                             max_iter=protocol.max_epochs))


#: protocol ``classifier`` name -> builder
BUILDERS: dict[str, Callable[[ProtocolConfig, list[HeadSpec], FoldSetup], Classifier]] = {
    "keras-mlp": _stacked, "torch-mlp": _torch_head, "logreg": _logreg}


def fit_classifier(protocol: ProtocolConfig, grid: list[HeadSpec], fold: FoldSetup,
                   train: Frames, val: Frames, scaler: Standardizer,
                   on_epoch: Callable[[int, int], None] | None = None) -> Classifier:
    """Build the protocol's classifier and train it on ``train`` (early stopping and the
    choice on ``val``)."""
    return BUILDERS[protocol.classifier](protocol, grid, fold).fit(train, val, scaler,
                                                                    on_epoch=on_epoch)


def chosen_point(model: Classifier) -> ChosenPoint:
    """The ``chosen`` entry of a fold record for a fitted classifier."""
    return chosen_record(model.points_, model.best_index_)


def identity_scaler(dim: int) -> Standardizer:
    """No standardisation (``scaler_fit="none"``)."""
    return Standardizer(np.zeros(dim, np.float32), np.ones(dim, np.float32))

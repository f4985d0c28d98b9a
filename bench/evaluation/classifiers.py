"""The classifier of a fold, as the protocol names it: its grid, its training, its choice.

``keras-mlp`` is the paper's stacked trainer (:mod:`bench.evaluation.grid`), ``torch-mlp`` the
PyTorch head (:mod:`bench.evaluation.head`), ``logreg`` logistic regression
(:mod:`bench.evaluation.logreg`). All three return an object with ``points_`` (one
:class:`GridPoint` per grid point), ``best_index_`` and ``predict_proba(frames, scaler)``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from bench.evaluation.fold_record import ChosenPoint
from bench.evaluation.frames import Frames, Standardizer
from bench.evaluation.grid import GridMLP, MLPSettings
from bench.evaluation.head import HeadSettings, HeadSpec, TorchHead
from bench.evaluation.logreg import LogisticRegression, LogRegSettings
from bench.evaluation.settings import ProtocolConfig


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


def identity_scaler(dim: int) -> Standardizer:
    """No standardisation (``scaler_fit="none"``)."""
    return Standardizer(np.zeros(dim, np.float32), np.ones(dim, np.float32))


def fit_classifier(protocol: ProtocolConfig, grid: list[HeadSpec], n_classes: int,
                   train: Frames, val: Frames, scaler: Standardizer, seed: int,
                   device: str = "cpu", on_epoch: Callable[[int, int], None] | None = None,
                   threads: int | None = None):
    """Train the protocol's classifier on ``train`` (early stopping and choice on ``val``).
    ``threads``: the user's ``--threads`` (fixed); ``None`` lets the grid trainer choose."""
    if protocol.classifier == "logreg":
        return LogisticRegression(LogRegSettings(n_classes=n_classes, C=protocol.logreg_c,
                                                 max_iter=protocol.max_epochs)
                                  ).fit(train, scaler)
    if protocol.classifier == "torch-mlp":
        settings = HeadSettings(n_classes=n_classes, batch_size=protocol.batch_size,
                                max_epochs=protocol.max_epochs, patience=protocol.patience,
                                betas=(protocol.adam_beta1, protocol.adam_beta2),
                                eps=protocol.adam_eps, dropout=protocol.dropout,
                                batch_norm=protocol.batch_norm, monitor=protocol.monitor,
                                monitor_ties=protocol.monitor_ties,
                                val_every=protocol.val_every, shuffle=protocol.shuffle,
                                selection_unit=protocol.selection_unit,
                                tie_break=protocol.tie_break, device=device, random_state=seed)
        return TorchHead(settings, grid).fit(train, val, scaler, on_epoch=on_epoch)
    settings = MLPSettings(n_classes=n_classes, grid=[(g.lr, g.weight_decay) for g in grid],
                           hidden_sizes=protocol.hidden_sizes, batch_size=protocol.batch_size,
                           max_epochs=protocol.max_epochs, patience=protocol.patience,
                           betas=(protocol.adam_beta1, protocol.adam_beta2), eps=protocol.adam_eps,
                           selection_unit=protocol.selection_unit, tie_break=protocol.tie_break,
                           device=device, random_state=seed, threads=threads)
    return GridMLP(settings).fit(train, val, scaler, on_epoch=on_epoch)


def chosen_record(model) -> ChosenPoint:
    """The ``chosen`` entry of a fold record: the winning point's settings and epochs."""
    p = model.points_[model.best_index_]
    return ChosenPoint(lr=_or_none(p.lr), weight_decay=_or_none(p.weight_decay), epochs=p.epochs,
                       best_epoch=p.best_epoch,
                       hidden_sizes=None if p.hidden_sizes is None else list(p.hidden_sizes),
                       init=p.init)


def _or_none(x: float) -> float | None:
    # logistic regression has neither: null in JSON (strict JSON has no NaN)
    return None if x != x else x

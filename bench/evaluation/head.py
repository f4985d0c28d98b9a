"""A PyTorch classification head trained one grid point at a time (``classifier="torch-mlp"``).

The paper's recipe has its own fast trainer (:mod:`bench.evaluation.stacked`: every grid point in
one stacked model, gradients by hand). The peers' protocols need what that trainer leaves out:
batch normalisation and dropout (HEAR), other initialisations, networks of different depths in
one grid, early stopping on validation accuracy, validation every few epochs, unshuffled
batches. This head offers them with ordinary autograd and ``torch.optim.Adam``; it is meant for
pooled clips (one vector per clip), where a fold has a few thousand rows and speed is not the
question. The same Frames/Standardizer interfaces as the stacked trainer keep the protocol code
shared.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np

from bench.errors import ProtocolError
from bench.evaluation.frames import (Frames, Standardizer, clip_means, mean_average_precision,
                                     require_validation)
from bench.evaluation.recipe import Recipe
from bench.evaluation.selection import HeadSpec, select_winner, set_selected


@dataclass(kw_only=True)
class HeadSettings(Recipe):
    """The training recipe (everything but the grid point): the shared :class:`Recipe` and
    what only this head offers."""

    dropout: float = 0.0
    batch_norm: bool = False
    monitor: str = "val_loss"
    monitor_ties: str = "keep"
    val_every: int = 1
    shuffle: bool = True


def init_params(sizes: list[int], init: str, rng: np.random.Generator
                ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Kernels (fan_in, fan_out) and biases of each linear layer.

    ``glorot_uniform``: Keras (limit sqrt(6 / (fan_in + fan_out)), zero biases).
    ``xavier_uniform``/``xavier_normal``: PyTorch's xavier with HEAR's gain, 1 for the layer
    after the input and sqrt(2) for a layer after a ReLU; biases as ``nn.Linear`` draws them,
    uniform in +-1/sqrt(fan_in). ``torch_default``: ``nn.Linear``'s own (kaiming-uniform with
    a = sqrt(5), i.e. uniform in +-1/sqrt(fan_in), for kernels and biases alike).
    """
    params = []
    for k, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        bound = 1.0 / math.sqrt(fan_in)
        gain = 1.0 if k == 0 else math.sqrt(2.0)
        if init == "glorot_uniform":
            limit = math.sqrt(6.0 / (fan_in + fan_out))
            W = rng.uniform(-limit, limit, size=(fan_in, fan_out))
            b = np.zeros(fan_out)
        elif init == "xavier_uniform":
            limit = gain * math.sqrt(6.0 / (fan_in + fan_out))
            W = rng.uniform(-limit, limit, size=(fan_in, fan_out))
            b = rng.uniform(-bound, bound, size=fan_out)
        elif init == "xavier_normal":
            W = rng.normal(0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), size=(fan_in, fan_out))
            b = rng.uniform(-bound, bound, size=fan_out)
        elif init == "torch_default":
            W = rng.uniform(-bound, bound, size=(fan_in, fan_out))
            b = rng.uniform(-bound, bound, size=fan_out)
        else:
            raise ProtocolError(f"unknown initialisation {init!r}")
        params.append((W.astype(np.float32), b.astype(np.float32)))
    return params


def build_head(dim: int, spec: HeadSpec, settings: HeadSettings, seed: int):
    """The network of one grid point: [Linear -> (BatchNorm) -> (Dropout) -> ReLU] per hidden
    layer, then Linear (HEAR's order; no BatchNorm, dropout or ReLU after the last layer)."""
    import torch

    sizes = [dim, *spec.hidden_sizes, settings.n_classes]
    params = init_params(sizes, spec.init, np.random.default_rng(seed))
    layers: list = []
    for k, (W, b) in enumerate(params):
        lin = torch.nn.Linear(W.shape[0], W.shape[1])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W.T.copy()))
            lin.bias.copy_(torch.from_numpy(b))
        layers.append(lin)
        if k < len(params) - 1:
            if settings.batch_norm:
                layers.append(torch.nn.BatchNorm1d(W.shape[1]))
            if settings.dropout > 0:
                layers.append(torch.nn.Dropout(settings.dropout))
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


class TorchHead:
    """Train every grid point of one fold (one after another) and keep the winner.

    Parameters
    ----------
    settings : HeadSettings
    grid : list of HeadSpec

    Attributes
    ----------
    points_ : list of GridPoint
    best_index_ : int
    model_ : torch.nn.Module
        The chosen point's network with the weights of its best validation check.
    """

    def __init__(self, settings: HeadSettings, grid: list[HeadSpec]):
        self.settings = settings
        self.grid = grid

    def fit(self, train: Frames, val: Frames, scaler: Standardizer, on_epoch=None
            ) -> "TorchHead":
        import torch

        s = self.settings
        require_validation(val)
        dev = torch.device(s.device)
        Xtr = torch.from_numpy(scaler.transform(train.X[train.rows])).to(dev)
        ytr = torch.from_numpy(train.y).to(dev)
        Xva = torch.from_numpy(scaler.transform(val.X[val.rows])).to(dev)
        seeds = np.random.SeedSequence(s.random_state).generate_state(len(self.grid) + 1)
        self.points_, models = [], []
        G = len(self.grid)
        for g, spec in enumerate(self.grid):
            point, model = self._fit_point(spec, Xtr, ytr, Xva, val, int(seeds[g]))
            self.points_.append(point)
            models.append(model)
            if on_epoch is not None:
                # progress in the stacked trainer's unit (max_epochs per fold): each finished
                # grid point is its share of them
                done = round((g + 1) * s.max_epochs / G) - round(g * s.max_epochs / G)
                for k in range(done):
                    on_epoch(round(g * s.max_epochs / G) + k + 1, G - g - 1)
        set_selected(self.points_, s.selection_unit)
        self.best_index_ = select_winner(self.points_, s.tie_break)
        self.model_ = models[self.best_index_]
        return self

    def _fit_point(self, spec: HeadSpec, Xtr, ytr, Xva, val: Frames, seed: int):
        import torch

        s = self.settings
        dev = Xtr.device
        model = build_head(Xtr.shape[1], spec, s, seed).to(dev)
        kernels = [m.weight for m in model if isinstance(m, torch.nn.Linear)]
        opt = torch.optim.Adam(model.parameters(), lr=spec.lr, betas=s.betas, eps=s.eps)
        order_rng = np.random.default_rng(seed + 1)
        point = spec.point()
        point.val_metric = "mAP" if s.multilabel else None
        best_state, best_value, wait = copy.deepcopy(model.state_dict()), None, 0
        n = Xtr.shape[0]
        # dropout draws from torch's global generator: fork it so that a fit is reproducible
        # and leaves the caller's random state alone
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for epoch in range(1, s.max_epochs + 1):
                model.train()
                order = order_rng.permutation(n) if s.shuffle else np.arange(n)
                for start in range(0, n, s.batch_size):
                    idx = torch.from_numpy(order[start:start + s.batch_size]).to(dev)
                    if s.batch_norm and len(idx) == 1:
                        continue  # batch norm cannot train on one row (a last batch of one)
                    opt.zero_grad(set_to_none=True)
                    loss = _loss(model(Xtr[idx]), ytr[idx], s.multilabel)
                    if spec.weight_decay:
                        loss = loss + spec.weight_decay * sum((W ** 2).sum() for W in kernels)
                    loss.backward()
                    opt.step()
                point.epochs = epoch
                # validate every val_every epochs, and at the last epoch if never before
                if epoch % s.val_every and not (epoch == s.max_epochs and best_value is None):
                    continue
                loss_v, frame_acc, clip_acc = self._validate(model, kernels, spec, Xva, val)
                value = loss_v if s.monitor == "val_loss" else (
                    clip_acc if s.selection_unit == "clip" else frame_acc)
                if _improves(value, best_value, s.monitor, s.monitor_ties):
                    best_value, wait = value, 0
                    best_state = copy.deepcopy(model.state_dict())
                    point.val_loss, point.best_epoch = loss_v, epoch
                    point.val_frame_accuracy, point.val_clip_accuracy = frame_acc, clip_acc
                else:
                    wait += 1
                    if wait >= s.patience:
                        break
        model.load_state_dict(best_state)
        model.eval()
        return point, model

    def _validate(self, model, kernels, spec: HeadSpec, Xva, val: Frames):
        import torch

        model.eval()
        with torch.no_grad():
            logits = model(Xva).double()
            y = torch.from_numpy(val.y).to(Xva.device)
            loss = _loss(logits, y.double() if val.multilabel else y, val.multilabel).item()
            if spec.weight_decay:
                loss += spec.weight_decay * float(sum((W.double() ** 2).sum() for W in kernels))
            proba = _outputs(logits, val.multilabel).cpu().numpy()
        if val.multilabel:  # mAP of the frames and of the clips (mean of frame probabilities)
            return (loss, mean_average_precision(val.y, proba),
                    mean_average_precision(val.clip_labels(),
                                           clip_means(proba, val.clip, val.n_clips)))
        frame_acc = float((proba.argmax(axis=1) == val.y).mean())
        scores = np.zeros((val.n_clips, proba.shape[1]))
        np.add.at(scores, val.clip, proba)
        clip_acc = float((scores.argmax(axis=1) == val.clip_labels()).mean())
        return loss, frame_acc, clip_acc

    def predict_proba(self, frames: Frames, scaler: Standardizer, chunk: int = 4096
                      ) -> np.ndarray:
        """Class likelihoods of every frame with the chosen network, shape (n_frames, C)."""
        import torch

        dev = next(self.model_.parameters()).device
        out = np.empty((len(frames), self.settings.n_classes), dtype=np.float32)
        with torch.no_grad():
            for start in range(0, len(frames), chunk):
                rows = frames.rows[start:start + chunk]
                x = torch.from_numpy(scaler.transform(frames.X[rows])).to(dev)
                out[start:start + len(rows)] = _outputs(self.model_(x),
                                                        self.settings.multilabel).cpu().numpy()
        return out


def _loss(logits, y, multilabel: bool):
    """Cross-entropy of softmax outputs, or (multilabel) the mean binary cross-entropy of
    sigmoid outputs over rows and classes (HEAR's ``BCEWithLogitsLoss``)."""
    import torch

    if multilabel:
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, y)
    return torch.nn.functional.cross_entropy(logits, y)


def _outputs(logits, multilabel: bool):
    import torch

    return torch.sigmoid(logits) if multilabel else torch.softmax(logits, dim=1)


def _improves(value: float, best: float | None, monitor: str, ties: str) -> bool:
    """Whether a validation check improves on the best so far (the first check always does)."""
    if best is None:
        return True
    if value == best:
        return ties == "update"
    return value < best if monitor == "val_loss" else value > best

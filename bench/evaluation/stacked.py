"""The downstream MLP and its training loop: all grid points of a fold trained together.

The model is the authors' (marl/l3embedding): D -> 512 ReLU -> 128 ReLU -> C softmax,
glorot-uniform kernels, zero biases, Keras ``l2(wd)`` penalty ``wd * sum(W**2)`` on kernels only,
Adam, cross-entropy, mini-batches reshuffled every epoch, early stopping on validation loss with
the best-validation-loss weights restored.

Speed comes from training the G grid points as one model: their parameters are stacked along a
leading axis, every mini-batch is shared, each layer of all G networks is one batched matrix
product (the first layer multiplies the same batch by all G kernels), gradients are computed by
hand into preallocated buffers, and one fused Adam step updates everything. A grid point whose
patience runs out is dropped from the stack, so the rest go on without it. With the same
initial weights and batch order, the result equals training the G networks one after another
(:func:`classify_reference.fit_sequential`, used by the tests and the benchmark) up to
float rounding.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from bench.evaluation.frames import (Frames, Standardizer, clip_scores,  # noqa: F401  (re-exported)
                                     require_validation)
from bench.evaluation.kernels import (TINY_NETWORK_PARAMS, DeviceData, FusedAdam,  # noqa: F401
                                      epoch_orders, evaluate_points, forward_backward,
                                      glorot_init, point_seeds, predict_proba)
from bench.evaluation.recipe import Recipe
from bench.evaluation.selection import GridPoint, select_winner, set_selected
from bench.evaluation.threadtune import BLOCK_BATCHES, ThreadChooser
from bench.util.threads import set_torch_threads, torch_threads


@dataclass(kw_only=True)
class MLPSettings(Recipe):
    """The training recipe shared by the grouped and the sequential trainer: the shared
    :class:`Recipe`, the (learning rate, weight decay) grid and the fixed hidden shape."""

    grid: list[tuple[float, float]]
    hidden_sizes: tuple[int, ...] = (512, 128)
    #: "auto" picks by network size; "fused" or "stacked" force one Adam implementation
    adam_impl: str = "auto"
    #: CPU threads while training; None: one thread for tiny networks, otherwise chosen while
    #: training between torch's setting and one (bench.evaluation.threadtune)
    threads: int | None = None

    def layer_sizes(self, dim: int) -> list[int]:
        return [dim, *self.hidden_sizes, self.n_classes]


# -- the grouped trainer ---------------------------------------------------------------------------
class GridMLP:
    """Train every grid point of one fold at once and keep the winner.

    Parameters
    ----------
    settings : MLPSettings
        Recipe and grid. Stored, not acted on, at construction (scikit-learn's habit).

    Attributes
    ----------
    points_ : list of GridPoint
        Per grid point: validation accuracy and loss at its best epoch, epochs run.
    best_index_ : int
        The chosen grid point.
    params_ : list of (W, b) ndarray pairs
        The chosen point's weights at its best epoch.
    """

    def __init__(self, settings: MLPSettings):
        self.settings = settings

    # The stacked parameter tensors: W[l] (G, fan_in, fan_out), b[l] (G, 1, fan_out).
    def fit(self, train: Frames, val: Frames, scaler: Standardizer,
            on_epoch: Callable[[int, int], None] | None = None) -> "GridMLP":
        """Train all grid points on ``train``, early-stop each on ``val``, choose the winner.

        Parameters
        ----------
        train, val : Frames
            Training and validation frames (validation must not be empty).
        scaler : Standardizer
            Applied to every batch on the fly.
        on_epoch : callable, optional
            Called as ``on_epoch(epoch, n_still_training)`` after each epoch.
        """
        import torch

        s = self.settings
        require_validation(val)
        device = torch.device(s.device)
        G = len(s.grid)
        dim = train.X.shape[1]
        sizes = s.layer_sizes(dim)
        shuffle_seed, init_seeds = point_seeds(s.random_state, G)
        inits = [glorot_init(sizes, seed) for seed in init_seeds]
        L = len(sizes) - 1

        def stack(k: int, which: int) -> torch.Tensor:
            arr = np.stack([inits[g][k][which] for g in range(G)])
            if which == 1:
                arr = arr[:, None, :]
            return torch.from_numpy(np.ascontiguousarray(arr)).to(device)

        W = [stack(k, 0) for k in range(L)]
        b = [stack(k, 1) for k in range(L)]
        best_W = [w.clone() for w in W]
        best_b = [x.clone() for x in b]
        points = [GridPoint(lr, wd, val_metric="mAP" if s.multilabel else None)
                  for lr, wd in s.grid]

        data = DeviceData(train, scaler, device)
        vdata = DeviceData(val, scaler, device)
        n_params = G * sum(a * c + c for a, c in zip(sizes[:-1], sizes[1:]))
        threads = s.threads or (1 if n_params < TINY_NETWORK_PARAMS else None)
        with torch_threads(threads):
            # no --threads given, a network worth sharing, on the CPU: measure which is faster
            chooser = ThreadChooser(torch.get_num_threads(),
                                    adaptive=threads is None and device.type == "cpu")
            self._train(s, W, b, best_W, best_b, points, data, vdata, shuffle_seed, on_epoch,
                        chooser)
        self.threads_chosen_ = chooser.history
        set_selected(points, s.selection_unit)
        self.points_ = points
        self.best_index_ = select_winner(points, s.tie_break)
        g = self.best_index_
        self.params_ = [(best_W[k][g].cpu().numpy().copy(), best_b[k][g, 0].cpu().numpy().copy())
                        for k in range(L)]
        return self

    def _train(self, s, W, b, best_W, best_b, points, data, vdata, shuffle_seed, on_epoch,
               chooser: ThreadChooser):
        import torch

        G, L = len(s.grid), len(W)
        active = list(range(G))  # grid index of each slot in the stack
        wait = [0] * G
        state = FusedAdam(W, b, [s.grid[g] for g in active], s.betas, s.eps, s.adam_impl)
        orders = epoch_orders(len(data.rows), shuffle_seed)

        for epoch in range(1, s.max_epochs + 1):
            order = torch.from_numpy(next(orders)).to(data.device)
            starts = range(0, len(data.rows), s.batch_size)
            t_train = time.perf_counter()
            with torch.no_grad():
                for block, first in enumerate(range(0, len(starts), BLOCK_BATCHES)):
                    threads = set_torch_threads(chooser.threads_for_block(block))
                    block_starts = starts[first:first + BLOCK_BATCHES]
                    t_block = time.perf_counter()
                    for start in block_starts:
                        xb, yb = data.batch(order[start:start + s.batch_size])
                        forward_backward(W, b, xb, yb, state.gW, state.gb, s.multilabel)
                        state.step()
                    chooser.record_block(threads, time.perf_counter() - t_block,
                                         len(block_starts), block)
                t_train = time.perf_counter() - t_train
                set_torch_threads(chooser.chosen)
                losses, frame_acc, clip_acc = evaluate_points(W, b, vdata, s.n_classes,
                                                        [s.grid[g][1] for g in active],
                                                        multilabel=s.multilabel)
            stopped = []
            for slot, g in enumerate(active):
                p = points[g]
                p.epochs = epoch
                if losses[slot] < p.val_loss:  # Keras: improvement when strictly lower
                    p.val_loss = float(losses[slot])
                    p.val_frame_accuracy = float(frame_acc[slot])
                    p.val_clip_accuracy = float(clip_acc[slot])
                    p.best_epoch = epoch
                    wait[g] = 0
                    for k in range(L):
                        best_W[k][g].copy_(W[k][slot])
                        best_b[k][g].copy_(b[k][slot])
                else:
                    wait[g] += 1
                    if wait[g] >= s.patience:
                        stopped.append(slot)
            chooser.end_epoch(t_train, len(starts), changed_work=bool(stopped))
            if on_epoch is not None:
                on_epoch(epoch, len(active) - len(stopped))
            if stopped:
                keep = [slot for slot in range(len(active)) if slot not in stopped]
                if not keep:
                    break
                active = [active[slot] for slot in keep]
                W, b = state.compact(keep, [s.grid[g] for g in active])

    def predict_proba(self, frames: Frames, scaler: Standardizer) -> np.ndarray:
        """Class likelihoods of every frame with the chosen weights, shape (n_frames, C)."""
        return predict_proba(self.params_, frames, scaler, self.settings.device,
                             multilabel=self.settings.multilabel)

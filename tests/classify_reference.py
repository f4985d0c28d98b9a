"""The sequential reference for the grid trainer: the grid points trained one after another
with plain PyTorch (autograd, ``nn.Linear``, ``torch.optim.Adam``, the L2 penalty in the loss).

It shares nothing with :class:`bench.evaluation.stacked.GridMLP` but the recipe, the initial weights and
the batch order, so the tests can check the fast trainer against it and
``benchmarks/grid_bench.py`` can measure both.
"""

from __future__ import annotations

import numpy as np

from bench.evaluation.selection import GridPoint, select_winner
from bench.evaluation.stacked import (Frames, MLPSettings, Standardizer, clip_scores, epoch_orders,
                                      glorot_init, point_seeds)


def fit_sequential(settings: MLPSettings, train: Frames, val: Frames, scaler: Standardizer,
                   ) -> tuple[list[GridPoint], int, list[tuple[np.ndarray, np.ndarray]]]:
    """Train the grid points one after another with plain PyTorch (autograd, ``nn.Linear``,
    ``torch.optim.Adam``, the L2 penalty added to the loss).

    Same initial weights and batch order as :class:`GridMLP`; this is the independent reference
    the tests compare against and the baseline the benchmark measures.

    Returns
    -------
    points, best_index, params
    """
    import torch
    from torch import nn

    s = settings
    dim = train.X.shape[1]
    sizes = s.layer_sizes(dim)
    shuffle_seed, init_seeds = point_seeds(s.random_state, len(s.grid))
    Xtr = scaler.transform(train.X[train.rows])
    Xva = torch.from_numpy(scaler.transform(val.X[val.rows]))
    ytr = torch.from_numpy(train.y)
    yva = torch.from_numpy(val.y)
    clip_y = val.clip_labels()
    points: list[GridPoint] = []
    best_params = []
    for (lr, wd), seed in zip(s.grid, init_seeds):
        layers = []
        for k, (W, bias) in enumerate(glorot_init(sizes, seed)):
            lin = nn.Linear(W.shape[0], W.shape[1])
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(W.T))
                lin.bias.copy_(torch.from_numpy(bias))
            layers.append(lin)
            if k < len(sizes) - 2:
                layers.append(nn.ReLU())
        model = nn.Sequential(*layers)
        kernels = [m.weight for m in model if isinstance(m, nn.Linear)]
        opt = torch.optim.Adam(model.parameters(), lr=lr, betas=s.betas, eps=s.eps)
        point = GridPoint(lr, wd)
        best_state, wait = None, 0
        orders = epoch_orders(len(train), shuffle_seed)
        for epoch in range(1, s.max_epochs + 1):
            order = torch.from_numpy(next(orders))
            model.train()
            for start in range(0, len(train), s.batch_size):
                idx = order[start:start + s.batch_size]
                xb = torch.from_numpy(Xtr[idx.numpy()])
                loss = nn.functional.cross_entropy(model(xb), ytr[idx])
                loss = loss + wd * sum((w ** 2).sum() for w in kernels)
                opt.zero_grad()
                loss.backward()
                opt.step()
            with torch.no_grad():
                logits = model(Xva)
                vloss = float(nn.functional.cross_entropy(logits, yva, reduction="sum").double()
                              / len(yva) + wd * sum(float((w.double() ** 2).sum()) for w in kernels))
                proba = torch.softmax(logits, 1).numpy()
                frame_acc = float((logits.argmax(1) == yva).double().mean())
                clip_acc = float((clip_scores(proba, val.clip, val.n_clips).argmax(1)
                                  == clip_y).mean())
            point.epochs = epoch
            if vloss < point.val_loss:
                point.val_loss, point.best_epoch = vloss, epoch
                point.val_frame_accuracy, point.val_clip_accuracy = frame_acc, clip_acc
                best_state = [(m.weight.detach().T.clone().numpy(), m.bias.detach().clone().numpy())
                              for m in model if isinstance(m, nn.Linear)]
                wait = 0
            else:
                wait += 1
                if wait >= s.patience:
                    break
        point.val_accuracy = (point.val_clip_accuracy if s.selection_unit == "clip"
                              else point.val_frame_accuracy)
        points.append(point)
        best_params.append(best_state)
    best = select_winner(points, s.tie_break)
    return points, best, best_params[best]

"""The grid trainer's numerical kernels: stacked forward/backward, validation, fused Adam.

All G grid networks share every mini-batch; their parameters are stacked along a leading axis,
so each layer of all networks is one batched matrix product and gradients go by hand into
preallocated buffers (see :mod:`bench.evaluation.stacked`).
"""

from __future__ import annotations

import math

import numpy as np

from bench.evaluation.frames import Frames, Standardizer, clip_means, mean_average_precision

#: a stack of grid networks below this many parameters is "tiny" (tests, toy grids): it trains on
#: one thread (its operations are too small to share) and with the few-operation Adam (the fused
#: kernel's per-group call costs more than the arithmetic). Bigger stacks choose while training
#: between torch's threads and one (bench.evaluation.threadtune: on an idle 2-core machine two
#: threads are 1.4-1.6x faster for the D=80 baseline MLP and D=512; next to CPU-bound neighbours
#: one is) and use the fused Adam kernel.
TINY_NETWORK_PARAMS = 100_000


def glorot_init(sizes: list[int], seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Glorot-uniform kernels (fan_in, fan_out) and zero biases, from one seed."""
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        W = rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(np.float32)
        params.append((W, np.zeros(fan_out, dtype=np.float32)))
    return params


def point_seeds(random_state: int, n_points: int) -> tuple[int, list[int]]:
    """Seed of the batch order and one initialisation seed per grid point."""
    ss = np.random.SeedSequence(random_state)
    children = ss.spawn(n_points + 1)
    shuffle_seed = int(children[0].generate_state(1)[0])
    return shuffle_seed, [int(c.generate_state(1)[0]) for c in children[1:]]


def epoch_orders(n: int, shuffle_seed: int):
    """The training-row order of each epoch (a fresh permutation every epoch)."""
    rng = np.random.default_rng(shuffle_seed)
    while True:
        yield rng.permutation(n)


def predict_proba(params: list[tuple[np.ndarray, np.ndarray]], frames: Frames,
                  scaler: Standardizer, device: str = "cpu", chunk: int = 4096,
                  multilabel: bool = False) -> np.ndarray:
    """Softmax outputs (``multilabel``: sigmoid outputs) of one MLP on standardised frames,
    computed in chunks."""
    import torch

    dev = torch.device(device)
    Ws = [torch.from_numpy(W).to(dev) for W, _ in params]
    bs = [torch.from_numpy(bias).to(dev) for _, bias in params]
    data = DeviceData(frames, scaler, dev)
    out = np.empty((len(frames), Ws[-1].shape[1]), dtype=np.float32)
    with torch.no_grad():
        for start in range(0, len(frames), chunk):
            idx = torch.arange(start, min(start + chunk, len(frames)), device=dev)
            h, _ = data.batch(idx)
            for k, (Wk, bk) in enumerate(zip(Ws, bs)):
                h = torch.addmm(bk, h, Wk)
                if k < len(Ws) - 1:
                    h = h.clamp_min_(0)
            out[start:start + len(idx)] = (torch.sigmoid(h) if multilabel
                                           else torch.softmax(h, dim=1)).cpu().numpy()
    return out


# -- internals -----------------------------------------------------------------------------------
class DeviceData:
    """Standardised batches gathered from the shared matrix (on the fly: no standardised copy)."""

    def __init__(self, frames: Frames, scaler: Standardizer, device):
        import torch

        self.device = device
        X = frames.X
        if not X.flags.writeable:  # torch.from_numpy warns on read-only memory maps
            X = np.asarray(X)
        self.X = torch.from_numpy(X)
        self.rows = torch.from_numpy(frames.rows)
        self.y = torch.from_numpy(frames.y).to(device)
        self.clip = torch.from_numpy(frames.clip).to(device)
        self.n_clips = frames.n_clips
        self.clip_y = torch.from_numpy(frames.clip_labels()).to(device)
        self.mean = torch.from_numpy(scaler.mean).to(device)
        self.inv_scale = torch.from_numpy(1.0 / scaler.scale).to(device)
        if device.type != "cpu":
            # one transfer of this set's rows instead of one per batch
            self.X = self.X.index_select(0, self.rows).to(device)
            self.rows = torch.arange(len(frames.rows), device=device)

    def batch(self, idx):
        import torch

        rows = self.rows[idx.to(self.rows.device)] if self.device.type == "cpu" else self.rows[idx]
        x = torch.index_select(self.X, 0, rows).to(self.device, non_blocking=True)
        x.sub_(self.mean).mul_(self.inv_scale)
        return x, self.y[idx]


def forward_backward(W, b, xb, yb, gW, gb, multilabel: bool = False) -> None:
    """Forward and backward pass of all stacked networks on one shared batch.

    Writes the gradients of the mean cross-entropy into ``gW``/``gb`` (the L2 term is added by
    the optimizer as coupled weight decay). ``multilabel``: ``yb`` holds 0/1 rows and the loss
    is the binary cross-entropy of sigmoid outputs, averaged over rows and classes (PyTorch's
    ``BCEWithLogitsLoss``, HEAR's loss), whose gradient at the logits is
    ``(sigmoid(z) - y) / (B * C)``.
    """
    import torch

    G = W[0].shape[0]
    B = xb.shape[0]
    L = len(W)
    x = xb.unsqueeze(0).expand(G, B, xb.shape[1])
    acts = [x]
    pre = []
    h = x
    for k in range(L):
        z = torch.baddbmm(b[k], h, W[k])
        pre.append(z)
        h = z.clamp_min(0) if k < L - 1 else z
        acts.append(h)
    if multilabel:
        d = torch.sigmoid(pre[-1]).sub_(yb).div_(B * yb.shape[1])
    else:
        d = torch.softmax(pre[-1], dim=2)
        d[:, torch.arange(B, device=d.device), yb] -= 1.0
        d.div_(B)
    for k in range(L - 1, -1, -1):
        torch.bmm(acts[k].transpose(1, 2), d, out=gW[k])
        torch.sum(d, dim=1, keepdim=True, out=gb[k])
        if k > 0:
            d = torch.bmm(d, W[k].transpose(1, 2))
            d.mul_(pre[k - 1] > 0)


def evaluate_points(W, b, vdata: DeviceData, n_classes: int, weight_decays: list[float],
              chunk: int = 2048, multilabel: bool = False):
    """Validation loss (cross-entropy + the Keras L2 penalty), frame and clip accuracy per
    stacked network (``multilabel``: binary cross-entropy, frame and clip mAP)."""
    import torch

    if multilabel:
        return _evaluate_multilabel(W, b, vdata, weight_decays, chunk)
    G = W[0].shape[0]
    n = len(vdata.rows)
    dev = W[0].device
    ce = torch.zeros(G, dtype=torch.float64, device=dev)
    correct = torch.zeros(G, dtype=torch.float64, device=dev)
    clip_sum = torch.zeros(G, vdata.n_clips, n_classes, dtype=torch.float64, device=dev)
    for start in range(0, n, chunk):
        idx = torch.arange(start, min(start + chunk, n), device=dev)
        xb, yb = vdata.batch(idx)
        h = xb.unsqueeze(0).expand(G, *xb.shape)
        for k in range(len(W)):
            h = torch.baddbmm(b[k], h, W[k])
            if k < len(W) - 1:
                h = h.clamp_min(0)
        logp = torch.log_softmax(h, dim=2)
        ce -= logp[:, torch.arange(len(idx), device=dev), yb].sum(dim=1, dtype=torch.float64)
        correct += (logp.argmax(dim=2) == yb).sum(dim=1, dtype=torch.float64)
        clip_sum.index_add_(1, vdata.clip[idx], logp.exp().double())
    penalty = torch.zeros(G, dtype=torch.float64, device=dev)
    for Wk in W:
        penalty += Wk.double().pow(2).sum(dim=(1, 2))
    wd = torch.tensor(weight_decays, dtype=torch.float64, device=dev)
    losses = (ce / n + wd * penalty).cpu().numpy()
    frame_acc = (correct / n).cpu().numpy()
    clip_acc = (clip_sum.argmax(dim=2) == vdata.clip_y).double().mean(dim=1).cpu().numpy()
    return losses, frame_acc, clip_acc


def _l2_losses(W, weight_decays: list[float], data_loss):
    import torch

    penalty = torch.zeros(W[0].shape[0], dtype=torch.float64, device=W[0].device)
    for Wk in W:
        penalty += Wk.double().pow(2).sum(dim=(1, 2))
    wd = torch.tensor(weight_decays, dtype=torch.float64, device=W[0].device)
    return (data_loss + wd * penalty).cpu().numpy()


def _evaluate_multilabel(W, b, vdata: DeviceData, weight_decays: list[float], chunk: int):
    """:func:`evaluate_points` of a multilabel task: the mean binary cross-entropy plus the L2
    penalty, the mAP of the frames and of the clips (mean of each clip's frame probabilities)."""
    import torch

    G = W[0].shape[0]
    n = len(vdata.rows)
    dev = W[0].device
    bce = torch.zeros(G, dtype=torch.float64, device=dev)
    proba = []
    for start in range(0, n, chunk):
        idx = torch.arange(start, min(start + chunk, n), device=dev)
        xb, yb = vdata.batch(idx)
        h = xb.unsqueeze(0).expand(G, *xb.shape)
        for k in range(len(W)):
            h = torch.baddbmm(b[k], h, W[k])
            if k < len(W) - 1:
                h = h.clamp_min(0)
        bce += torch.nn.functional.binary_cross_entropy_with_logits(
            h.double(), yb.double().expand_as(h), reduction="none").sum(dim=(1, 2))
        proba.append(torch.sigmoid(h).double().cpu().numpy())
    p = np.concatenate(proba, axis=1)  # (G, n, C)
    y = vdata.y.cpu().numpy()
    clip = vdata.clip.cpu().numpy()
    clip_y = vdata.clip_y.cpu().numpy()
    frame_map, clip_map = np.empty(G), np.empty(G)
    for g in range(G):
        frame_map[g] = mean_average_precision(y, p[g])
        clip_map[g] = mean_average_precision(clip_y, clip_means(p[g], clip, vdata.n_clips))
    losses = _l2_losses(W, weight_decays, bce / (n * p.shape[2]))
    return losses, frame_map, clip_map


class FusedAdam:
    """Adam over stacked parameters with a learning rate and weight decay per grid point.

    Two implementations of the same arithmetic (``torch.optim.Adam``, coupled weight decay
    ``2 * wd`` on kernels: the gradient of Keras' ``l2`` penalty ``wd * sum(W**2)``):

    * large networks: each grid point's slice of the stacks is handed to the fused
      ``torch.optim.Adam`` kernel as its own parameter (a view sharing storage), so every value is
      read and written once per step; memory traffic dominates at these sizes;
    * small networks: a handful of tensor operations on the whole stacks with the per-point
      rates broadcast, because the per-group call overhead of the fused path dominates there.
    """

    def __init__(self, W, b, grid, betas, eps, mode: str = "auto"):
        import torch

        self.betas, self.eps = betas, eps
        self.W, self.b = W, b
        self.gW = [torch.zeros_like(w) for w in W]
        self.gb = [torch.zeros_like(x) for x in b]
        self.mW = [torch.zeros_like(w) for w in W]
        self.vW = [torch.zeros_like(w) for w in W]
        self.mb = [torch.zeros_like(x) for x in b]
        self.vb = [torch.zeros_like(x) for x in b]
        self.n_steps = 0
        n_params = sum(w.numel() for w in W) + sum(x.numel() for x in b)
        self.fused = mode == "fused" or (mode == "auto" and n_params >= TINY_NETWORK_PARAMS)
        self._build(grid)

    def _build(self, grid) -> None:
        import torch

        dev = self.W[0].device
        self.lr = torch.tensor([lr for lr, _ in grid], dtype=torch.float32, device=dev)
        self.wd2 = torch.tensor([2.0 * wd for _, wd in grid], dtype=torch.float32, device=dev)
        if not self.fused:
            return
        groups, state = [], {}
        step = torch.tensor(float(self.n_steps), dtype=torch.float32, device=dev)
        for slot, (lr, wd) in enumerate(grid):
            kernels, biases = [], []
            for P, Gr, M, V, bucket in ((self.W, self.gW, self.mW, self.vW, kernels),
                                       (self.b, self.gb, self.mb, self.vb, biases)):
                for k in range(len(P)):
                    p = torch.nn.Parameter(P[k][slot], requires_grad=False)
                    p.grad = Gr[k][slot]
                    state[p] = {"step": step.clone(), "exp_avg": M[k][slot],
                                "exp_avg_sq": V[k][slot]}
                    bucket.append(p)
            groups.append({"params": kernels, "lr": lr, "weight_decay": 2.0 * wd})
            groups.append({"params": biases, "lr": lr, "weight_decay": 0.0})
        kwargs = dict(betas=self.betas, eps=self.eps)
        try:
            self.opt = torch.optim.Adam(groups, fused=True, **kwargs)
        except (RuntimeError, TypeError):  # a torch or device without the fused kernel
            self.opt = torch.optim.Adam(groups, foreach=True, **kwargs)
        for p, st in state.items():
            self.opt.state[p] = st

    def step(self) -> None:
        self.n_steps += 1
        if self.fused:
            self.opt.step()
            return
        b1, b2 = self.betas
        t = self.n_steps
        bc1 = 1.0 - b1 ** t
        bc2_sqrt = math.sqrt(1.0 - b2 ** t)
        for P, Gr, M, V, decay in ((self.W, self.gW, self.mW, self.vW, True),
                                  (self.b, self.gb, self.mb, self.vb, False)):
            for p, g, m, v in zip(P, Gr, M, V):
                shape = (-1,) + (1,) * (p.dim() - 1)
                if decay:
                    g.addcmul_(self.wd2.view(shape), p)
                m.lerp_(g, 1.0 - b1)
                v.mul_(b2).addcmul_(g, g, value=1.0 - b2)
                denom = (v.sqrt() / bc2_sqrt).add_(self.eps)
                p.sub_((self.lr / bc1).view(shape) * m / denom)

    def compact(self, keep: list[int], grid):
        """Drop stopped grid points from every stack; return the new (W, b)."""
        import torch

        idx = torch.tensor(keep, device=self.W[0].device)
        for name in ("W", "b", "gW", "gb", "mW", "vW", "mb", "vb"):
            setattr(self, name, [t.index_select(0, idx).contiguous() for t in getattr(self, name)])
        self._build(grid)
        return self.W, self.b

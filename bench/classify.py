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
(:func:`bench.classify_reference.fit_sequential`, used by the tests and the benchmark) up to
float rounding.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import numpy as np

from bench.errors import ProtocolError


#: a stack of grid networks below this many parameters is "tiny" (tests, toy grids): it trains on
#: one thread (its operations are too small to share) and with the few-operation Adam (the fused
#: kernel's per-group call costs more than the arithmetic). Bigger stacks use all of torch's
#: threads (measured on an idle 2-core machine: 1.5x faster for the D=80 baseline MLP, 1.8x for
#: D=512; but on a machine busy with other work spinning threads collapse, 20x slower: use
#: --threads 1 when running jobs side by side) and the fused Adam kernel.
TINY_NETWORK_PARAMS = 100_000


# -- data ---------------------------------------------------------------------------------------
@dataclass
class Frames:
    """Frames taken from a shared embedding matrix by row number.

    Attributes
    ----------
    X : ndarray, shape (n_total, dim), float32
        All frame embeddings of a dataset (not copied).
    rows : ndarray of int64
        The rows that belong to this set.
    y : ndarray of int64
        Class index of each selected row.
    clip : ndarray of int64
        Clip number (0..n_clips-1 within this set) of each selected row.
    """

    X: np.ndarray
    rows: np.ndarray
    y: np.ndarray
    clip: np.ndarray

    def __post_init__(self) -> None:
        self.rows = np.asarray(self.rows, dtype=np.int64)
        self.y = np.asarray(self.y, dtype=np.int64)
        self.clip = np.asarray(self.clip, dtype=np.int64)
        if not (len(self.rows) == len(self.y) == len(self.clip)):
            raise ValueError("rows, y and clip must have the same length")

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def n_clips(self) -> int:
        return int(self.clip.max()) + 1 if len(self.clip) else 0

    def clip_labels(self) -> np.ndarray:
        """The label of each clip (all frames of a clip share it)."""
        out = np.full(self.n_clips, -1, dtype=np.int64)
        out[self.clip] = self.y
        return out


@dataclass
class Standardizer:
    """Per-dimension mean and scale, as scikit-learn's StandardScaler (ddof 0, scale 1 where the
    variance is 0)."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray, rows: np.ndarray, chunk: int = 8192) -> "Standardizer":
        """Fit on ``X[rows]`` in chunks with float64 sums (no copy of the whole set)."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) == 0:
            raise ProtocolError("cannot fit the standardisation on zero frames")
        dim = X.shape[1]
        total = np.zeros(dim)
        for s in range(0, len(rows), chunk):
            total += X[rows[s:s + chunk]].sum(axis=0, dtype=np.float64)
        mean = total / len(rows)
        sq = np.zeros(dim)
        for s in range(0, len(rows), chunk):
            d = X[rows[s:s + chunk]].astype(np.float64) - mean
            sq += np.einsum("ij,ij->j", d, d)
        var = sq / len(rows)
        scale = np.sqrt(var)
        scale[scale < 10 * np.finfo(np.float64).eps] = 1.0
        return cls(mean.astype(np.float32), scale.astype(np.float32))

    def transform(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale).astype(np.float32)


# -- configuration and fitted state ----------------------------------------------------------------
@dataclass
class GridPoint:
    """What one grid point did: its hyper-parameters and its best-validation-loss epoch."""

    lr: float
    weight_decay: float
    val_accuracy: float = float("nan")
    val_frame_accuracy: float = float("nan")
    val_clip_accuracy: float = float("nan")
    val_loss: float = float("inf")
    best_epoch: int = 0
    epochs: int = 0

    def to_dict(self) -> dict:
        return {"lr": self.lr, "weight_decay": self.weight_decay,
                "val_accuracy": self.val_accuracy, "val_loss": self.val_loss,
                "val_frame_accuracy": self.val_frame_accuracy,
                "val_clip_accuracy": self.val_clip_accuracy,
                "epochs": self.epochs, "best_epoch": self.best_epoch}


@dataclass
class MLPSettings:
    """The training recipe shared by the grouped and the sequential trainer."""

    n_classes: int
    grid: list[tuple[float, float]]
    hidden_sizes: tuple[int, ...] = (512, 128)
    batch_size: int = 32
    max_epochs: int = 50
    patience: int = 20
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    selection_unit: str = "clip"
    tie_break: str = "val_loss"
    device: str = "cpu"
    random_state: int = 0
    #: "auto" picks by network size; "fused" or "stacked" force one Adam implementation
    adam_impl: str = "auto"
    #: CPU threads while training; None: one thread for tiny networks, torch's setting otherwise
    threads: int | None = None

    def layer_sizes(self, dim: int) -> list[int]:
        return [dim, *self.hidden_sizes, self.n_classes]


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


def select_winner(points: list[GridPoint], tie_break: str) -> int:
    """Index of the grid point with the highest validation accuracy.

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
        if len(val) == 0:
            raise ProtocolError("the validation split is empty; early stopping and the grid "
                                "search need validation frames",
                                hint="use more clips per class or a larger val_fraction")
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
        points = [GridPoint(lr, wd) for lr, wd in s.grid]

        data = _DeviceData(train, scaler, device)
        vdata = _DeviceData(val, scaler, device)
        n_params = G * sum(a * c + c for a, c in zip(sizes[:-1], sizes[1:]))
        threads = s.threads or (1 if n_params < TINY_NETWORK_PARAMS else None)
        with _torch_threads(threads):
            self._train(s, W, b, best_W, best_b, points, data, vdata, shuffle_seed, on_epoch)
        for p in points:
            p.val_accuracy = p.val_clip_accuracy if s.selection_unit == "clip" else p.val_frame_accuracy
        self.points_ = points
        self.best_index_ = select_winner(points, s.tie_break)
        g = self.best_index_
        self.params_ = [(best_W[k][g].cpu().numpy().copy(), best_b[k][g, 0].cpu().numpy().copy())
                        for k in range(L)]
        return self

    def _train(self, s, W, b, best_W, best_b, points, data, vdata, shuffle_seed, on_epoch):
        import torch

        G, L = len(s.grid), len(W)
        active = list(range(G))  # grid index of each slot in the stack
        wait = [0] * G
        state = _FusedAdam(W, b, [s.grid[g] for g in active], s.betas, s.eps, s.adam_impl)
        orders = epoch_orders(len(data.rows), shuffle_seed)

        for epoch in range(1, s.max_epochs + 1):
            order = torch.from_numpy(next(orders)).to(data.device)
            with torch.no_grad():
                for start in range(0, len(data.rows), s.batch_size):
                    idx = order[start:start + s.batch_size]
                    xb, yb = data.batch(idx)
                    _forward_backward(W, b, xb, yb, state.gW, state.gb)
                    state.step()
                losses, frame_acc, clip_acc = _evaluate(W, b, vdata, s.n_classes,
                                                        [s.grid[g][1] for g in active])
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
        return predict_proba(self.params_, frames, scaler, self.settings.device)


def predict_proba(params: list[tuple[np.ndarray, np.ndarray]], frames: Frames,
                  scaler: Standardizer, device: str = "cpu", chunk: int = 4096) -> np.ndarray:
    """Softmax outputs of one MLP on standardised frames, computed in chunks."""
    import torch

    dev = torch.device(device)
    Ws = [torch.from_numpy(W).to(dev) for W, _ in params]
    bs = [torch.from_numpy(bias).to(dev) for _, bias in params]
    data = _DeviceData(frames, scaler, dev)
    out = np.empty((len(frames), Ws[-1].shape[1]), dtype=np.float32)
    with torch.no_grad():
        for start in range(0, len(frames), chunk):
            idx = torch.arange(start, min(start + chunk, len(frames)), device=dev)
            h, _ = data.batch(idx)
            for k, (Wk, bk) in enumerate(zip(Ws, bs)):
                h = torch.addmm(bk, h, Wk)
                if k < len(Ws) - 1:
                    h = h.clamp_min_(0)
            out[start:start + len(idx)] = torch.softmax(h, dim=1).cpu().numpy()
    return out


def clip_scores(proba: np.ndarray, clip: np.ndarray, n_clips: int) -> np.ndarray:
    """Sum the frame likelihoods of each clip (the paper's clip decision rule)."""
    scores = np.zeros((n_clips, proba.shape[1]), dtype=np.float64)
    np.add.at(scores, clip, proba)
    return scores


# -- internals -----------------------------------------------------------------------------------
@contextmanager
def _torch_threads(n: int | None):
    import torch

    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class _DeviceData:
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


def _forward_backward(W, b, xb, yb, gW, gb) -> None:
    """Forward and backward pass of all stacked networks on one shared batch.

    Writes the gradients of the mean cross-entropy into ``gW``/``gb`` (the L2 term is added by
    the optimizer as coupled weight decay).
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
    d = torch.softmax(pre[-1], dim=2)
    d[:, torch.arange(B, device=d.device), yb] -= 1.0
    d.div_(B)
    for k in range(L - 1, -1, -1):
        torch.bmm(acts[k].transpose(1, 2), d, out=gW[k])
        torch.sum(d, dim=1, keepdim=True, out=gb[k])
        if k > 0:
            d = torch.bmm(d, W[k].transpose(1, 2))
            d.mul_(pre[k - 1] > 0)


def _evaluate(W, b, vdata: _DeviceData, n_classes: int, weight_decays: list[float],
              chunk: int = 2048):
    """Validation loss (cross-entropy + the Keras L2 penalty), frame and clip accuracy per
    stacked network."""
    import torch

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


class _FusedAdam:
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

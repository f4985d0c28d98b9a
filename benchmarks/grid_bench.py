"""Grid training speed: the nine grid points trained together vs one after another.

Both train the paper's MLP (D -> 512 -> 128 -> C) on the same data with the same initial
weights and the same batch order (batch 32, reshuffled every epoch), validating every epoch;
early stopping is disabled (patience > epochs) so both do the same number of steps. Prints
config-samples/s (grid points x training frames x epochs / seconds) for each, the ratio, and
the largest difference between their results.

    python benchmarks/grid_bench.py                 # D=6144 (L3), 3 rounds
    python benchmarks/grid_bench.py --dim 80 --frames 8000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dim", type=int, default=6144)
    ap.add_argument("--frames", type=int, default=2048, help="training frames")
    ap.add_argument("--val-frames", type=int, default=512)
    ap.add_argument("--classes", type=int, default=50)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None,
                    help="threads for the grouped trainer (default: its own rule)")
    args = ap.parse_args()

    import torch

    from bench.evaluation.stacked import Frames, GridMLP, MLPSettings, Standardizer
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test oracle
    from classify_reference import fit_sequential

    rng = np.random.default_rng(0)
    n = args.frames + args.val_frames
    labels = rng.integers(0, args.classes, n // 8 + 1).repeat(8)[:n]
    centers = rng.normal(size=(args.classes, args.dim)).astype(np.float32)
    X = (0.3 * centers[labels] + rng.normal(size=(n, args.dim)).astype(np.float32))
    clip = np.arange(n) // 8
    train = Frames(X, np.arange(args.frames), labels[:args.frames], clip[:args.frames])
    vrows = np.arange(args.frames, n)
    val = Frames(X, vrows, labels[args.frames:], clip[args.frames:] - clip[args.frames])
    scaler = Standardizer.fit(X, train.rows)
    grid = [(lr, wd) for lr in (1e-5, 1e-4, 1e-3) for wd in (1e-5, 1e-4, 1e-3)]
    s = MLPSettings(n_classes=args.classes, grid=grid, max_epochs=args.epochs,
                    patience=args.epochs + 1, device=args.device, random_state=0,
                    threads=args.threads)
    work = len(grid) * args.frames * args.epochs

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, D={args.dim}, "
          f"{args.frames} training frames, {args.epochs} epochs, {len(grid)} grid points, "
          f"batch {s.batch_size}")
    grouped_t, seq_t = [], []
    for r in range(args.rounds):  # alternate, so both see the same machine load
        t = time.perf_counter()
        model = GridMLP(s).fit(train, val, scaler)
        grouped_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        points, best, params = fit_sequential(s, train, val, scaler)
        seq_t.append(time.perf_counter() - t)
        print(f"round {r + 1}: grouped {work / grouped_t[-1]:8.0f}  sequential "
              f"{work / seq_t[-1]:8.0f} config-samples/s")

    loss_diff = max(abs(a.val_loss - b.val_loss) / max(abs(b.val_loss), 1e-12)
                    for a, b in zip(model.points_, points))
    w_diff = max(float(np.abs(a[0] - b[0]).max()) for a, b in zip(model.params_, params))
    g, q = statistics.median(grouped_t), statistics.median(seq_t)
    print(f"median: grouped {work / g:.0f} config-samples/s, sequential {work / q:.0f} "
          f"config-samples/s, ratio {q / g:.2f}x")
    print(f"same results: chosen point {model.best_index_} vs {best}; largest relative "
          f"val-loss difference {loss_diff:.2e}; largest weight difference {w_diff:.2e}")


if __name__ == "__main__":
    main()

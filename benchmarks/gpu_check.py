"""The GPU path, checked: parity with the CPU, the grid trainer, throughput; one summary table.

For every embedder family (L3 mel256 / mel128 / linear, VGGish, SoundNet) on test-made weights
(seeded, ``bench_models.py``; no weights file needed):

* **parity**: the same windows embedded on the CPU in float32 (the reference) and on
  ``--device`` in float32, bfloat16 and (CUDA only) float16; the largest absolute difference over
  the reference's largest magnitude. float32 must stay within 1e-4 (exit status 1 otherwise);
  the reduced precisions are reported;
* **throughput**: windows/s on ``--device`` for each precision (SoundNet: conv6 frames/s);

and the **grid trainer** (the paper's MLP, nine grid points, a fixed synthetic task) on
``--device`` against the CPU: whether the same grid point is chosen, the largest relative
validation-loss difference over all points and epochs' best, and config-samples/s of each.

    python benchmarks/gpu_check.py --device cuda        # a GPU box: about 2-4 minutes
    python benchmarks/gpu_check.py --device cpu --quick # what the test suite runs (CPU vs CPU)

On ``--device cpu`` the "device" is the CPU again, so parity is exact and the script only
proves that it runs; the day a GPU is at hand, the same command with ``--device cuda`` is the
check.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_models import FAMILIES, embed, moved, relative_difference, seeded_embedder, test_input  # noqa: E402

FP32_TOLERANCE = 1e-4


def precisions(device: str) -> list[str]:
    return ["float32", "bfloat16"] + (["float16"] if device.startswith("cuda") else [])


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def throughput(e, x: np.ndarray, n_units: int, repeats: int) -> float:
    """Units (windows or frames) per second, best of ``repeats`` after a warm-up."""
    embed(e, x)
    sync(e.device)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        embed(e, x)
        sync(e.device)
        best = min(best, time.perf_counter() - t)
    return n_units / best


def family_rows(family: str, device: str, n_parity: int, n_speed: int, repeats: int
                ) -> list[dict]:
    ref_e = seeded_embedder(family)
    x = test_input(ref_e, n_parity)
    ref = embed(ref_e, x)
    speed_x = test_input(ref_e, n_speed, seed=2)
    rows = []
    for precision in precisions(device):
        e = moved(ref_e, device, precision)
        out = embed(e, x)
        units = len(embed(e, speed_x)) if not e.spec.windowed else n_speed
        rows.append({"family": family, "precision": precision,
                     "rel_diff": relative_difference(ref, out),
                     "per_s": throughput(e, speed_x, units, repeats)})
    return rows


def grid_task(dim: int, frames: int, classes: int, seed: int = 0):
    from bench.evaluation.frames import Frames, Standardizer

    rng = np.random.default_rng(seed)
    n = frames + frames // 4
    labels = rng.integers(0, classes, n // 8 + 1).repeat(8)[:n]
    centers = rng.normal(size=(classes, dim)).astype(np.float32)
    X = (0.3 * centers[labels] + rng.normal(size=(n, dim)).astype(np.float32))
    clip = np.arange(n) // 8
    train = Frames(X, np.arange(frames), labels[:frames], clip[:frames])
    val = Frames(X, np.arange(frames, n), labels[frames:], clip[frames:] - clip[frames])
    return train, val, Standardizer.fit(X, train.rows)


def grid_rows(device: str, dim: int, frames: int, epochs: int) -> dict:
    from bench.evaluation.stacked import GridMLP, MLPSettings

    classes = 10
    train, val, scaler = grid_task(dim, frames, classes)
    grid = [(lr, wd) for lr in (1e-5, 1e-4, 1e-3) for wd in (1e-5, 1e-4, 1e-3)]
    fitted, speed = {}, {}
    for dev in ("cpu", device):
        s = MLPSettings(n_classes=classes, grid=grid, max_epochs=epochs, patience=epochs + 1,
                        device=dev, random_state=0)
        t = time.perf_counter()
        fitted[dev] = GridMLP(s).fit(train, val, scaler)
        sync(dev)
        speed[dev] = len(grid) * frames * epochs / (time.perf_counter() - t)
    a, b = fitted["cpu"], fitted[device]
    loss = max(abs(p.val_loss - q.val_loss) / max(abs(p.val_loss), 1e-12)
               for p, q in zip(a.points_, b.points_))
    return {"same_choice": a.best_index_ == b.best_index_, "chosen": (a.best_index_, b.best_index_),
            "loss_rel_diff": loss, "cpu_per_s": speed["cpu"], "dev_per_s": speed[device]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--quick", action="store_true",
                    help="tiny sizes (the test suite's CPU run): parity and plumbing only")
    ap.add_argument("--families", default=",".join(FAMILIES))
    args = ap.parse_args(argv)

    import bench  # noqa: F401  (OpenMP settings before torch works)
    from bench.runs.steps import check_device

    check_device(args.device)
    if args.quick:
        n_parity, n_speed, repeats, dim, frames, epochs = 1, 1, 1, 64, 256, 2
    elif args.device.startswith("cuda"):
        n_parity, n_speed, repeats, dim, frames, epochs = 8, 256, 3, 6144, 8192, 5
    else:
        n_parity, n_speed, repeats, dim, frames, epochs = 4, 16, 2, 512, 2048, 3
    name = (torch.cuda.get_device_name(torch.device(args.device))
            if args.device.startswith("cuda") else f"CPU, {torch.get_num_threads()} threads")
    print(f"torch {torch.__version__}; device {args.device} ({name}); reference: CPU float32; "
          f"test-made weights")
    t0 = time.perf_counter()
    rows = []
    for family in args.families.split(","):
        n = max(1, n_parity // 4) if family == "soundnet" else n_parity
        rows += family_rows(family, args.device, n, n_speed if family != "soundnet"
                            else max(1, n_speed // 16), repeats)
    grid = grid_rows(args.device, dim, frames, epochs)

    ok = all(r["rel_diff"] <= FP32_TOLERANCE for r in rows if r["precision"] == "float32")
    header = f"{'family':<10} {'precision':<9} {'rel diff vs CPU fp32':>20} {'per s':>10}  check"
    print("\n" + header + "\n" + "-" * len(header))
    for r in rows:
        verdict = ("ok" if r["rel_diff"] <= FP32_TOLERANCE else "FAIL") \
            if r["precision"] == "float32" else "reported"
        unit = "frames" if r["family"] == "soundnet" else "windows"
        print(f"{r['family']:<10} {r['precision']:<9} {r['rel_diff']:>20.2e} "
              f"{r['per_s']:>10.1f}  {verdict} ({unit}/s)")
    print(f"\ngrid trainer (D={dim}, {frames} frames, {epochs} epochs, 9 points): chosen point "
          f"cpu {grid['chosen'][0]} / {args.device} {grid['chosen'][1]} "
          f"({'same' if grid['same_choice'] else 'DIFFERENT'}); largest relative val-loss "
          f"difference {grid['loss_rel_diff']:.2e}; config-samples/s cpu "
          f"{grid['cpu_per_s']:.0f}, {args.device} {grid['dev_per_s']:.0f} "
          f"({grid['dev_per_s'] / grid['cpu_per_s']:.1f}x)")
    print(f"\nfloat32 parity within {FP32_TOLERANCE:g}: {'PASS' if ok else 'FAIL'}; "
          f"{time.perf_counter() - t0:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Speed on a busy machine, decoding over cores, reduced precision: one command, one report.

1. **Quiet vs loaded.** The grid trainer with default settings (the paper's MLP, nine grid
   points, at D=80 (the mfcc baseline) and D=512 (SoundNet)) and ``bench run -e mfcc -d
   synth-mini`` (the whole command: decode, embed, five folds of the paper protocol), each timed
   alone and then next to two CPU-bound neighbours (``python3 -c 'while True: pass'``, started
   and killed here). The trainer is timed three ways: as it is now (short spin, threads chosen
   while training); as torch did before bench touched it (libgomp's spin of 300 000, all threads:
   ``GOMP_SPINCOUNT=300000``, ``--threads 2``); and with threads that sleep at once and all
   threads (``GOMP_SPINCOUNT=0``), bench's first fix, which made small networks slow on a quiet
   machine. Every measurement runs in a fresh process, so the OpenMP settings apply as they do
   for users.
2. **Decode + resample** (kaiser_best, 5 s clips at 44.1 kHz to 48 kHz): clips/s with 1 and 2
   worker processes (``bench.audio.pool``), and with the two threads the pipeline used before.
3. **Precision**: windows/s of each family in float32 and bfloat16 on test-made weights and the
   largest relative difference of the bfloat16 embeddings.

Times are medians over rounds (and epochs); ratios are of medians. On a machine shared with
other work the figures drift: compare ratios taken in one run. Run::

    python benchmarks/perf_bench.py            # everything, about 5-8 minutes on 2 cores
    python benchmarks/perf_bench.py --skip load,precision
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
SPIN = {"GOMP_SPINCOUNT": "300000"}  # libgomp's default spin before bench's PASSIVE policy


@contextmanager
def neighbours(n: int):
    """``n`` CPU-bound processes for the duration of the block."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    time.sleep(1.0)  # let them reach the scheduler's steady state
    try:
        yield
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def child(args: list[str], env: dict[str, str] | None = None) -> dict:
    """Run this script in a fresh process and read the JSON it prints last."""
    full = {**os.environ, **(env or {})}
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), *args], env=full,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- measured in a child process --------------------------------------------------------------
def grid_epochs(dim: int, frames: int, epochs: int, threads: int | None = None) -> dict:
    """Seconds per epoch of the grid trainer (default threads, or ``threads`` fixed), epochs
    after the first."""
    import bench  # noqa: F401  (the OpenMP settings, before torch)
    import numpy as np
    import torch

    from bench.evaluation.frames import Frames, Standardizer
    from bench.evaluation.stacked import GridMLP, MLPSettings

    rng = np.random.default_rng(0)
    classes, n = 50, frames + frames // 4
    labels = rng.integers(0, classes, n // 8 + 1).repeat(8)[:n]
    X = (0.3 * rng.normal(size=(classes, dim))[labels] + rng.normal(size=(n, dim))).astype(
        np.float32)
    clip = np.arange(n) // 8
    train = Frames(X, np.arange(frames), labels[:frames], clip[:frames])
    val = Frames(X, np.arange(frames, n), labels[frames:], clip[frames:] - clip[frames])
    grid = [(lr, wd) for lr in (1e-5, 1e-4, 1e-3) for wd in (1e-5, 1e-4, 1e-3)]
    s = MLPSettings(n_classes=classes, grid=grid, max_epochs=epochs, patience=epochs + 1,
                    threads=threads)
    stamps = [time.perf_counter()]
    model = GridMLP(s).fit(train, val, Standardizer.fit(X, train.rows),
                           on_epoch=lambda e, n: stamps.append(time.perf_counter()))
    per_epoch = [b - a for a, b in zip(stamps, stamps[1:])]
    return {"s_per_epoch": statistics.median(per_epoch[1:] or per_epoch),
            "threads": torch.get_num_threads(), "policy": os.environ.get("OMP_WAIT_POLICY"),
            "threads_chosen": model.threads_chosen_}


def mfcc_run(data_dir: str) -> dict:
    """Wall seconds of ``bench run -e mfcc -d synth-mini`` with a fresh store and results."""
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        subprocess.run([str(Path(sys.executable).with_name("bench")), "run", "-e", "mfcc", "-d",
                        "synth-mini", "-q", "--no-tracking", "--data-dir", data_dir,
                        "--cache-dir", f"{tmp}/cache", "--out", f"{tmp}/out"],
                       check=True, capture_output=True)
        return {"seconds": time.perf_counter() - t}


# -- the parts of the report ------------------------------------------------------------------
def load_section(args) -> None:
    print("1. quiet vs two CPU-bound neighbours (fresh process each; median s/epoch)")
    ways = (("now (short spin, threads chosen)", {}, []),
            ("before (spin 300k, 2 threads)", SPIN, ["--threads", "2"]),
            ("sleep at once, 2 threads", {"GOMP_SPINCOUNT": "0"}, ["--threads", "2"]))
    for dim, frames in ((80, 4 * args.frames), (512, args.frames)):
        rows = []
        for label, env, extra in ways:
            grid_args = ["--child", "grid", "--dim", str(dim), "--frames", str(frames),
                         "--epochs", str(args.epochs), *extra]
            quiet = child(grid_args, env)["s_per_epoch"]
            with neighbours(2):
                loaded = child(grid_args, env)["s_per_epoch"]
            rows.append((quiet, loaded))
            print(f"   grid trainer D={dim:<3} {frames:5d} frames, {label:<33}: quiet "
                  f"{quiet:6.2f} s, loaded {loaded:6.2f} s per epoch -> {loaded / quiet:5.1f}x")
        now, before = rows[0], rows[1]
        print(f"   D={dim}: now vs before: quiet {before[0] / now[0]:.2f}x faster, loaded "
              f"{before[1] / now[1]:.2f}x faster; now loaded / before quiet "
              f"{now[1] / before[0]:.1f}x")
    if args.skip_run:
        return
    with tempfile.TemporaryDirectory() as data:
        from bench.datasets import create

        create("synth-mini", data_dir=Path(data)).prepare(progress=False)  # not timed
        quiet = child(["--child", "mfcc", "--data-dir", data])["seconds"]
        with neighbours(2):
            loaded = child(["--child", "mfcc", "--data-dir", data])["seconds"]
    print(f"   bench run -e mfcc -d synth-mini (whole command): quiet {quiet:.0f} s, loaded "
          f"{loaded:.0f} s -> {loaded / quiet:.1f}x")


def decode_section(args) -> None:
    import numpy as np
    import soundfile as sf
    from concurrent.futures import ThreadPoolExecutor

    from bench.audio.decode import load_resampled
    from bench.audio.pool import decoded

    print(f"\n2. decode + resample, {args.clips} clips of 5 s at 44.1 kHz -> 48 kHz, kaiser_best "
          f"(median of {args.rounds} rounds)")
    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        paths = []
        for i in range(args.clips):
            p = Path(tmp) / f"c{i}.wav"
            sf.write(p, (0.1 * rng.standard_normal(5 * 44100)).astype(np.float32), 44100,
                     subtype="PCM_16")
            paths.append(p)
        load_resampled(paths[0], 48000)  # compile resampy's kernel once, outside the timing

        def threads2():
            with ThreadPoolExecutor(2) as ex:
                list(ex.map(lambda p: load_resampled(p, 48000), paths))

        ways = {"1 worker process": lambda: list(decoded(paths, 48000, "kaiser_best", workers=1)),
                "2 worker processes": lambda: list(decoded(paths, 48000, "kaiser_best",
                                                           workers=2)),
                "2 threads (before)": threads2}
        times: dict[str, list[float]] = {k: [] for k in ways}
        for _ in range(args.rounds):  # alternate, so all see the same machine
            for k, fn in ways.items():
                t = time.perf_counter()
                fn()
                times[k].append(time.perf_counter() - t)
    rate = {k: args.clips / statistics.median(v) for k, v in times.items()}
    for k, r in rate.items():
        print(f"   {k:<20} {r:6.2f} clips/s")
    print(f"   2 workers / 1 worker: {rate['2 worker processes'] / rate['1 worker process']:.2f}x;"
          f" 2 workers / 2 threads: {rate['2 worker processes'] / rate['2 threads (before)']:.2f}x")


def precision_section(args) -> None:
    import bench  # noqa: F401
    import numpy as np

    sys.path.insert(0, str(HERE))
    from bench_models import (FAMILIES, embed, moved, relative_difference, seeded_embedder,
                              test_input)

    print(f"\n3. precision on this CPU (test-made weights; per call {args.windows} L3 windows, "
          f"64 VGGish windows, a 10 s clip for SoundNet; median of {args.rounds} rounds)")
    print(f"   {'family':<10} {'fp32 win/s':>10} {'bf16 win/s':>10} {'bf16/fp32':>9} "
          f"{'largest rel diff':>16}")
    for family in args.families.split(","):
        if family not in FAMILIES:
            continue
        e32 = seeded_embedder(family)
        e16 = moved(e32, "cpu", "bfloat16")
        # a full batch as the pipeline sends it: autocast casts VGGish's 67 M fully connected
        # weights on every call, which a few windows would not amortise
        n = {"soundnet": 2, "vggish": e32.default_batch_size}.get(family, args.windows)
        x = test_input(e32, n)
        units = len(embed(e32, x))
        diff = relative_difference(embed(e32, x), embed(e16, x))
        times = {"float32": [], "bfloat16": []}
        for _ in range(args.rounds):
            for name, e in (("float32", e32), ("bfloat16", e16)):
                t = time.perf_counter()
                embed(e, x)
                times[name].append(time.perf_counter() - t)
        r32, r16 = (units / statistics.median(times[k]) for k in ("float32", "bfloat16"))
        unit = " (frames)" if family == "soundnet" else ""
        print(f"   {family:<10} {r32:>10.2f} {r16:>10.2f} {r16 / r32:>8.2f}x {diff:>16.2e}{unit}")
        sys.stdout.flush()
    del np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip", default="", help="comma list of: load, decode, precision")
    ap.add_argument("--skip-run", action="store_true", help="no bench run timing in section 1")
    ap.add_argument("--frames", type=int, default=2048, help="grid trainer training frames")
    ap.add_argument("--epochs", type=int, default=6, help="grid trainer epochs per measurement")
    ap.add_argument("--threads", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--clips", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--windows", type=int, default=16, help="L3 windows per call")
    ap.add_argument("--families", default="l3-m256,l3-m128,l3-linear,vggish,soundnet")
    ap.add_argument("--child", choices=["grid", "mfcc"], help=argparse.SUPPRESS)
    ap.add_argument("--dim", type=int, default=512, help=argparse.SUPPRESS)
    ap.add_argument("--data-dir", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child == "grid":
        print(json.dumps(grid_epochs(args.dim, args.frames, args.epochs, args.threads)))
        return 0
    if args.child == "mfcc":
        print(json.dumps(mfcc_run(args.data_dir)))
        return 0

    from bench.util.cpus import cgroup_cpu_limit, usable_cpus

    skip = set(filter(None, args.skip.split(",")))
    print(f"usable CPUs {usable_cpus()} (affinity {len(os.sched_getaffinity(0))}, cgroup quota "
          f"{cgroup_cpu_limit()}); load average now {os.getloadavg()[0]:.1f}\n")
    t0 = time.perf_counter()
    if "load" not in skip:
        load_section(args)
    if "decode" not in skip:
        decode_section(args)
    if "precision" not in skip:
        precision_section(args)
    print(f"\n{time.perf_counter() - t0:.0f} s in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

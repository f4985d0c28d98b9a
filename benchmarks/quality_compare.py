"""What the fast options cost in numbers: soxr_vhq vs kaiser_best, bfloat16 vs float32.

1. **Embeddings.** Clips of the ``synth`` dataset (real files at 16/22.05/44.1/48 kHz, mono and
   stereo, WAV and FLAC), each at a rate that needs resampling for the family, resampled both
   ways and embedded by every family (L3 and VGGish on test-made weights, SoundNet on its real
   weights when they are in the weights directory, MFCC): the largest absolute difference over
   the largest magnitude, and the median over clips of the per-clip relative L2 difference.
2. **Accuracy** on ``synth`` (same seed, paper protocol, each a full ``bench run``): mfcc and
   soundnet with kaiser_best vs soxr_vhq, soundnet in float32 vs bfloat16.

    python benchmarks/quality_compare.py               # ~15-30 minutes on 2 cores
    python benchmarks/quality_compare.py --skip-runs   # part 1 only, ~2 minutes
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def embedder_for(family: str):
    from bench import embedders
    from bench.errors import WeightsError

    if family == "mfcc":
        e = embedders.create("mfcc")
        e.prepare()
        return e, "no weights"
    if family == "soundnet":
        try:
            e = embedders.create("soundnet", download=False)
            e.prepare()
            return e, "real weights"
        except WeightsError:
            pass
    from bench_models import seeded_embedder

    return seeded_embedder(family), "test-made weights"


def embedding_differences(args) -> None:
    from bench.audio.decode import load, resample
    from bench.audio.frames import frame_windows
    from bench.datasets import create
    from bench.util.paths import default_dir

    ds = create("synth", data_dir=Path(args.data_dir) if args.data_dir else default_dir("data"))
    ds.prepare(progress=False)
    clips = ds.clips()
    print(f"1. embeddings, soxr_vhq against kaiser_best ({args.clips} synth clips per family, "
          f"at most {args.windows} windows each)")
    print(f"   {'family':<10} {'largest |diff| / largest |x|':>28} {'median clip rel L2':>19}  "
          f"weights")
    for family in args.families.split(","):
        e, note = embedder_for(family)
        sr = e.spec.sample_rate
        chosen = []
        for c in clips:  # files whose rate is not the family's, so both resamplers work
            y, rate = load(c.path)
            if rate != sr:
                chosen.append((y, rate))
            if len(chosen) == args.clips:
                break
        big = small = 0.0
        rel = []
        for y, rate in chosen:
            outs = []
            for method in ("kaiser_best", "soxr_vhq"):
                wave = resample(y, rate, sr, method)
                if e.spec.windowed:
                    w = frame_windows(wave, e.spec.window_samples, e.spec.hop_samples)
                    outs.append(e.embed_windows(w[:args.windows]))
                else:
                    outs.append(e.embed_sequence(wave)[0])
            a, b = outs
            n = min(len(a), len(b))  # soxr and resampy may differ by a sample in length
            a, b = a[:n].astype(np.float64), b[:n].astype(np.float64)
            big = max(big, float(np.abs(a - b).max()))
            small = max(small, float(np.abs(a).max()))
            rel.append(float(np.linalg.norm(a - b) / max(np.linalg.norm(a), 1e-30)))
        print(f"   {family:<10} {big / small:>28.2e} {float(np.median(rel)):>19.2e}  {note}")
        sys.stdout.flush()


def accuracy_differences(args) -> None:
    from bench.runs.config import RunConfig
    from bench.runs.runner import execute

    print("\n2. accuracy on synth, paper protocol, seed 0 (mean over the 5 folds)")
    runs = [("mfcc", "kaiser_best", "float32"), ("mfcc", "soxr_vhq", "float32"),
            ("soundnet", "kaiser_best", "float32"), ("soundnet", "soxr_vhq", "float32"),
            ("soundnet", "kaiser_best", "bfloat16")]
    acc = {}
    with tempfile.TemporaryDirectory() as tmp:
        for embedder, resampler, precision in runs:
            extra = {"data_dir": Path(args.data_dir)} if args.data_dir else {}
            config = RunConfig(embedder=embedder, dataset="synth", seed=0, resampler=resampler,
                               precision=precision, out_dir=Path(tmp) / "out",
                               cache_dir=Path(tmp) / "cache", tracking=False, **extra)
            t = time.perf_counter()
            record = execute(config, progress=False).record
            acc[(embedder, resampler, precision)] = [f["accuracy"] for f in record["folds"]]
            mean = 100 * np.mean(acc[(embedder, resampler, precision)])
            print(f"   {embedder:<9} {resampler:<12} {precision:<9} {mean:6.2f} %  "
                  f"({time.perf_counter() - t:.0f} s)")
            sys.stdout.flush()
    for base, other in ((("mfcc", "kaiser_best", "float32"), ("mfcc", "soxr_vhq", "float32")),
                        (("soundnet", "kaiser_best", "float32"),
                         ("soundnet", "soxr_vhq", "float32")),
                        (("soundnet", "kaiser_best", "float32"),
                         ("soundnet", "kaiser_best", "bfloat16"))):
        d = 100 * (np.array(acc[other]) - np.array(acc[base]))
        print(f"   {other[0]} {other[1]}/{other[2]} minus {base[1]}/{base[2]}: mean "
              f"{d.mean():+.2f} points, folds {' '.join(f'{x:+.2f}' for x in d)}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", default="l3-m256,l3-m128,l3-linear,vggish,soundnet,mfcc")
    ap.add_argument("--clips", type=int, default=4)
    ap.add_argument("--windows", type=int, default=8)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--skip-runs", action="store_true")
    ap.add_argument("--skip-embeddings", action="store_true")
    args = ap.parse_args(argv)
    import bench  # noqa: F401  (OpenMP settings before torch)

    if not args.skip_embeddings:
        embedding_differences(args)
    if not args.skip_runs:
        accuracy_differences(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Embedding throughput: network-only vs the whole embed path, against this machine's matmul.

For each family (L3 mel256 / mel128 / linear, VGGish, SoundNet) it prints windows/s and the
achieved GFLOP/s next to the fp32 matrix-multiply GFLOP/s measured in the same run:

* ``network``: the network alone on ready inputs (spectrogram images, log-mel examples,
  waveforms for SoundNet);
* ``frontend+network``: what ``embed_windows`` does;
* ``whole path``: ``bench.store.pipeline.embed_clips`` on WAV files at 44.1 kHz in a fresh store
  (hash, decode, resample with kaiser_best, frame, frontend, network, store);

and the whole path's share of the network-only throughput (target: at least 85 %), by wall
time and by process CPU time (windows per CPU-second; less disturbed by other processes on a
shared machine, but it counts spinning worker threads as work).

FLOPs are counted analytically (2 x multiply-adds of every convolution and fully connected
layer; BatchNorm, ReLU, pooling and the frontends are not counted): L3 mel256 20.4, linear 20.3,
mel128 10.2 GFLOP per window; VGGish 1.73 GFLOP per example; SoundNet up to conv6 0.055 GFLOP
per second of audio. SoundNet "windows" are its conv6 frames (1.35 per second).

Networks get random weights (throughput does not depend on the values); SoundNet uses the real
``sound8.npy`` when it is in the weights directory. Run::

    python benchmarks/embed_bench.py                 # all families, ~5 minutes on 2 cores
    python benchmarks/embed_bench.py --families l3-m256 --windows 32
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

FAMILIES = ("l3-m256", "l3-m128", "l3-linear", "vggish", "soundnet")


def best_time(fn, repeats: int) -> float:
    """Shortest wall time of ``repeats`` calls (after a warm-up call)."""
    return min(timed(fn, repeats))[0]


def timed(fn, repeats: int, warm_up: bool = True) -> list[tuple[float, float]]:
    """(wall, process CPU) seconds of each of ``repeats`` calls, after a warm-up call."""
    if warm_up:
        fn()  # allocations, oneDNN primitive creation
    out = []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        out.append((time.perf_counter() - t, time.process_time() - c))
    return out


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2 * n ** 3 / best_time(lambda: a @ b, repeats) / 1e9


def make_embedder(family: str, device: str):
    """A prepared embedder with random weights (SoundNet: the real ones when present)."""
    from bench.embedders import create
    from bench.embedders.torch_util import place

    if family.startswith("l3-"):
        from bench.embedders import l3_net

        e = create(f"{family}-music", device=device)
        e._frontend = place(l3_net.KapreFrontend(e.input_repr), device, channels_last=False)
        net = l3_net.L3AudioNet(e.pool_size)
        for bn in [net.input_bn, *net.bns]:  # sane statistics so activations stay finite
            bn.running_var.fill_(1.0)
        e._net = place(net, device, channels_last=True)
    elif family == "vggish":
        from torchvggish.torchvggish import VGG, make_layers

        e = create("vggish-raw", device=device)
        e._net = place(VGG(make_layers(), postprocess=False), device, channels_last=True)
    else:
        from bench.errors import WeightsError

        e = create("soundnet", device=device, download=False)
        try:
            e.prepare()
            return e, "real weights"
        except WeightsError:
            from bench.embedders.soundnet_net import SoundNet8

            e._net = place(SoundNet8(), device, channels_last=False)
    e.spec = e.spec.replace(weights_sha256=f"benchmark-random-{family}")
    return e, "random weights"


def network_only(e, family: str, n: int, batch: int) -> tuple[float, float, float]:
    """Sustained (windows/s of the network alone, windows/s of frontend + network, network
    windows per CPU-second) over ``n`` windows in batches of ``batch``, as the whole path
    feeds them."""
    rng = np.random.default_rng(0)
    if family == "soundnet":
        y = (0.1 * rng.standard_normal(5 * 22050)).astype(np.float32)  # one 5 s clip per call
        x = torch.from_numpy(y * 256)[None, None]
        frames = e.embed_sequence(y)[0].shape[0]
        calls = max(1, n // frames)

        def net():
            with torch.inference_mode():
                for _ in range(calls):
                    e._net.features(x, e.layer)

        def both():
            for _ in range(calls):
                e.embed_sequence(y)

        e.embed_sequence(y)  # warm-up
        (t_net, c_net), = timed(net, 1, warm_up=False)
        (t_all, _), = timed(both, 1, warm_up=False)
        return calls * frames / t_net, calls * frames / t_all, calls * frames / c_net
    windows = (0.1 * rng.standard_normal((n, e.spec.window_samples))).astype(np.float32)
    parts = [windows[s:s + batch] for s in range(0, n, batch)]
    if family == "vggish":
        inputs = [torch.from_numpy(e.examples(w))[:, None].contiguous(
            memory_format=torch.channels_last) for w in parts]
    else:
        with torch.inference_mode():
            inputs = [e._frontend(torch.from_numpy(w)).contiguous(
                memory_format=torch.channels_last) for w in parts]

    def net():
        with torch.inference_mode():
            for x in inputs:
                e._net(x)

    def both():
        for w in parts:
            e.embed_windows(w)

    e.embed_windows(parts[0])  # warm-up
    (t_net, c_net), = timed(net, 1, warm_up=False)
    (t_all, _), = timed(both, 1, warm_up=False)
    return n / t_net, n / t_all, n / c_net


def whole_path(e, clips_dir: Path, store_dir: Path, batch_size: int | None,
               resampler: str = "kaiser_best") -> tuple[float, float]:
    """(windows/s, windows per CPU-second) of embed_clips over the WAV files, fresh store."""
    from bench.store.store import EmbeddingStore
    from bench.datasets.base import Clip
    from bench.store.pipeline import embed_clips

    clips = [Clip(id=p.stem, path=p, label="x", fold=1) for p in sorted(clips_dir.glob("*.wav"))]
    store = EmbeddingStore(store_dir)
    c = time.process_time()
    report, _ = embed_clips(clips, e, e.spec, store, batch_size=batch_size, progress=False,
                            resampler=resampler)
    return report.n_windows / report.seconds, report.n_windows / (time.process_time() - c)


def write_clips(directory: Path, n_clips: int, seconds: float, sr: int = 44100) -> None:
    import soundfile as sf

    rng = np.random.default_rng(1)
    t = np.arange(int(seconds * sr)) / sr
    for i in range(n_clips):
        y = 0.3 * np.sin(2 * np.pi * (200 + 100 * i) * t) + 0.05 * rng.standard_normal(len(t))
        sf.write(directory / f"clip{i:02d}.wav", y.astype(np.float32), sr, subtype="PCM_16")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--windows", type=int, default=16, help="windows per embedder call")
    ap.add_argument("--rounds", type=int, default=2,
                    help="alternating rounds of all measurements (best of each is kept)")
    ap.add_argument("--clips", type=int, default=4, help="5 s clips for the whole path")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-whole-path", action="store_true")
    ap.add_argument("--resampler", default="kaiser_best", help="for the whole path")
    args = ap.parse_args(argv)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    print(f"matmul: fp32 2048^3 GFLOP/s; every figure is the best of {args.rounds} alternating "
          f"rounds (a shared machine's speed drifts)\n")
    header = (f"{'family':<10} {'GFLOP/win':>9} {'matmul':>7} {'net win/s':>9} {'GFLOP/s':>8} "
              f"{'% mm':>5} {'f+n win/s':>9} {'whole win/s':>11} {'whole/net':>9} "
              f"{'(cpu time)':>9}")
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as tmp:
        clips_dir = Path(tmp) / "clips"
        clips_dir.mkdir()
        write_clips(clips_dir, args.clips, 5.0)
        # as many windows as the whole path embeds: 41 per 5 s clip (SoundNet: 7 conv6 frames)
        n_windows = {f: (7 if f == "soundnet" else 41) * args.clips for f in FAMILIES}
        for family in args.families.split(","):
            e, note = make_embedder(family, args.device)
            gflop = e.gflop_per_window * (e.spec.hop_s if family == "soundnet" else 1.0)
            # the machine is shared: alternate the measurements and keep the best of each, so
            # that network-only and whole path are compared at their least-disturbed moments
            mm = net_ws = all_ws = net_cpu = 0.0
            whole = whole_cpu = float("nan") if args.no_whole_path else 0.0
            for r in range(args.rounds):
                mm = max(mm, matmul_gflops())
                n, a, nc = network_only(e, family, n_windows[family], args.windows)
                net_ws, all_ws, net_cpu = max(net_ws, n), max(all_ws, a), max(net_cpu, nc)
                if not args.no_whole_path:
                    w, wc = whole_path(e, clips_dir, Path(tmp) / f"store-{family}-{r}",
                                       args.windows, args.resampler)
                    whole, whole_cpu = max(whole, w), max(whole_cpu, wc)
            achieved = net_ws * gflop
            print(f"{family:<10} {gflop:>9.3f} {mm:>7.1f} {net_ws:>9.2f} {achieved:>8.1f} "
                  f"{100 * achieved / mm:>4.0f}% {all_ws:>9.2f} {whole:>11.2f} "
                  f"{100 * whole / net_ws:>8.0f}% {100 * whole_cpu / net_cpu:>8.0f}%  ({note})")
            sys.stdout.flush()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak resident memory: {rss:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

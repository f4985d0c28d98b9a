"""Run-to-run spread of one configuration over seeds, to set ``bench check`` tolerances.

Runs ``bench run`` (the real pipeline, in-process) for several seeds and prints the mean
accuracy of each, their standard deviation, every pairwise |difference of means| and the mean
absolute per-(fold, repeat) difference between seeds; then the tolerances this suggests (see
docs/analysis.md, "Choosing tolerances"). With ``--degrade`` it also runs seed 0 with a
deliberately wrong standardisation and prints how far it lands from the correct seed-0 run.

    python benchmarks/analysis_spread.py --embedder mfcc --dataset synth-mini --seeds 5
    python benchmarks/analysis_spread.py --fast --seeds 5 --degrade    # the test's settings
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("BENCH_PROGRESS", "0")


def fast_protocol():
    """The reduced protocol of tests/test_analysis_regression.py: one grid point, few epochs."""
    from bench.evaluation.settings import ProtocolConfig

    return ProtocolConfig(learning_rates=(1e-3,), weight_decays=(1e-4,), max_epochs=12,
                          patience=5)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--embedder", default="mfcc")
    ap.add_argument("--dataset", default="synth-mini")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--fast", action="store_true", help="reduced protocol (the test's)")
    ap.add_argument("--degrade", action="store_true",
                    help="also run seed 0 with the standardisation left out")
    ap.add_argument("--work", type=Path, default=None, help="data/cache/results root")
    args = ap.parse_args()

    import numpy as np

    from bench.evaluation.settings import ProtocolConfig
    from bench.runs.config import RunConfig
    from bench.analysis.factors import view
    from bench.tracking.tracked import run

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-spread-"))
    protocol = fast_protocol() if args.fast else ProtocolConfig()

    def config(seed: int, out: str) -> RunConfig:
        return RunConfig(embedder=args.embedder, dataset=args.dataset, protocol=protocol,
                         seed=seed, data_dir=work / "data", cache_dir=work / "cache",
                         out_dir=work / out, tracking=False)

    runs = []
    for seed in range(args.seeds):
        t0 = time.perf_counter()
        _, rec = run(config(seed, "runs"), progress=False)
        runs.append(view(rec))
        print(f"seed {seed}: {100 * rec['accuracy']['mean']:.2f}%  "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    means = [100 * float(np.mean(r.values())) for r in runs]
    sd = statistics.stdev(means) if len(means) > 1 else 0.0
    pair_mean, pair_mad = [], []
    for a, b in itertools.combinations(runs, 2):
        pair_mean.append(abs(100 * (np.mean(a.values()) - np.mean(b.values()))))
        pair_mad.append(float(np.mean([100 * abs(a.accuracy[k] - b.accuracy[k])
                                       for k in a.keys])))
    step = 100.0 / min(f["n_test_clips"] for f in runs[0].record["folds"])
    print(f"\n{args.embedder} on {args.dataset} ({'fast' if args.fast else 'full'} protocol), "
          f"{len(runs)} seeds, (fold, repeat) keys per run: {len(runs[0].accuracy)}, "
          f"one test clip = {step:.2f} points")
    print(f"mean accuracy: {' '.join(f'{m:.2f}' for m in means)}  sd {sd:.2f}")
    if pair_mean:
        print(f"|difference of means| between seeds: max {max(pair_mean):.2f}, "
              f"median {statistics.median(pair_mean):.2f}")
        print(f"mean |per-fold difference| between seeds: max {max(pair_mad):.2f}, "
              f"median {statistics.median(pair_mad):.2f}")
        tol = max(3 * sd, max(pair_mean))
        fold_tol = max(pair_mad)
        print(f"suggested: --tolerance {tol:.1f} (max of 3 sd and the largest pairwise "
              f"difference)  --fold-tolerance {fold_tol:.1f} (largest pairwise per-fold MAD)")
    if args.degrade:
        from unittest import mock

        from bench.evaluation import protocol as proto_mod
        from bench.evaluation.stacked import Standardizer

        def no_standardisation(X, rows, chunk=8192):
            dim = X.shape[1]
            return Standardizer(np.zeros(dim, np.float32), np.ones(dim, np.float32))

        with mock.patch.object(proto_mod.Standardizer, "fit", staticmethod(no_standardisation)):
            _, bad = run(config(0, "degraded"), progress=False)
        b = view(bad)
        d = means[0] - 100 * float(np.mean(b.values()))
        mad = float(np.mean([100 * abs(runs[0].accuracy[k] - b.accuracy[k]) for k in b.keys]))
        print(f"no standardisation, seed 0: {100 * bad['accuracy']['mean']:.2f}% "
              f"(correct run minus degraded: {d:+.2f} points, per-fold MAD {mad:.2f})")
    print(f"work dir: {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

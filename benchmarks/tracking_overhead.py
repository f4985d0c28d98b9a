"""What MLflow tracking adds to a run: wall time of ``bench.tracking.logger.log_run`` for a record
shaped like an ESC-50 run of the paper (50 classes, 5 folds x 5 repeats, 9 grid points,
400 test clips per fold), to the default SQLite store and optionally to a server.

    python benchmarks/tracking_overhead.py [--server http://127.0.0.1:5000] [--repeat 3]

Prints: the mlflow import; the first log into a new store (creates the database) in a fresh
process, as a first `bench run` pays it; further new runs and an unchanged run (idempotent
check) in a warm process; the confusion figure alone.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

CLASSES = tuple(f"class_{i:02d}" for i in range(50))
GRID = (1e-5, 1e-4, 1e-3)


def esc50_record(run_id: str, rng: int = 0) -> dict:
    from tracking_fixtures import make_record

    return make_record(embedder="l3-m256-music", dataset="esc50", classes=CLASSES,
                       folds=(1, 2, 3, 4, 5), repeats=5, run_id=run_id, clips_per_class=8,
                       rng=rng, learning_rates=GRID, weight_decays=GRID)


def cold(root: Path) -> float:
    """Fresh process: import, create the store, log one run; returns seconds of log_run."""
    code = (f"import sys, time; sys.path.insert(0, {str(HERE)!r});"
            "from tracking_overhead import esc50_record;"
            "from tracking_fixtures import write_run;"
            "from bench.tracking.logger import log_run;"
            f"rec = esc50_record('cold'); d = write_run({str(root)!r}, rec);"
            "t = time.perf_counter(); log_run(rec, d, strict=True);"
            "print(time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return float(out.stdout.split()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", default=None, help="also log to this MLflow server")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    t = subprocess.run([sys.executable, "-c", "import time; t = time.perf_counter(); "
                        "import mlflow.tracking; print(time.perf_counter() - t)"],
                       capture_output=True, text=True, check=True)
    print(f"import mlflow.tracking (fresh process): {float(t.stdout):.2f} s")

    from tracking_fixtures import write_run

    from bench.tracking.logger import log_run
    from bench.tracking.record import confusion_figure, plan_runs

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        print(f"first log into a new SQLite store, fresh process (creates the database): "
              f"{cold(root / 'cold'):.2f} s")
        rec0 = esc50_record("warm-0")
        log_run(rec0, write_run(root / "warm", rec0), strict=True)  # import + store in this process
        parent, children = plan_runs(rec0)
        n_metrics = len(parent.metrics) + sum(len(v) for v in parent.series.values()) + sum(
            len(c.metrics) for c in children)
        print(f"record: {len(children)} nested runs, {len(parent.params)} params, "
              f"{n_metrics} metric values")
        times, same = [], []
        for i in range(args.repeat):
            rec = esc50_record(f"warm-{i + 1}", rng=i + 1)
            d = write_run(root / "warm", rec)
            t0 = time.perf_counter()
            log_run(rec, d, strict=True)
            times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            assert log_run(rec, d, strict=True).status == "unchanged"
            same.append(time.perf_counter() - t0)
        print(f"new run, SQLite store (warm process): median {statistics.median(times):.2f} s "
              f"of {args.repeat}")
        print(f"same run again (found, nothing logged): median {statistics.median(same):.3f} s")
        t0 = time.perf_counter()
        confusion_figure(rec0, root / "c.png")
        print(f"confusion figure (50 classes): {time.perf_counter() - t0:.2f} s")
        if args.server:
            times = []
            for i in range(args.repeat):
                rec = esc50_record(f"srv-{time.time_ns()}-{i}", rng=10 + i)
                d = write_run(root / "srv", rec)
                t0 = time.perf_counter()
                log_run(rec, d, tracking_uri=args.server, strict=True)
                times.append(time.perf_counter() - t0)
            print(f"new run to {args.server}: median {statistics.median(times):.2f} s")


if __name__ == "__main__":
    main()

"""The CI regression guard: ``bench check`` against a golden run passes for a correct run of the
real pipeline and fails for a deliberately wrong standardisation.

The pipeline runs end to end (synth-mini audio, mfcc embeddings, cross-validated MLP) with a
reduced protocol (one grid point, 12 epochs) so the test stays near half a minute. The
tolerance comes from ``benchmarks/analysis_spread.py --fast --seeds 5`` for exactly this
configuration (docs/analysis.md): seed-to-seed sd of the mean 2.12 points (2.46 before the synth
change of 0c60a46), largest pairwise difference 5.0 (6.67), largest per-fold mean |difference|
7.5 (10.0).
"""

from __future__ import annotations

import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from analysis_spread import fast_protocol  # noqa: E402
from bench.cli import main  # noqa: E402

pytestmark = pytest.mark.slow

TOLERANCE = 7.5        # points: > max(3 sd, largest pairwise difference) in both measurements
FOLD_TOLERANCE = 15.0  # points: above the largest measured 10.0 (the default would be 3 x 7.5)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("regression")


def _run(work: Path, seed: int, out: str):
    from bench.runs.config import RunConfig
    from bench.tracking.tracked import run

    config = RunConfig(embedder="mfcc", dataset="synth-mini", protocol=fast_protocol(),
                       seed=seed, data_dir=work / "data", cache_dir=work / "cache",
                       out_dir=work / out, tracking=False)
    return run(config, progress=False)


@pytest.fixture(scope="module")
def golden(work):
    run_dir, record = _run(work, 0, "golden")
    return run_dir, record


def _check(run_dir: Path, golden_dir: Path):
    return CliRunner().invoke(main, ["check", str(run_dir), "--reference", str(golden_dir),
                                     "--tolerance", str(TOLERANCE),
                                     "--fold-tolerance", str(FOLD_TOLERANCE)])


def test_correct_run_with_another_seed_passes(work, golden):
    golden_dir, gold = golden
    run_dir, rec = _run(work, 1, "runs")
    out = _check(run_dir, golden_dir)
    assert out.exit_code == 0, out.output
    assert "within tolerance" in out.output
    # the check compared real, different numbers (another seed is not a copy of the golden)
    assert rec.accuracy.mean != gold.accuracy.mean or any(
        a.accuracy != b.accuracy for a, b in zip(rec.folds, gold.folds))
    assert "seed 1 vs reference seed 0" in out.output


def test_wrong_standardisation_fails(work, golden):
    from bench.evaluation import protocol
    from bench.evaluation.stacked import Standardizer

    fit = Standardizer.fit

    def inverted(X, rows, chunk=8192):
        # the classic slip: multiply by the standard deviation instead of dividing by it
        s = fit(X, rows, chunk)
        return Standardizer(s.mean, (1.0 / s.scale).astype(np.float32))

    golden_dir, gold = golden
    with mock.patch.object(protocol.Standardizer, "fit", staticmethod(inverted)):
        run_dir, bad = _run(work, 0, "degraded")
    drop = 100 * (gold.accuracy.mean - bad.accuracy.mean)
    assert drop > TOLERANCE  # measured: about 28 points over seeds 0-4
    out = _check(run_dir, golden_dir)
    assert out.exit_code == 1, out.output
    failed = out.output.split("OUT OF TOLERANCE")[1]
    assert "mfcc" in failed and "FAIL (mean" in failed


def test_golden_against_itself_and_nothing_comparable(work, golden):
    golden_dir, _ = golden
    out = _check(golden_dir, golden_dir)
    assert out.exit_code == 0 and " 0.00 " in out.output
    out = CliRunner().invoke(main, ["check", str(golden_dir), "--reference", "paper"])
    assert out.exit_code == 2  # mfcc on synth-mini has no paper value

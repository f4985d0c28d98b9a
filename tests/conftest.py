"""Session-wide test settings: nothing is written to the user's directories, no progress bars,
and the synthetic dataset is generated once per session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the tests' helper modules (*_fixtures.py)

# One compute thread per test process (set before torch is imported): the tests' networks are
# small, pytest-xdist runs one process per core, and spinning threads on a busy machine are
# many times slower than one.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session", autouse=True)
def _isolated_dirs(tmp_path_factory):
    base = tmp_path_factory.getbasetemp() / "bench-home"
    saved = {k: os.environ.get(k) for k in ("BENCH_DATA_DIR", "BENCH_CACHE_DIR",
                                            "BENCH_RESULTS_DIR", "BENCH_PROGRESS")}
    os.environ["BENCH_DATA_DIR"] = str(base / "data")
    os.environ["BENCH_CACHE_DIR"] = str(base / "embeddings")
    os.environ["BENCH_RESULTS_DIR"] = str(base / "results")
    os.environ["BENCH_PROGRESS"] = "0"
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def synth_mini_root(tmp_path_factory) -> Path:
    """A data directory holding synth-mini (12 classes x 10 clips), generated once."""
    from bench.datasets import create

    root = tmp_path_factory.getbasetemp() / "bench-synth-data"
    create("synth-mini", data_dir=root).prepare(progress=False)
    return root


@pytest.fixture(scope="session")
def mfcc_store(tmp_path_factory) -> Path:
    """An embedding store shared by tests that only read mfcc embeddings of synth-mini."""
    return tmp_path_factory.getbasetemp() / "bench-shared-store"

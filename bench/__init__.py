"""bench: the evaluation harness of Cramer et al. (ICASSP 2019) for deep audio embeddings.

The Python API (see the README, "Python API")::

    import bench

    record = bench.evaluate("mfcc", "synth-mini", max_epochs=5)   # what `bench run` does
    runs = bench.load_runs("results/runs")                       # RunRecord per results.json
    result = bench.compare(runs)                                   # what `bench stats` computes

``bench.Embedder`` and ``bench.Dataset`` are the base classes of new embedders and datasets.
Importing this package is cheap: the API (:mod:`bench.api`) loads on first use, and heavy
libraries (torch, mlflow, matplotlib) only in the modules that need them, so ``bench --help``
stays fast.

Importing it also settles how OpenMP behaves in this process before torch loads its runtime:
idle threads sleep instead of spinning, and the default thread count is the CPUs this process
may use (:mod:`bench.util.cpus`; variables the user set are kept). Import ``bench`` before
``torch`` for this to apply to torch as well.
"""

from __future__ import annotations

import importlib
from typing import Any

from bench._version import __version__
from bench.util.cpus import configure_openmp as _configure_openmp

_configure_openmp()

#: the public names, all defined in bench.api and imported from it on first use
_API = ("Dataset", "Embedder", "RunRecord", "compare", "embed", "evaluate", "load_runs")

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        value = getattr(importlib.import_module("bench.api"), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'bench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))

"""Default locations of bench's folders (data, embeddings, weights, results)."""

from __future__ import annotations

import os
from pathlib import Path


def _user_cache_root() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("bench", appauthor=False))


def default_dir(kind: str) -> Path:
    """Default location of ``data``, ``embeddings``, ``weights`` or ``results``.

    Environment variables ``BENCH_DATA_DIR``, ``BENCH_CACHE_DIR``, ``BENCH_WEIGHTS_DIR`` and
    ``BENCH_RESULTS_DIR`` override; otherwise data, embeddings and weights live in the user cache
    directory and results in ``./results/runs``.
    """
    env = {"data": "BENCH_DATA_DIR", "embeddings": "BENCH_CACHE_DIR",
           "weights": "BENCH_WEIGHTS_DIR", "results": "BENCH_RESULTS_DIR"}[kind]
    if os.environ.get(env):
        return Path(os.environ[env]).expanduser()
    if kind == "results":
        return Path("results") / "runs"
    return _user_cache_root() / kind

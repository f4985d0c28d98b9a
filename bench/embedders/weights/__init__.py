"""The weights manager: where each weights file lives, and how it gets there.

Every embedder family declares its files next to its code, in its table
(``bench/embedders/<family>_meta.py``: name as published, source, sha256 where one is published,
format and the function that checks it). This package is generic: it is handed a table row (an
embedder's name and files, :class:`~bench.embedders.weights.files.NeedsWeights`) and never
names a family. Files live flat in one directory, ``BENCH_WEIGHTS_DIR`` (default: a user cache
directory), or an embedder is given an explicit path.

- :mod:`~bench.embedders.weights.files`: what a file is (:class:`WeightsFile`, :class:`PipSdist`);
- :mod:`~bench.embedders.weights.records`: the weights directory, sha256 sidecars;
- :mod:`~bench.embedders.weights.copies`: finding a copy, checking its structure, the
  missing-file error;
- :mod:`~bench.embedders.weights.fetcher`: HTTP (resume, checksum, mirror) and sdist fetches;
- :mod:`~bench.embedders.weights.resolver`: what ``prepare()`` calls (found, fetched or given);
- :mod:`~bench.embedders.weights.installer`: ``bench weights import``.

The list of every embedder with weights (``bench weights list``) is read from the families'
tables by :mod:`bench.embedders.catalog`.
"""

from __future__ import annotations

from bench.embedders.weights.fetcher import fetch
from bench.embedders.weights.files import (NeedsWeights, PipSdist, Resolved, WeightsFile,
                                           requirements)
from bench.embedders.weights.installer import import_weights
from bench.embedders.weights.copies import check_format, locate, locate_quiet, missing_error
from bench.embedders.weights.records import MIRROR_ENV, explicit_sha256, sha256_of, weights_dir
from bench.embedders.weights.resolver import resolve

__all__ = ["MIRROR_ENV", "NeedsWeights", "PipSdist", "Resolved", "WeightsFile", "check_format",
           "explicit_sha256", "fetch", "import_weights", "locate", "locate_quiet", "missing_error",
           "requirements", "resolve", "sha256_of", "weights_dir"]

"""The Python API: evaluate an embedder, load runs, compare them. ``import bench`` re-exports it
lazily (``bench.evaluate``, ``bench.load_runs``, ``bench.compare``, ``bench.Embedder``,
``bench.Dataset``, ``bench.RunRecord``).

The command line calls these same functions: ``bench run`` is :func:`evaluate`, ``bench embed``
is :func:`embed`, ``bench stats`` is :func:`compare` over :func:`load_runs` (and ``bench plot``,
``report``, ``check`` and ``explain`` read their runs with :func:`load_runs`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterable

from bench.analysis.factors import StatsConfig
from bench.analysis.stats import StatsResult, analyse
from bench.datasets.base import Dataset
from bench.embedders.base import Embedder
from bench.errors import ConfigError
from bench.evaluation.settings import ProtocolConfig
from bench.runs.config import RunConfig
from bench.runs.record import RunRecord, load_runs
from bench.runs.runner import embed_only
from bench.store.pipeline import EmbedReport
from bench.tracking.tracked import execute

__all__ = ["Dataset", "Embedder", "RunRecord", "compare", "embed", "evaluate", "load_runs"]


def evaluate(embedder: str | type[Embedder], dataset: str | type[Dataset], *,
             protocol: str | ProtocolConfig = "paper", progress: bool = True,
             log: Callable[[str], None] | None = None, **settings: Any) -> RunRecord:
    """Evaluate one embedder on one dataset, as ``bench run`` does, and return its record.

    The run is written to its run directory (``record.path`` is its ``results.json``) and
    logged to MLflow unless ``tracking=False``. The same configuration run again is found,
    not recomputed (``rerun=True`` recomputes it).

    Parameters
    ----------
    embedder : str or Embedder subclass
        A registered name (``mfcc``, ``l3-m256-music``), ``"package.module:Class"``, or the
        class itself.
    dataset : str or Dataset subclass
        A registered name (``esc50``, ``synth-mini``), a manifest CSV path, an import path or
        the class itself.
    protocol : str or ProtocolConfig
        ``"paper"`` (default) or ``"l3embedding"``, or a protocol.
    progress : bool
        Show progress bars (stderr).
    log : callable, optional
        Receives one-line status messages; without it warnings go through :mod:`warnings`.
    **settings
        Any protocol field (``max_epochs=5``, ``learning_rates=(1e-3,)``, ``repeats=1``) or run
        setting (``seed``, ``device``, ``data_dir``, ``cache_dir``, ``weights_dir``,
        ``out_dir``, ``tags``, ``download``, ``skip_bad``, ``rerun``, ``tracking``,
        ``tracking_uri``, ``threads``, ``resampler``, ``embed_batch_size``); see
        :class:`bench.runs.config.RunConfig`.

    Returns
    -------
    RunRecord
    """
    config = RunConfig.build(_target(embedder, Embedder), _target(dataset, Dataset),
                             protocol=protocol, **settings)
    return execute(config, progress=progress, log=log).record


def embed(embedder: str | type[Embedder], dataset: str | type[Dataset], *, progress: bool = True,
          **settings: Any) -> EmbedReport:
    """Fill the embedding store for one embedder and dataset, as ``bench embed`` does (what a
    later :func:`evaluate` of the pair reuses); nothing is trained, written to a run or logged.

    Parameters
    ----------
    embedder, dataset : str or class
        As for :func:`evaluate`.
    progress : bool
        Show progress bars (stderr).
    **settings
        Run settings that decide what is embedded and where (``data_dir``, ``cache_dir``,
        ``weights_dir``, ``device``, ``resampler``, ``precision``, ``embed_batch_size``,
        ``skip_bad``, ``download``, ``threads``, ``embedder_options``); see
        :class:`bench.runs.config.RunConfig`.

    Returns
    -------
    EmbedReport
        Clips seen, already stored, computed (and at what rate), and skipped with the reason.
    """
    config = RunConfig.build(_target(embedder, Embedder), _target(dataset, Dataset), **settings)
    return embed_only(config, progress=progress)


def _target(thing: str | type, base: type) -> str:
    """A registry name for a class (its import path); a string as it is."""
    if isinstance(thing, str):
        return thing
    if isinstance(thing, type) and issubclass(thing, base):
        return f"{thing.__module__}:{thing.__qualname__}"
    raise ConfigError(f"expected a name or a bench {base.__name__} subclass, found {thing!r}",
                      hint="pass the class itself (not an instance) or its registered name")


def compare(runs: Iterable[RunRecord], config: StatsConfig | None = None,
            **settings: Any) -> StatsResult:
    """The paired comparisons of ``bench stats``: Wilcoxon signed-rank tests over matched
    (fold, repeat) accuracies, effect sizes, bootstrap CIs and Holm-adjusted p-values.

    Parameters
    ----------
    runs : iterable of RunRecord
        From :func:`load_runs` or :func:`evaluate`.
    config : StatsConfig, optional
        The comparison settings; or give its fields as keywords (``compare="runs"``,
        ``alpha=0.01``, ``factors=("representation",)``).

    Returns
    -------
    StatsResult
        ``comparisons`` (one per pair tested), ``levels``, ``skipped`` with the reason;
        ``to_dict()`` is what ``bench stats --format json`` writes.
    """
    if config is not None and settings:
        raise ConfigError("pass either a StatsConfig or its fields as keywords, not both")
    if config is None:
        known = {f.name for f in dataclasses.fields(StatsConfig)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ConfigError(f"unknown comparison setting(s) {unknown}; known: {sorted(known)}")
        config = StatsConfig(**settings)
    return analyse(list(runs), config)

"""The paper's design factors, read from the embedder families' tables, and a light view of one run
for analysis.

Cramer et al. vary three things in L3-Net: the input representation (linear, Mel-128, Mel-256),
the AudioSet subset the embedding was trained on (music, environmental) and, in the authors' code
though not in the paper, the embedding size (6144 or 512). Each name's levels are read from its
family's table (:mod:`bench.embedders.catalog`), never out of the name; a name no table declares
(``mypkg.mod:MyEmbedder``) is an embedding type of its own.

Statistics and figures both group runs through this module, so a figure and the test printed under
it always see the same runs. The settings of the comparisons (:class:`StatsConfig`) live here too:
the command line reads its defaults without importing numpy or scipy.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Iterable

from bench.embedders import catalog, l3_meta, soundnet_meta, vggish_meta
from bench.errors import ConfigError, ProtocolError, ResultsError
from bench.evaluation.ranges import RANGES
from bench.runs.record import RunRecord

#: the family whose variants the design-factor comparisons (and Figures 2 and 3) are about
L3 = l3_meta.FAMILY.name
#: Default L3 variant for the embedding-type comparison (the paper's Figure 5: "our best overall
#: L3-Net embedding model variant (M256 trained on Music)").
PAPER_L3_VARIANT = "l3-m256-music"

#: display order of the families (the paper's); other families and unknown names come after
FAMILY_ORDER = {f.name: i for i, f in enumerate((l3_meta.FAMILY, vggish_meta.FAMILY,
                                                    soundnet_meta.FAMILY))}


@dataclass(frozen=True)
class Design:
    """What the tables say about an embedder's design factors.

    Attributes
    ----------
    name : str
        The embedder name as recorded.
    family : str
        Its table row's (``l3``, ``vggish``, ``soundnet``, ``baseline``), else ``other``.
    representation, subset : str or None
        Input representation (``linear|mel128|mel256``), training subset (``music|env``).
    dim : int or None
        The embedding size (``None`` for a name no table declares).
    """

    name: str
    family: str
    representation: str | None = None
    subset: str | None = None
    dim: int | None = None

    def level(self, factor: str) -> Any:
        """This embedder's level of an L3 factor, or ``None`` (not an L3 name)."""
        return getattr(self, factor) if factor in L3_FACTORS and self.family == L3 else None


def parse_embedder(name: str) -> Design:
    """The design factors of an embedder, from its family's table row.

    >>> parse_embedder("l3-m256-music-512")
    Design(name='l3-m256-music-512', family='l3', representation='mel256', subset='music', dim=512)
    """
    row = catalog.find(name)
    if row is None:
        return Design(name, "other")
    return Design(name, row.family, row.input_repr, row.content, row.size)


@dataclass(frozen=True)
class Factor:
    """One L3 design factor: its levels (the values in the table rows) in display order and
    their printed labels."""

    name: str
    title: str
    levels: tuple[Any, ...]
    labels: dict[Any, str]

    def label(self, level: Any) -> str:
        return self.labels.get(level, str(level))


L3_FACTORS: dict[str, Factor] = {
    "representation": Factor("representation", "input representation",
                             ("linear", "mel128", "mel256"),
                             {"linear": "Linear", "mel128": "Mel-128", "mel256": "Mel-256"}),
    "subset": Factor("subset", "training subset", ("env", "music"),
                     {"env": "Env.", "music": "Music"}),
    "dim": Factor("dim", "embedding size", (6144, 512), {6144: "6144-d", 512: "512-d"}),
}
#: every factor a comparison can be asked for; ``embedding`` is the embedding type (Figure 5)
FACTOR_NAMES = ("representation", "subset", "dim", "embedding")
#: ``factors``: the paper's design-factor comparisons; ``runs``: every pair of runs
COMPARE_MODES = ("factors", "runs")
WILCOXON_METHODS = ("auto", "exact", "approx")


@dataclass(frozen=True)
class StatsConfig:
    """Every choice of ``bench stats`` (one object from the command line to the core).

    Attributes
    ----------
    compare : {"factors", "runs"}
        ``factors``: the paper's design-factor comparisons (pooled); ``runs``: every pair of runs
        on one dataset, paired by (fold, repeat).
    factors : tuple of str
        Which of ``representation``, ``subset``, ``dim``, ``embedding`` to test.
    l3_variant : str or None
        The L3 variant that stands for L3 in the ``embedding`` comparison (``all``: every variant).
    alpha : float
        Significance level for the ``sig`` columns (paper: 0.05).
    method : {"auto", "exact", "approx"}
        ``scipy.stats.wilcoxon``'s method. The paper's scipy (2018) always used the normal
        approximation without continuity correction: ``approx`` reproduces that.
    n_boot, ci_level, seed : int, float, int
        Percentile bootstrap of each mean accuracy: resamples, coverage, generator seed.
    """

    compare: str = "factors"
    factors: tuple[str, ...] = FACTOR_NAMES
    l3_variant: str | None = PAPER_L3_VARIANT
    alpha: float = 0.05
    method: str = "auto"
    n_boot: int = 10000
    ci_level: float = 0.95
    seed: int = 0

    def __post_init__(self) -> None:
        if self.compare not in COMPARE_MODES:
            raise ConfigError(f"compare must be 'factors' or 'runs', found {self.compare!r}")
        unknown = [f for f in self.factors if f not in FACTOR_NAMES]
        if unknown:
            raise ConfigError(f"unknown factor(s) {unknown}; known: {list(FACTOR_NAMES)}")
        if self.method not in WILCOXON_METHODS:
            raise ConfigError(f"Wilcoxon method must be one of {list(WILCOXON_METHODS)}, "
                              f"found {self.method!r}")
        for name in ("alpha", "ci_level", "n_boot", "seed"):  # the ranges of every command
            object.__setattr__(self, name, RANGES[name].check(name, getattr(self, name)))
        object.__setattr__(self, "factors", tuple(self.factors))

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["factors"] = list(self.factors)
        return d


def fold_sort_key(fold: str) -> tuple[int, Any]:
    """Folds in natural order: numbers numerically, then names alphabetically."""
    try:
        return (0, float(fold))
    except ValueError:
        return (1, fold)


def key_sort(key: tuple[str, int]) -> tuple[Any, ...]:
    return (fold_sort_key(key[0]), key[1])


def key_label(key: tuple[str, int]) -> str:
    return f"fold {key[0]} repeat {key[1]}"


@dataclass
class RunView:
    """What analysis needs from one results record.

    Attributes
    ----------
    record : RunRecord
        The full results record (schema v1 or v2).
    accuracy : dict of (str, int) -> float
        Test accuracy (fraction) per ``(test_fold, repeat)``; ``test_fold`` as a string so that
        runs written by different tools pair.
    """

    record: RunRecord
    run_id: str
    embedder: str
    dataset: str
    preset: str
    seed: Any
    tags: dict[str, str]
    created: str
    path: str
    design: Design
    #: the primary metric per (fold, repeat): accuracy, or the task's own (``metric``)
    accuracy: dict[tuple[str, int], float] = field(default_factory=dict)
    #: a label that tells this run apart from others of the same embedder (run-vs-run tables)
    display: str | None = None

    @property
    def keys(self) -> list[tuple[str, int]]:
        return sorted(self.accuracy, key=key_sort)

    def values(self, keys: Iterable[tuple[str, int]] | None = None) -> list[float]:
        """Accuracies in ``keys`` order (default: natural fold, then repeat order)."""
        return [self.accuracy[k] for k in (self.keys if keys is None else keys)]

    @property
    def label(self) -> str:
        return self.display or self.embedder

    @property
    def group(self) -> tuple[str, str]:
        """Runs are only ever compared within one dataset and protocol preset."""
        return (self.dataset, self.preset)


def view(record: RunRecord) -> RunView:
    """A :class:`RunView` of one results record."""
    accuracy: dict[tuple[str, int], float] = {}
    source = record.source
    if not record.folds:
        raise ResultsError(f"{source}: the run has no (fold, repeat) results",
                           hint="the run did not finish; run the same `bench run` again")
    for f in record.folds:
        if f.key in accuracy:
            raise ProtocolError(f"{source}: {key_label(f.key)} appears twice in folds",
                                hint="the results file is damaged; rerun the run")
        accuracy[f.key] = f.score  # the task's primary metric (accuracy on single-label tasks)
    embedder = record.embedder_name
    return RunView(record=record, run_id=record.run_id, embedder=embedder,
                   dataset=record.dataset_name, preset=record.preset, seed=record.run_seed,
                   tags=record.run_tags, created=record.created, path=source,
                   design=parse_embedder(embedder), accuracy=accuracy)


def parse_count(text: str) -> float:
    """A sample count from a tag: ``13e6``, ``13000000``, ``13M``, ``2.6m``, ``500k``."""
    t = str(text).strip().replace("_", "").replace(",", "")
    scale = 1.0
    if t[-1:].lower() in ("k", "m", "g", "b"):
        scale = {"k": 1e3, "m": 1e6, "g": 1e9, "b": 1e9}[t[-1].lower()]
        t = t[:-1]
    value = float(t) * scale
    if not math.isfinite(value) or value < 0:
        raise ValueError(text)
    return value


def train_samples(run: RunView) -> float | None:
    """The run's ``train_samples`` tag as a number, ``None`` when untagged.

    Raises
    ------
    ProtocolError
        When the tag is present but not a number.
    """
    raw = run.tags.get("train_samples")
    if raw is None:
        return None
    try:
        return parse_count(raw)
    except ValueError:
        raise ProtocolError(f"{run.path}: tag train_samples={raw!r} is not a sample count",
                            hint="tag runs like `--tag train_samples=13e6` (or 13M)") from None


def select_one_per_embedder(runs: Iterable[RunView]) -> tuple[list[RunView], list[str]]:
    """One run per (dataset, preset, embedder) for the design-factor comparisons and Figures 2, 3, 5.

    Among several runs of one embedder, runs without a ``train_samples`` tag (not Figure 4
    checkpoints) come first; if all are tagged, the largest ``train_samples`` (the final
    checkpoint); then the newest ``created``. Every run left out is named in the returned notes.
    """
    by: dict[tuple[str, str, str], list[RunView]] = {}
    for r in runs:
        by.setdefault((r.dataset, r.preset, r.embedder), []).append(r)
    chosen, notes = [], []
    for (dataset, preset, embedder), group in by.items():
        if len(group) == 1:
            chosen.append(group[0])
            continue

        def rank(r: RunView) -> tuple[Any, ...]:
            ts = train_samples(r)
            return (ts is None, ts if ts is not None else 0.0, r.created, r.run_id)

        group = sorted(group, key=rank, reverse=True)
        chosen.append(group[0])
        left = ", ".join(r.run_id or r.path for r in group[1:])
        notes.append(f"{embedder} on {dataset} ({preset}): {len(group)} runs; used {group[0].run_id}"
                     f" ({'untagged, ' if train_samples(group[0]) is None else ''}newest), "
                     f"left out of the comparisons: {left}")
    return chosen, notes


@dataclass
class Selection:
    """Runs viewed once for an analysis, with the choice of :func:`select_one_per_embedder`
    made on first use (so analyses that never need it, such as run-vs-run tests, never make it).

    Attributes
    ----------
    runs : list of RunView
        Every run.
    """

    runs: list[RunView]

    @cached_property
    def _selected(self) -> tuple[list[RunView], list[str]]:
        return select_one_per_embedder(self.runs)

    @property
    def chosen(self) -> list[RunView]:
        """One run per (dataset, preset, embedder)."""
        return self._selected[0]

    @property
    def notes(self) -> list[str]:
        """The runs left out of :attr:`chosen`, named."""
        return self._selected[1]


def select(records: Iterable[RunRecord] | Selection) -> Selection:
    """A :class:`Selection` of results records; a Selection is returned as it is, so a caller
    that analyses one set of runs several ways views them once."""
    if isinstance(records, Selection):
        return records
    return Selection([view(r) for r in records])


def by_group(runs: Iterable[RunView]) -> dict[tuple[str, str], list[RunView]]:
    """Runs grouped by (dataset, preset), groups and runs in a stable order."""
    out: dict[tuple[str, str], list[RunView]] = {}
    for r in sorted(runs, key=lambda r: (r.dataset, r.preset, embedding_sort_key(r.embedder),
                                         r.created, r.run_id)):
        out.setdefault(r.group, []).append(r)
    return out


def embedding_sort_key(name: str) -> tuple[Any, ...]:
    """L3 variants (by representation, subset, size), then VGGish, SoundNet, the others by name."""
    d = parse_embedder(name)
    if d.family == L3:
        f = L3_FACTORS
        return (0, f["representation"].levels.index(d.representation),
                f["subset"].levels.index(d.subset), f["dim"].levels.index(d.dim), name)
    return (FAMILY_ORDER.get(d.family, len(FAMILY_ORDER)), 0, 0, 0, name)


def embedding_categories(runs: list[RunView], l3_variant: str | None = PAPER_L3_VARIANT
                         ) -> tuple[list[RunView], list[str]]:
    """The runs that stand for the embedding types in one group (Figure 5, ``embedding`` factor).

    Every non-L3 embedder is its own category. Of the L3 variants only ``l3_variant`` is kept when
    it is among the runs (the paper compares its best variant, M256/Music); when it is not, or
    when ``l3_variant`` is ``None`` or ``"all"``, every L3 variant is a category of its own.
    """
    notes: list[str] = []
    names = {r.embedder for r in runs}
    keep_all_l3 = l3_variant in (None, "all") or l3_variant not in names
    out = []
    dropped = []
    for r in sorted(runs, key=lambda r: embedding_sort_key(r.embedder)):
        if r.design.family == L3 and not keep_all_l3 and r.embedder != l3_variant:
            dropped.append(r.embedder)
            continue
        out.append(r)
    if dropped:
        notes.append(f"embedding type: L3 stands for {l3_variant} (as the paper's Figure 5); "
                     f"other L3 variants not in this comparison: {', '.join(dropped)}")
    return out, notes


def l3_runs(runs: Iterable[RunView]) -> list[RunView]:
    return [r for r in runs if r.design.family == L3]


def other_levels_key(factor: str) -> Callable[[RunView], tuple[int, ...]]:
    """Sort key of an L3 run by its levels of the factors other than ``factor`` (declared order)."""
    others = [f for f in L3_FACTORS.values() if f.name != factor]

    def key(r: RunView) -> tuple[int, ...]:
        return tuple(f.levels.index(r.design.level(f.name)) for f in others)

    return key


def other_levels_label(run: RunView, factor: str) -> str:
    return "/".join(f.label(run.design.level(f.name)) for f in L3_FACTORS.values()
                    if f.name != factor)

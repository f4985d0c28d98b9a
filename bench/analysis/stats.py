"""Paired comparisons between runs, as the paper made them, and a little beyond.

The paper's test: ``scipy.stats.wilcoxon`` on test accuracies paired by (test fold, repeat),
p < 0.05, each design factor "averaged over all other design variations not relevant to the
comparison". The authors' code pooled the other factors' levels and paired the pooled lists by
position within each fold; :func:`pool_pairs` does the same with a fixed, documented order (see
docs/analysis.md). Beyond the paper: the median paired difference and the matched-pairs
rank-biserial correlation as effect sizes, a seeded percentile bootstrap interval for each mean
accuracy, and Holm's correction over the comparisons of one factor on one dataset.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, Iterable, Sequence

import numpy as np

from bench.analysis.factors import (L3, L3_FACTORS, RunView, Selection, StatsConfig, by_group,
                          embedding_categories, key_label, key_sort, l3_runs, other_levels_key,
                          other_levels_label, select)
from bench.analysis.paired import (FEW_PAIRS_NOTE, bootstrap_ci, differences, holm,  # noqa: F401
                                   rank_biserial, wilcoxon)
from bench.errors import ProtocolError
from bench.runs.record import RunRecord



# --------------------------------------------------------------------------- pairing

def pool_pairs(level_a: list[RunView], level_b: list[RunView], factor: str | None = None
               ) -> tuple[list[float], list[float], list[str]]:
    """The paired accuracy vectors of two levels, pooled over the other design factors.

    Rule (the authors' pooling, made deterministic): all runs of both levels must hold the same
    set of (fold, repeat) keys, and both levels the same number of runs. Within a level the runs
    are ordered by their levels of the other L3 factors (declared order: subset env, music; size
    6144, 512; representation linear, m128, m256). For every key in natural (fold, repeat) order,
    the i-th run of ``level_a`` is paired with the i-th run of ``level_b``. When both levels hold
    the same other-factor combinations this pairs identical designs; when they do not, runs are
    still paired by position (as the authors' lists were) and a note says so.

    Returns
    -------
    a, b : list of float
        Paired accuracies.
    notes : list of str
    """
    def what(runs: list[RunView]) -> str:
        return ", ".join(r.label for r in runs)

    if not level_a or not level_b:
        raise ProtocolError("a level of the comparison has no runs")
    if len(level_a) != len(level_b):
        raise ProtocolError(
            f"the levels hold different numbers of runs ({len(level_a)}: {what(level_a)}; "
            f"{len(level_b)}: {what(level_b)}); pooled runs are paired by position and need "
            f"equal numbers", hint="run the missing variants, or compare fewer runs")
    everyone = level_a + level_b
    ref = set(everyone[0].accuracy)
    for r in everyone[1:]:
        if set(r.accuracy) != ref:
            missing = sorted(ref - set(r.accuracy), key=key_sort)
            extra = sorted(set(r.accuracy) - ref, key=key_sort)
            detail = "; ".join(filter(None, [
                ("lacks " + ", ".join(key_label(k) for k in missing[:4])
                 + (" ..." if len(missing) > 4 else "")) if missing else "",
                ("has extra " + ", ".join(key_label(k) for k in extra[:4])
                 + (" ..." if len(extra) > 4 else "")) if extra else ""]))
            raise ProtocolError(
                f"runs do not pair: {r.label} ({r.path}) {detail} compared with "
                f"{everyone[0].label} ({everyone[0].path})",
                hint="paired tests need the same folds and repeats in every run: rerun with "
                     "the same dataset and --repeats")
    notes: list[str] = []
    if factor in L3_FACTORS:
        order = other_levels_key(factor)
        level_a = sorted(level_a, key=order)
        level_b = sorted(level_b, key=order)
        combos_a = [other_levels_label(r, factor) for r in level_a]
        combos_b = [other_levels_label(r, factor) for r in level_b]
        if combos_a != combos_b:
            notes.append(f"unmatched designs paired by position: {', '.join(combos_a)} with "
                         f"{', '.join(combos_b)}")
    keys = sorted(ref, key=key_sort)
    a = [r.accuracy[k] for k in keys for r in level_a]
    b = [r.accuracy[k] for k in keys for r in level_b]
    return a, b, notes


# --------------------------------------------------------------------------- results

@dataclass
class Level:
    """One level (or run) of a comparison family, with its mean accuracy and bootstrap CI."""

    dataset: str
    preset: str
    factor: str
    level: str
    runs: list[str]
    n: int
    mean: float
    ci_low: float
    ci_high: float


@dataclass
class Comparison:
    """One paired test ``a`` vs ``b``; differences are ``a - b`` in accuracy (fractions)."""

    dataset: str
    preset: str
    factor: str
    a: str
    b: str
    runs_a: list[str]
    runs_b: list[str]
    n: int
    n_nonzero: int
    mean_a: float
    mean_b: float
    mean_diff: float
    median_diff: float
    rank_biserial: float
    statistic: float
    p: float
    p_holm: float = float("nan")
    family_size: int = 1
    notes: list[str] = field(default_factory=list)
    alpha: float = 0.05

    @property
    def significant(self) -> bool:
        """The paper's rule: uncorrected p < alpha."""
        return self.p < self.alpha

    @property
    def significant_holm(self) -> bool:
        return self.p_holm < self.alpha

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["significant"] = self.significant
        d["significant_holm"] = self.significant_holm
        return d


@dataclass
class StatsResult:
    """Everything ``bench stats`` found: levels, comparisons, what was skipped and why."""

    config: StatsConfig
    levels: list[Level] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: (dataset, preset) -> the primary metric its runs are compared on
    metrics: dict[tuple[str, str], str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        import scipy

        return {"settings": {**self.config.to_dict(), "test": "wilcoxon signed-rank, two-sided, "
                             "zero_method=wilcox, no continuity correction",
                             "correction": "holm within (dataset, preset, factor)",
                             "bootstrap": "percentile, resampling (fold, repeat) accuracies",
                             "scipy": scipy.__version__},
                "levels": [dataclasses.asdict(x) for x in self.levels],
                "comparisons": [c.to_dict() for c in self.comparisons],
                "skipped": list(self.skipped), "notes": list(self.notes)}


def paired_numbers(a: Sequence[float], b: Sequence[float], method: str = "auto"
                   ) -> dict[str, float]:
    """All paired numbers for ``a`` vs ``b``: Wilcoxon statistic and p, effect sizes, means."""
    a_arr, b_arr = np.asarray(a, float), np.asarray(b, float)
    d = differences(a_arr, b_arr)
    stat, p = wilcoxon(a_arr, b_arr, method)
    return {"n": int(d.size), "n_nonzero": int(np.count_nonzero(d)),
            "mean_a": float(a_arr.mean()), "mean_b": float(b_arr.mean()),
            "mean_diff": float(a_arr.mean() - b_arr.mean()), "median_diff": float(np.median(d)),
            "rank_biserial": rank_biserial(a_arr, b_arr), "statistic": stat, "p": p}


def _family(result: StatsResult, dataset: str, preset: str, factor: str,
            levels: list[tuple[str, list[RunView]]], cfg: StatsConfig,
            pairs: list[tuple[int, int]], strict: bool = False) -> None:
    """Test every pair of ``levels`` (indices in ``pairs``, ``a`` first), Holm over the family."""
    for name, runs in levels:
        values = [v for r in runs for v in r.values()]
        lo, hi = bootstrap_ci(values, n_boot=cfg.n_boot, level=cfg.ci_level, seed=cfg.seed)
        result.levels.append(Level(dataset, preset, factor, name, [r.label for r in runs],
                                   len(values), float(np.mean(values)), lo, hi))
    family: list[Comparison] = []
    for i, j in pairs:
        (name_a, runs_a), (name_b, runs_b) = levels[i], levels[j]
        try:
            a, b, notes = pool_pairs(runs_a, runs_b, factor if factor in L3_FACTORS else None)
        except ProtocolError as exc:
            if strict:
                raise ProtocolError(f"{dataset}: {name_a} vs {name_b}: {exc.message}",
                                    hint=exc.hint) from None
            result.skipped.append(f"{dataset} ({preset}) {factor}: {name_a} vs {name_b}: "
                                  f"{exc.message}")
            continue
        nums = paired_numbers(a, b, cfg.method)
        if nums["n_nonzero"] < 6:
            notes.append(FEW_PAIRS_NOTE)
        family.append(Comparison(dataset, preset, factor, name_a, name_b,
                                 [r.label for r in runs_a], [r.label for r in runs_b],
                                 notes=notes, alpha=cfg.alpha, **nums))
    for c, p_adj in zip(family, holm([c.p for c in family])):
        c.p_holm = p_adj
        c.family_size = len(family)
    result.comparisons.extend(family)


def analyse(records: Iterable[RunRecord] | Selection, config: StatsConfig | None = None
            ) -> StatsResult:
    """Run the comparisons ``config`` asks for over results records.

    Parameters
    ----------
    records : iterable of RunRecord, or Selection
        Results records (``bench.runs.record.load_runs``), or their :func:`bench.analysis.factors.select`.
    config : StatsConfig, optional

    Returns
    -------
    StatsResult
        Comparisons that could not be paired are listed in ``skipped`` with the reason (factor
        mode); in run mode they raise.

    Raises
    ------
    ProtocolError
        In ``runs`` mode, when runs of one dataset do not share their (fold, repeat) keys.
    """
    cfg = config or StatsConfig()
    runs = select(records)
    result = StatsResult(cfg)
    for (dataset, preset), group in by_group(runs.runs).items():
        result.metrics[(dataset, preset)] = group[0].record.metric_name
    if cfg.compare == "runs":
        _run_pairs(result, runs.runs, cfg)
        return result
    result.notes.extend(runs.notes)
    for (dataset, preset), group in by_group(runs.chosen).items():
        for factor in cfg.factors:
            if factor == "embedding":
                if all(r.design.family == L3 for r in group):
                    continue  # only L3 variants: the L3 factors are the comparisons
                cats, cat_notes = embedding_categories(group, cfg.l3_variant)
                if len(cats) < 2:
                    continue
                result.notes.extend(f"{dataset} ({preset}): {n}" for n in cat_notes)
                levels = [(r.embedder, [r]) for r in cats]
                pairs = list(combinations(range(len(levels)), 2))
            else:
                f = L3_FACTORS[factor]
                l3 = l3_runs(group)
                levels = [(f.label(lv), [r for r in l3 if r.design.level(factor) == lv])
                          for lv in f.levels]
                levels = [x for x in levels if x[1]]
                if len(levels) < 2:
                    continue
                # later level first: Mel-256 vs Linear, Music vs Env., 512-d vs 6144-d
                pairs = [(j, i) for i, j in combinations(range(len(levels)), 2)]
            _family(result, dataset, preset, factor, levels, cfg, pairs)
    return result


def run_labels(runs: list[RunView]) -> list[str]:
    """Labels that tell runs apart: the embedder, then preset, seed, tags, run id as needed."""
    labels = [r.embedder for r in runs]
    for extra in (lambda r: r.preset, lambda r: f"seed {r.seed}",
                  lambda r: ",".join(f"{k}={v}" for k, v in sorted(r.tags.items())),
                  lambda r: r.run_id):
        dup = {lab for lab in labels if labels.count(lab) > 1}
        if not dup:
            break
        values = {}
        for i, r in enumerate(runs):
            if labels[i] in dup:
                values.setdefault(labels[i], set()).add(extra(r))
        labels = [f"{lab} [{extra(r)}]" if lab in dup and len(values[lab]) > 1 else lab
                  for lab, r in zip(labels, runs)]
    return labels


def _run_pairs(result: StatsResult, runs: list[RunView], cfg: StatsConfig) -> None:
    by_dataset: dict[str, list[RunView]] = {}
    for r in by_group(runs).values():
        for x in r:
            by_dataset.setdefault(x.dataset, []).append(x)
    for dataset, group in by_dataset.items():
        if len(group) < 2:
            result.skipped.append(f"{dataset}: only one run ({group[0].label}); nothing to pair")
            continue
        group = [dataclasses.replace(r, display=lab) for r, lab in zip(group, run_labels(group))]
        levels = [(r.label, [r]) for r in group]
        presets = sorted({r.preset for r in group})
        _family(result, dataset, "+".join(presets), "runs", levels, cfg,
                list(combinations(range(len(levels)), 2)), strict=True)
    if not result.comparisons:
        raise ProtocolError("no two runs on the same dataset to compare",
                            hint="pass at least two runs of one dataset")

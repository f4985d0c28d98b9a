"""`bench stats` output: the per-family level and test tables, as text, CSV or JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bench.analysis.factors import L3_FACTORS
from bench.errors import ConfigError
from bench.analysis.stats import Comparison, StatsResult
from bench.util import tables


# --------------------------------------------------------------------------- output

FACTOR_TITLES = {**{name: f.title for name, f in L3_FACTORS.items()},
                 "embedding": "embedding type", "runs": "run vs run"}

#: the columns of a family's tests; deltas are A - B in accuracy points
TEST_HEADERS = ["comparison", "n", "delta", "median d", "r_rb", "W", "p", "p Holm", "sig"]


def _sig(c: Comparison) -> str:
    if c.significant_holm:
        return "yes"
    if c.significant:
        return "p only"
    return "no"


def level_rows(result: StatsResult, dataset: str, preset: str, factor: str) -> list[list[Any]]:
    return [[x.level, len(x.runs), x.n, tables.pct(x.mean),
             f"[{tables.pct(x.ci_low)}, {tables.pct(x.ci_high)}]"]
            for x in result.levels if (x.dataset, x.preset, x.factor) == (dataset, preset, factor)]


def families(result: StatsResult) -> list[tuple[str, str, str]]:
    seen: list[tuple[str, str, str]] = []
    for x in result.levels:
        k = (x.dataset, x.preset, x.factor)
        if k not in seen:
            seen.append(k)
    return seen


def grouped_notes(comps: list[Comparison]) -> list[tuple[str, str]]:
    """Notes of a family, each once, with the comparisons it applies to (``all`` when every
    one)."""
    by: dict[str, list[str]] = {}
    for c in comps:
        for note in c.notes:
            by.setdefault(note, []).append(f"{c.a} vs {c.b}")
    return [("all" if len(who) == len(comps) and len(comps) > 1 else ", ".join(who), note)
            for note, who in by.items()]


@dataclass
class FamilyTables:
    """What is printed for one (dataset, preset, factor) family, by ``bench stats`` and in the
    report alike: the levels with their CIs, the tests (under :data:`TEST_HEADERS`), the
    notes of the tests (``(which comparisons, note)``)."""

    dataset: str
    preset: str
    factor: str
    level_headers: list[str]
    levels: list[list[Any]]
    tests: list[list[Any]]
    notes: list[tuple[str, str]]
    #: the primary metric the family is compared on
    metric: str = "accuracy"

    @property
    def title(self) -> str:
        metric = "" if self.metric == "accuracy" else f" [{self.metric}]"
        return f"{self.dataset} ({self.preset}){metric}: {FACTOR_TITLES[self.factor]}"


def family_tables(result: StatsResult) -> list[FamilyTables]:
    """The tables of every family of ``result``, in the order the families were tested."""
    ci = int(round(100 * result.config.ci_level))
    out = []
    for dataset, preset, factor in families(result):
        comps = [c for c in result.comparisons
                 if (c.dataset, c.preset, c.factor) == (dataset, preset, factor)]
        tests = [[f"{c.a} vs {c.b}", c.n, tables.signed(100 * c.mean_diff),
                  tables.signed(100 * c.median_diff), f"{c.rank_biserial:+.2f}",
                  f"{c.statistic:g}", tables.pvalue(c.p), tables.pvalue(c.p_holm), _sig(c)]
                 for c in comps]
        out.append(FamilyTables(dataset, preset, factor,
                                ["level", "runs", "n", "mean %", f"{ci}% CI"],
                                level_rows(result, dataset, preset, factor), tests,
                                grouped_notes(comps),
                                result.metrics.get((dataset, preset), "accuracy")))
    return out


def format_text(result: StatsResult) -> str:
    """The readable table: per (dataset, factor), the levels with their CI, then the tests."""
    cfg = result.config
    ci = int(round(100 * cfg.ci_level))
    out = [f"Wilcoxon signed-rank (two-sided, scipy method {cfg.method}), paired by (fold, "
           f"repeat); sig: 'yes' = Holm-adjusted p < {cfg.alpha}, 'p only' = uncorrected p < "
           f"{cfg.alpha} (the paper's rule). Deltas: A - B in points of the task's primary "
           f"metric (accuracy unless a title names another). "
           f"{ci}% CI: percentile bootstrap, {cfg.n_boot} resamples, seed {cfg.seed}."]
    for fam in family_tables(result):
        out.append("")
        out.append(f"== {fam.title}"
                   + (f", Holm over {len(fam.tests)}" if len(fam.tests) > 1 else ""))
        out.append(tables.text(fam.level_headers, fam.levels))
        if fam.tests:
            out.append("")
            out.append(tables.text(TEST_HEADERS, fam.tests))
            for where, note in fam.notes:
                out.append(f"  note ({where}): {note}")
    for s in result.skipped:
        out.append(f"skipped: {s}")
    for n in result.notes:
        out.append(f"note: {n}")
    return "\n".join(out)


def format_result(result: StatsResult, fmt: str = "table") -> str:
    """``table`` (readable text), ``csv`` (one row per comparison) or ``json`` (everything)."""
    if fmt == "table":
        return format_text(result)
    if fmt == "csv":
        headers = ["dataset", "preset", "factor", "a", "b", "n", "n_nonzero", "mean_a",
                   "ci_a_low", "ci_a_high", "mean_b", "ci_b_low", "ci_b_high", "mean_diff",
                   "median_diff", "rank_biserial", "statistic", "p", "p_holm", "family_size",
                   "significant", "significant_holm", "notes"]
        lv = {(x.dataset, x.preset, x.factor, x.level): x for x in result.levels}
        rows = []
        for c in result.comparisons:
            la, lb = lv[(c.dataset, c.preset, c.factor, c.a)], lv[(c.dataset, c.preset, c.factor,
                                                                   c.b)]
            rows.append([c.dataset, c.preset, c.factor, c.a, c.b, c.n, c.n_nonzero,
                         repr(c.mean_a), repr(la.ci_low), repr(la.ci_high), repr(c.mean_b),
                         repr(lb.ci_low), repr(lb.ci_high), repr(c.mean_diff),
                         repr(c.median_diff), repr(c.rank_biserial), repr(c.statistic),
                         repr(c.p), repr(c.p_holm), c.family_size, c.significant,
                         c.significant_holm, " | ".join(c.notes)])
        return tables.csv_text(headers, rows)
    if fmt == "json":
        return json.dumps(result.to_dict(), indent=2)
    raise ConfigError(f"format must be table, csv or json, found {fmt!r}")

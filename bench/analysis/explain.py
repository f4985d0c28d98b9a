"""``bench explain``: one embedder under several protocols, and which settings make the numbers
differ.

For each (dataset, embedder) among the runs given: every run's accuracy with its protocol's
fingerprint, then every pair of runs with the paired difference, a Wilcoxon signed-rank test
(bench.analysis.paired, Holm over the pairs of the group) and the protocol settings in which the
two differ. Runs are paired by (test fold, repeat) when they hold the same ones; when their
repeats differ (``fewshot`` repeats 5 times, ``paper`` on synth once) each fold's mean over its
repeats is paired instead, and the table says so. The data and the folds must be the same.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from bench.analysis import plots
from bench.analysis.factors import RunView, fold_sort_key, key_sort, select
from bench.analysis.paired import FEW_PAIRS_NOTE, differences, holm, wilcoxon
from bench.analysis.report import Block, to_html, to_markdown
from bench.errors import ProtocolError
from bench.evaluation.settings import fingerprint, resolved_settings
from bench.io.fileio import atomic_write_text
from bench.runs.identity import slug
from bench.runs.record import RunRecord, write_json
from bench.util import tables

EXPLAIN_MD, EXPLAIN_HTML, EXPLAIN_JSON = "explain.md", "explain.html", "explain.json"
ROW_HEADERS = ["preset", "fingerprint", "accuracy %", "sd", "n", "run"]
PAIR_HEADERS = ["A vs B", "n", "delta", "median d", "W", "p", "p Holm", "settings that differ"]


@dataclass
class PresetRow:
    """One run of the group: its label (the preset, disambiguated), fingerprint and accuracies
    by pairing unit."""

    label: str
    preset: str
    fingerprint: str
    run_id: str
    values: dict[Any, float]
    settings: dict[str, Any]

    @property
    def mean(self) -> float:
        return float(np.mean(list(self.values.values())))

    @property
    def std(self) -> float:
        v = list(self.values.values())
        return float(np.std(v, ddof=1)) if len(v) > 1 else 0.0


@dataclass
class PairRow:
    a: str
    b: str
    n: int
    n_nonzero: int
    mean_diff: float
    median_diff: float
    statistic: float
    p: float
    p_holm: float
    differs: list[str]
    notes: list[str] = field(default_factory=list)


@dataclass
class Explanation:
    """The table of one (dataset, embedder) group."""

    dataset: str
    embedder: str
    unit: str
    rows: list[PresetRow]
    pairs: list[PairRow]
    notes: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"{self.embedder} on {self.dataset}: {len(self.rows)} protocols, paired by {self.unit}"

    def row_cells(self) -> list[list[Any]]:
        return [[r.label, r.fingerprint, tables.pct(r.mean), f"{100 * r.std:.2f}",
                 len(r.values), r.run_id] for r in self.rows]

    def pair_cells(self) -> list[list[Any]]:
        return [[f"{p.a} vs {p.b}", p.n, tables.signed(100 * p.mean_diff),
                 tables.signed(100 * p.median_diff), f"{p.statistic:g}", tables.pvalue(p.p),
                 tables.pvalue(p.p_holm), "; ".join(p.differs) or "(none)"] for p in self.pairs]

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "embedder": self.embedder, "unit": self.unit,
                "runs": [{"label": r.label, "preset": r.preset, "fingerprint": r.fingerprint,
                          "run_id": r.run_id, "mean": r.mean, "std": r.std,
                          "n": len(r.values)} for r in self.rows],
                "pairs": [p.__dict__ for p in self.pairs], "notes": list(self.notes)}


def setting_differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """``field: value_a -> value_b`` for every protocol setting in which two recorded protocols
    differ (the preset's name left out; extended fields missing from old records take their
    defaults)."""
    ra, rb = resolved_settings(a), resolved_settings(b)
    out = []
    for k in sorted(set(ra) | set(rb)):
        if k == "preset" or ra.get(k) == rb.get(k):
            continue
        out.append(f"{k}: {_short(ra.get(k))} -> {_short(rb.get(k))}")
    return out


def _short(v: Any) -> str:
    return json.dumps(v, separators=(",", ":")) if isinstance(v, (list, dict)) else str(v)


def _labels(runs: list[RunView]) -> list[str]:
    labels = [r.preset for r in runs]
    for extra in (lambda r: f"s{r.seed}", lambda r: r.run_id):
        dup = {x for x in labels if labels.count(x) > 1}
        if not dup:
            break
        labels = [f"{x} [{extra(r)}]" if x in dup else x for x, r in zip(labels, runs)]
    return labels


def _dataset(run: RunView) -> dict[str, Any]:
    """The record's dataset description ({} when the record names the dataset only)."""
    return run.record.dataset if isinstance(run.record.dataset, dict) else {}


def _check_same_data(runs: list[RunView]) -> None:
    first = _dataset(runs[0])
    for r in runs[1:]:
        d = _dataset(r)
        for k, what in (("content_sha256", "audio"), ("splits", "folds")):
            if first.get(k) is not None and d.get(k) is not None and first.get(k) != d.get(k):
                raise ProtocolError(
                    f"{r.path} and {runs[0].path} were not run on the same {what} "
                    f"(dataset.{k} differs); protocols can only be compared on the same data "
                    f"and folds", hint="run every preset on the same dataset (and data dir)")


def _units(runs: list[RunView]) -> tuple[str, list[dict[Any, float]]]:
    """The pairing unit and every run's accuracy per unit."""
    keys = set(runs[0].accuracy)
    if all(set(r.accuracy) == keys for r in runs):
        return "(fold, repeat)", [{k: r.accuracy[k] for k in sorted(keys, key=key_sort)}
                                  for r in runs]
    folds = {k[0] for k in runs[0].accuracy}
    for r in runs[1:]:
        theirs = {k[0] for k in r.accuracy}
        if theirs != folds:
            raise ProtocolError(f"{r.path} tests folds {sorted(theirs)} and {runs[0].path} "
                                f"{sorted(folds)}; paired comparisons need the same test folds")
    out = []
    for r in runs:
        by: dict[str, list[float]] = {}
        for (fold, _), acc in r.accuracy.items():
            by.setdefault(fold, []).append(acc)
        out.append({f: float(np.mean(by[f])) for f in sorted(by, key=fold_sort_key)})
    return "fold (mean over repeats: the runs' repeats differ)", out


def explain(records: Iterable[RunRecord], method: str = "auto") -> list[Explanation]:
    """The explanation of every (dataset, embedder) group with at least two runs.

    Raises
    ------
    ProtocolError
        When no group has two runs, or a group's runs differ in data or folds.
    """
    runs = select(records).runs
    groups: dict[tuple[str, str], list[RunView]] = {}
    # the paper first (the reference the others are read against), then the rest by name
    for r in sorted(runs, key=lambda r: (r.dataset, r.embedder, r.preset != "paper",
                                         r.preset != "l3embedding", r.preset, r.created,
                                         r.run_id)):
        groups.setdefault((r.dataset, r.embedder), []).append(r)
    out = []
    for (dataset, embedder), group in groups.items():
        if len(group) < 2:
            continue
        _check_same_data(group)
        unit, values = _units(group)
        rows = [PresetRow(lab, r.preset, fingerprint(r.record.protocol), r.run_id,
                          v, r.record.protocol)
                for lab, r, v in zip(_labels(group), group, values)]
        pairs = []
        for i in range(len(rows)):
            for j in range(i + 1, len(rows)):
                a, b = rows[j], rows[i]  # later preset first, as A - B
                keys = list(a.values)
                va, vb = [a.values[k] for k in keys], [b.values[k] for k in keys]
                d = differences(va, vb)
                stat, p = wilcoxon(va, vb, method)
                nonzero = int(np.count_nonzero(d))
                pairs.append(PairRow(a.label, b.label, len(keys), nonzero,
                                     float(np.mean(va) - np.mean(vb)), float(np.median(d)),
                                     stat, p, float("nan"),
                                     setting_differences(b.settings, a.settings),
                                     [FEW_PAIRS_NOTE] if nonzero < 6 else []))
        for pr, adj in zip(pairs, holm([pr.p for pr in pairs])):
            pr.p_holm = adj
        notes = [f"{FEW_PAIRS_NOTE} ({', '.join(f'{p.a} vs {p.b}' for p in pairs if p.notes)})"
                 ] if any(p.notes for p in pairs) else []
        out.append(Explanation(dataset, embedder, unit, rows, pairs, notes))
    if not out:
        raise ProtocolError("no embedder has runs under two protocols on one dataset",
                            hint="run the same embedder and dataset with several --protocol "
                                 "presets, then pass all the run directories")
    return out


def format_explanations(exps: list[Explanation]) -> str:
    """The tables as plain text (what ``bench explain`` prints)."""
    out = ["Accuracy: mean and sd over the pairing units. Paired differences A - B in accuracy "
           "points; Wilcoxon signed-rank (two-sided), Holm over the pairs of a group; 'settings "
           "that differ' read B -> A."]
    for e in exps:
        # the settings column is long: printed under the table, one wrapped entry per pair
        out += ["", f"== {e.title}", tables.text(ROW_HEADERS, e.row_cells()), "",
                tables.text(PAIR_HEADERS[:-1], [c[:-1] for c in e.pair_cells()]), "",
                "settings that differ (B -> A):"]
        for p in e.pairs:
            out.append(textwrap.fill("; ".join(p.differs) or "(none)", width=100,
                                     initial_indent=f"  {p.a} vs {p.b}: ",
                                     subsequent_indent="      ", break_on_hyphens=False))
        out += [f"note: {n}" for n in e.notes]
    return "\n".join(out)


def draw_explanation(exp: Explanation):
    """One panel: each preset's accuracies per pairing unit (points joined across presets by a
    grey line per unit) and their mean (black triangle); x labels carry the fingerprints."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    FONT_PT, PALETTE = plots.FONT_PT, plots.PALETTE
    n = len(exp.rows)
    fig = Figure(figsize=(max(3.3, 0.9 * n + 1.0), 2.4), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    xs = np.arange(1, n + 1)
    for key in exp.rows[0].values:
        ax.plot(xs, [100 * r.values[key] for r in exp.rows], color="#bbbbbb", linewidth=0.6,
                zorder=1, gid=f"unit:{key}")
    for x, r, colour in zip(xs, exp.rows, PALETTE * (n // len(PALETTE) + 1)):
        vals = [100 * v for v in r.values.values()]
        ax.scatter(np.full(len(vals), x), vals, s=9, color=colour, zorder=2,
                   gid=f"points:{r.label}")
        ax.scatter([x], [100 * r.mean], marker="^", s=22, color="black", zorder=3,
                   gid=f"mean:{r.label}")
    ax.set_xticks(xs)
    ax.set_xticklabels([f"{r.label}\n{r.fingerprint}" for r in exp.rows], fontsize=FONT_PT)
    ax.set_xlim(0.5, n + 0.5)
    ax.set_ylabel("Accuracy (%)", fontsize=FONT_PT)
    ax.set_title(f"{exp.embedder} on {exp.dataset} (by {exp.unit.split(' (')[0]})",
                 fontsize=FONT_PT + 1)
    ax.tick_params(labelsize=FONT_PT - 0.5, length=2, width=0.6)
    ax.grid(axis="y", linewidth=0.3, alpha=0.5)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig


def write_explain(records: list[RunRecord], out_dir: Path, method: str = "auto"
                  ) -> tuple[list[Explanation], dict[str, Path]]:
    """Write ``explain.md``, ``explain.html``, ``explain.json`` and one figure per group
    (``explain-<dataset>-<embedder>.png/.pdf``) under ``out_dir``."""
    exps = explain(records, method)
    out = Path(out_dir)
    blocks = [Block("h1", "Why the numbers differ: one embedder under several protocols"),
              Block("p", "Accuracy per protocol (fingerprint: hash of the resolved settings), "
                         "paired differences A - B in points, Wilcoxon signed-rank p (Holm over "
                         "the pairs of a group) and the settings that differ (B -> A).")]
    paths: dict[str, Path] = {}
    for e in exps:
        stem = f"explain-{slug(e.dataset)}-{slug(e.embedder)}"
        images = plots.render(draw_explanation(e), ("png", "pdf"))
        for p in plots.write(images, out, stem):
            paths[p.name] = p
        blocks += [Block("h2", e.title), Block("table", headers=ROW_HEADERS, rows=e.row_cells()),
                   Block("table", headers=PAIR_HEADERS, rows=e.pair_cells()),
                   *[Block("p", f"Note: {n}") for n in e.notes],
                   Block("figure", f"{e.embedder} on {e.dataset}. Points: accuracy per "
                                   f"{e.unit.split(' (')[0]}; grey lines join a unit across "
                                   f"protocols; triangle: mean.", image=images["png"],
                         path=f"{stem}.png")]
    atomic_write_text(out / EXPLAIN_MD, to_markdown(blocks))
    atomic_write_text(out / EXPLAIN_HTML, to_html(blocks, "bench explain"))
    write_json(out / EXPLAIN_JSON, [e.to_dict() for e in exps])
    paths.update({"markdown": out / EXPLAIN_MD, "html": out / EXPLAIN_HTML,
                  "json": out / EXPLAIN_JSON})
    return exps, paths

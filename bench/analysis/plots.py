"""Figures 2-5 of Cramer et al. (ICASSP 2019) from results files.

Figure 2: accuracy vs input representation; 3: vs training subset; 4: vs the number of samples
used to train the embedding (runs tagged ``train_samples``); 5: embedding type (L3 vs VGGish vs
SoundNet, and any other embedder as its own category). One panel per dataset; every box shows the
(fold, repeat) test accuracies as points, the quartiles, the median and the mean (triangle), as
the authors' pandas boxplots with ``showmeans=True`` did; the paper's reported value is drawn as a
red bar where the paper reports one for exactly that box.

The figures are sized for a single paper column (3.3 in wide) and drawn with matplotlib's
object API on an Agg canvas (no pyplot, no global backend), imported only when a figure is made.
Figures 2, 3 and 5 group runs exactly as ``bench stats`` does (bench.analysis.factors).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from bench.analysis.check import Reference
from bench.analysis.factors import (L3, L3_FACTORS, PAPER_L3_VARIANT, RunView, Selection, by_group,
                                    embedding_categories, embedding_sort_key, l3_runs, select,
                                    train_samples)
from bench.datasets import meta
from bench.datasets.names import dataset_key
from bench.errors import ConfigError, ProtocolError
from bench.io.fileio import atomic_write_bytes
from bench.runs.record import RunRecord

FIGURES = {2: "Classification accuracy vs. input representation",
           3: "Classification accuracy vs. training subset",
           4: "Classification accuracy vs. number of samples used to train the embedding",
           5: "Classification accuracy using different audio embeddings"}

COLUMN_WIDTH_IN = 3.3
PANEL_HEIGHT_IN = 1.45
FONT_PT = 7
PALETTE = ["#66c2a5", "#fc8d62", "#8da0cb", "#e78ac3", "#a6d854", "#ffd92f", "#e5c494",
           "#b3b3b3"]


@dataclass
class Box:
    """One box: its label, x position, (fold, repeat) accuracies (fractions), the runs pooled in
    it and the reference accuracy in percent (``None`` when the paper reports none for it)."""

    label: str
    x: float
    values: list[float]
    runs: list[str]
    reference: float | None = None
    series: str = ""


@dataclass
class Panel:
    """One dataset's panel."""

    dataset: str
    preset: str
    boxes: list[Box] = field(default_factory=list)
    #: vertical reference lines (x, label), Figure 4's 'diminishing returns after N samples'
    vlines: list[tuple[float, str]] = field(default_factory=list)

    @property
    def title(self) -> str:
        row = meta.find(dataset_key(self.dataset))
        name = row.label if row is not None else self.dataset
        return name if self.preset in ("paper", "?") else f"{name} ({self.preset})"


@dataclass
class FigureData:
    """What a figure shows, before drawing: panels of boxes, and notes on what was left out."""

    number: int
    panels: list[Panel]
    notes: list[str] = field(default_factory=list)
    xlabel: str = ""


def _ref(reference: Reference | None, dataset: str, runs: list[RunView]) -> float | None:
    """The reference value of a box: only for a box made of one embedder the reference names."""
    if reference is None or len({r.embedder for r in runs}) != 1:
        return None
    entry = reference.lookup(dataset, runs[0].embedder, runs[0].tags.get("train_samples"))
    return entry.accuracy if entry else None


def figure_data(records: Iterable[RunRecord] | Selection, number: int,
                reference: Reference | None = None,
                l3_variant: str | None = PAPER_L3_VARIANT) -> FigureData:
    """Group runs (results records, or their :func:`bench.analysis.factors.select`) into the panels and
    boxes of Figure ``number``.

    Raises
    ------
    ProtocolError
        When no run fits the figure (e.g. Figure 2 without L3 runs), saying what it needs.
    """
    if number not in FIGURES:
        raise ConfigError(f"figure must be one of {sorted(FIGURES)}, found {number}")
    runs = select(records)
    if number == 4:
        return _figure4(runs.runs, reference)
    fd = FigureData(number, [], list(runs.notes))
    for (dataset, preset), group in by_group(runs.chosen).items():
        panel = Panel(dataset, preset)
        if number == 5:
            cats, cat_notes = embedding_categories(group, l3_variant)
            fd.notes.extend(f"{dataset}: {n}" for n in cat_notes)
            for i, r in enumerate(cats):
                panel.boxes.append(Box(r.embedder, i + 1, r.values(), [r.embedder],
                                       _ref(reference, dataset, [r])))
        else:
            factor = L3_FACTORS["representation" if number == 2 else "subset"]
            l3 = l3_runs(group)
            for level in factor.levels:
                members = [r for r in l3 if r.design.level(factor.name) == level]
                if members:
                    panel.boxes.append(Box(factor.label(level), len(panel.boxes) + 1,
                                           [v for r in members for v in r.values()],
                                           [r.embedder for r in members],
                                           _ref(reference, dataset, members)))
            others = [r.embedder for r in group if r.design.family != L3]
            if others:
                fd.notes.append(f"{dataset}: not L3, not in Figure {number}: {', '.join(others)}")
        if panel.boxes:
            fd.panels.append(panel)
    _paper_order(fd.panels)
    if not fd.panels:
        need = {2: "L3 runs (l3-linear-*, l3-m128-*, l3-m256-*)",
                3: "L3 runs (l3-*-music, l3-*-env)", 5: "runs"}[number]
        raise ProtocolError(f"Figure {number} needs {need}; none among the "
                            f"{len(runs.runs)} run(s) given")
    return fd


def _figure4(runs: list[RunView], reference: Reference | None) -> FigureData:
    fd = FigureData(4, [], xlabel="Samples used to train the embedding (millions)")
    tagged = [(r, train_samples(r)) for r in runs]
    untagged = [r.embedder for r, n in tagged if n is None]
    if untagged:
        fd.notes.append(f"runs without a train_samples tag, not in Figure 4: "
                        f"{', '.join(sorted(set(untagged)))}")
    tagged = [(r, n) for r, n in tagged if n is not None]
    if not tagged:
        raise ProtocolError("Figure 4 needs runs tagged with the number of samples the "
                            "embedding was trained on",
                            hint="bench run --embedder E --dataset D --tag train_samples=13e6")
    for (dataset, preset), group in by_group(r for r, _ in tagged).items():
        panel = Panel(dataset, preset)
        series = sorted({r.embedder for r in group}, key=embedding_sort_key)
        counts = sorted({train_samples(r) for r in group})
        spacing = min(np.diff(counts) / 1e6) if len(counts) > 1 else 1.0
        width = 0.6 * spacing / len(series)
        for s_i, name in enumerate(series):
            offset = (s_i - (len(series) - 1) / 2) * width
            for n in counts:
                members = [r for r in group if r.embedder == name and train_samples(r) == n]
                if not members:
                    continue
                if len(members) > 1:
                    fd.notes.append(f"{dataset}: {name} at {n:g} samples: {len(members)} runs "
                                    f"pooled")
                panel.boxes.append(Box(f"{n / 1e6:g}M", n / 1e6 + offset,
                                       [v for r in members for v in r.values()],
                                       [r.embedder for r in members], None, series=name))
        if reference is not None:
            for row in reference.metric_rows("diminishing_returns_after_samples", dataset):
                try:
                    x = float(row["value"]) / 1e6
                except (KeyError, ValueError):
                    continue
                panel.vlines.append((x, f"paper: diminishing returns after {x:g}M"))
        fd.panels.append(panel)
    _paper_order(fd.panels)
    return fd


def _paper_order(panels: list[Panel]) -> None:
    """Panels in the paper's dataset order (the table's ``plot_order``), others after by name."""
    panels.sort(key=lambda p: meta.plot_sort_key(dataset_key(p.dataset)))


# --------------------------------------------------------------------------- drawing

def draw(fd: FigureData):
    """Draw a :class:`FigureData` on a new matplotlib Figure (Agg canvas) and return it.

    Artists carry ``gid`` strings so that what is drawn can be checked: ``box:<label>`` (box
    patches), ``points:<label>`` (per-(fold, repeat) points), ``reference:<label>`` (the paper's
    value), ``vline:<x>`` (Figure 4 reference lines).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = len(fd.panels)
    many = max(len(p.boxes) for p in fd.panels)
    rotate = fd.number == 5 and (many > 3 or max(len(b.label) for p in fd.panels
                                                 for b in p.boxes) > 10)
    height = n * PANEL_HEIGHT_IN + (0.35 if rotate else 0.0) * n + 0.25
    fig = Figure(figsize=(COLUMN_WIDTH_IN, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(n, 1, squeeze=False)[:, 0]
    # one colour per category (Figure 4: per series) across all panels
    keys = list(dict.fromkeys((b.series if fd.number == 4 else b.label)
                              for p in fd.panels for b in p.boxes))
    colours = {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(keys)}
    legend_done = False
    for ax, panel in zip(axes, fd.panels):
        _draw_panel(ax, panel, fd, rotate, colours)
        handles = [h for h in ax.get_lines() + list(ax.collections)
                   if not str(h.get_label()).startswith("_")]
        if handles and not legend_done:
            ax.legend(fontsize=FONT_PT - 1.5, loc="best", frameon=False, handlelength=1.2)
            legend_done = fd.number != 4  # Figure 4 labels series in every panel
    return fig


def _draw_panel(ax, panel: Panel, fd: FigureData, rotate: bool, colours: dict[str, str]
                ) -> None:
    fig4 = fd.number == 4
    series = list(dict.fromkeys(b.series for b in panel.boxes))
    xs = [b.x for b in panel.boxes]
    width = 0.5
    if fig4:
        gaps = np.diff(sorted(set(xs)))
        width = 0.8 * (min(gaps) if len(gaps) else 1.0)
    data = [[100 * v for v in b.values] for b in panel.boxes]
    bp = ax.boxplot(data, positions=xs, widths=width, showmeans=True, showfliers=False,
                    patch_artist=True, manage_ticks=False,
                    medianprops={"color": "black", "linewidth": 0.8},
                    meanprops={"marker": "^", "markerfacecolor": "white",
                               "markeredgecolor": "black", "markersize": 3.5},
                    whiskerprops={"linewidth": 0.7}, capprops={"linewidth": 0.7},
                    boxprops={"linewidth": 0.7})
    for i, (patch, box) in enumerate(zip(bp["boxes"], panel.boxes)):
        patch.set_facecolor(colours[box.series if fig4 else box.label])
        patch.set_alpha(0.55)
        patch.set_gid(f"box:{box.label}")
        vals = np.asarray(data[i])
        jitter = np.linspace(-0.28, 0.28, len(vals)) * width if len(vals) > 1 else np.zeros(1)
        ax.scatter(box.x + jitter, vals, s=4, color="#333333", alpha=0.75, linewidths=0,
                   zorder=3, gid=f"points:{box.label}")
        if box.reference is not None:
            ax.plot([box.x - 0.45 * width * 1.4, box.x + 0.45 * width * 1.4],
                    [box.reference, box.reference], color="#d62728", linewidth=1.3, zorder=4,
                    gid=f"reference:{box.label}", label="paper" if not any(
                        str(line.get_label()) == "paper" for line in ax.get_lines()) else None)
    if fig4:
        for name in series:
            mine = [(b.x, 100 * float(np.mean(b.values))) for b in panel.boxes if b.series == name]
            ax.plot([x for x, _ in mine], [y for _, y in mine], "-", linewidth=0.8,
                    color=colours[name], label=name, gid=f"series:{name}")
        for x, label in panel.vlines:
            ax.axvline(x, color="#d62728", linestyle=":", linewidth=1.0, gid=f"vline:{x:g}",
                       label=label)
        ax.set_xlabel(fd.xlabel, fontsize=FONT_PT)
    else:
        ax.set_xticks(xs)
        ax.set_xticklabels([b.label for b in panel.boxes], fontsize=FONT_PT,
                           rotation=30 if rotate else 0, ha="right" if rotate else "center")
        ax.set_xlim(0.4, len(xs) + 0.6)
    ax.set_title(panel.title, fontsize=FONT_PT + 1, pad=3)
    ax.set_ylabel("Accuracy (%)", fontsize=FONT_PT)
    ax.tick_params(labelsize=FONT_PT - 0.5, length=2, width=0.6)
    ax.grid(axis="y", linewidth=0.3, alpha=0.5)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


FORMATS = ("png", "pdf", "svg")


def render(fig, formats: Iterable[str] = ("png", "pdf")) -> dict[str, bytes]:
    """``fig`` drawn once per format (PNG at 300 dpi), as the files' bytes by format."""
    images = {}
    for fmt in formats:
        if fmt not in FORMATS:
            raise ConfigError(f"figure format must be png, pdf or svg, found {fmt!r}")
        buf = io.BytesIO()
        # fixed metadata so that the same results give the same files
        meta = {"pdf": {"CreationDate": None}, "svg": {"Date": None}}.get(fmt, {})
        fig.savefig(buf, format=fmt, dpi=300, metadata=meta)
        images[fmt] = buf.getvalue()
    return images


def write(images: dict[str, bytes], out_dir: Path, stem: str) -> list[Path]:
    """Write :func:`render`'s images as ``out_dir/stem.<fmt>`` (atomically); return the paths."""
    paths = []
    for fmt, data in images.items():
        path = Path(out_dir) / f"{stem}.{fmt}"
        atomic_write_bytes(path, data)
        paths.append(path)
    return paths


def save(fig, out_dir: Path, stem: str, formats: Iterable[str] = ("png", "pdf")) -> list[Path]:
    """Write ``fig`` as ``out_dir/stem.<fmt>`` for each format (PNG at 300 dpi); return paths."""
    return write(render(fig, formats), out_dir, stem)


def plot(records: list[RunRecord], number: int, out_dir: Path, *,
         reference: Reference | None = None, l3_variant: str | None = PAPER_L3_VARIANT,
         formats: Iterable[str] = ("png", "pdf")) -> tuple[list[Path], FigureData]:
    """Make Figure ``number`` from ``records`` and write it to ``out_dir/figure<N>.<fmt>``."""
    fd = figure_data(records, number, reference, l3_variant)
    fig = draw(fd)
    return save(fig, out_dir, f"figure{number}", formats), fd

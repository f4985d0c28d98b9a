"""``bench report``: one Markdown and one self-contained HTML document from a set of runs.

Contents: the runs; the Table 2 reproduction (ours vs the reference, delta, folds x repeats,
bootstrap CI); the paired comparisons of ``bench stats``; Figures 2-5 where the runs allow them;
and each run's protocol, embedder and environment. The document is built once as a list of
blocks and rendered twice, so the Markdown and the HTML always say the same thing.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench._version import __version__
from bench.analysis import plots
from bench.analysis.check import Reference
from bench.analysis.factors import RunView, Selection, by_group, select
from bench.analysis.stats import StatsConfig, analyse, bootstrap_ci
from bench.analysis.stats_format import TEST_HEADERS, family_tables
from bench.datasets.names import dataset_key
from bench.errors import BenchError
from bench.evaluation.settings import fingerprint
from bench.io.fileio import atomic_write_text
from bench.runs.record import RunRecord, run_warnings, untrained_by_class, write_json
from bench.util import tables

REPORT_MD = "report.md"
REPORT_HTML = "report.html"
FIGURE_DIR = "figures"


@dataclass(frozen=True)
class ReportConfig:
    """Everything ``bench report`` needs.

    Attributes
    ----------
    out_dir : Path
        Where ``report.md``, ``report.html``, ``figures/`` and ``stats.json`` go.
    figures : tuple of int
        Figures to attempt; a figure the runs cannot make is listed with the reason.
    stats : StatsConfig
        Comparison settings (also the bootstrap of the Table 2 CIs).
    title : str
    """

    out_dir: Path
    figures: tuple[int, ...] = (2, 3, 4, 5)
    stats: StatsConfig = field(default_factory=StatsConfig)
    title: str = "bench report"


@dataclass
class Block:
    kind: str                      # h1 h2 h3 p table figure pre details
    text: str = ""
    headers: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    align: str | None = None
    image: bytes = b""
    path: str = ""
    children: list["Block"] = field(default_factory=list)


def _n_label(run) -> str:
    folds = {k[0] for k in run.accuracy}
    reps = {k[1] for k in run.accuracy}
    if len(folds) * len(reps) == len(run.accuracy):
        return f"{len(folds)} x {len(reps)}"
    return str(len(run.accuracy))


def table2_rows(records: list[RunRecord] | Selection, reference: Reference | None,
                cfg: StatsConfig) -> tuple[list[list[Any]], list[str]]:
    """Table 2 reproduction: per dataset, every embedder run (one per embedder, as ``bench
    stats`` chooses) and every reference embedder not run; percent. The notes name the runs
    left out of the choice, then how the CIs were made."""
    runs = select(records)
    notes = list(runs.notes)
    rows = []
    ci = int(round(100 * cfg.ci_level))
    for (dataset, preset), group in by_group(runs.chosen).items():
        seen = set()
        for r in group:
            vals = r.values()
            lo, hi = bootstrap_ci(vals, n_boot=cfg.n_boot, level=cfg.ci_level, seed=cfg.seed)
            mean = sum(vals) / len(vals)
            entry = (reference.lookup(dataset, r.embedder, r.tags.get("train_samples"))
                     if reference else None)
            seen.add(r.embedder)
            rows.append([dataset, preset, r.embedder + overlap_mark(r.record), tables.pct(mean),
                         f"[{tables.pct(lo)}, {tables.pct(hi)}]", _n_label(r),
                         "" if entry is None else f"{entry.accuracy:.2f}",
                         "" if entry is None else tables.signed(100 * mean - entry.accuracy),
                         fingerprint(r.record.protocol)])
        if reference is not None:
            for (ds, emb), entry in reference.entries.items():
                if ds == dataset_key(dataset) and emb not in seen:
                    rows.append([dataset, preset, emb, "not run", "", "",
                                 f"{entry.accuracy:.2f}", "", ""])
    if any(overlap_mark(r.record) for r in runs.chosen):
        notes.append(OVERLAP_NOTE)
    if rows:
        notes = notes + [f"CI: {ci}% percentile bootstrap over the (fold, repeat) accuracies, "
                         f"{cfg.n_boot} resamples, seed {cfg.seed}"]
    return rows, notes


OVERLAP_NOTE = ("† training-data overlap: the embedder declares it was trained on the dataset "
                "it is evaluated on (results.json training_overlap); its accuracy is not an "
                "out-of-sample figure")


def overlap_mark(record: RunRecord) -> str:
    """`` †`` for a run whose embedder was trained on the evaluated dataset, else ``""``."""
    return " †" if record.training_overlap else ""


TABLE2_HEADERS = ["dataset", "preset", "embedder", "ours %", "95% CI", "folds x repeats",
                  "reference %", "delta", "protocol fingerprint"]


def _run_detail(r: RunView) -> Block:
    rec = r.record
    items: list[list[Any]] = []
    sections = {"protocol": rec.protocol, "embedder": rec.embedder, "dataset": rec.dataset,
                "environment": rec.environment.to_dict(), "timings": rec.timings.to_dict()}
    for section, d in sections.items():
        if isinstance(d, dict):
            for k, v in d.items():
                if section == "dataset" and k == "classes":
                    v = f"{len(v)} classes"
                items.append([f"{section}.{k}", json.dumps(v) if isinstance(v, (list, dict))
                              else v])
    items += [["run_id", rec.run_id], ["created", rec.created],
              ["bench_version", rec.bench_version], ["git_sha", rec.git_sha], ["seed", rec.seed]]
    if r.tags:
        items.append(["tags", json.dumps(r.tags)])
    if rec.skipped:
        items.append(["skipped clips", len(rec.skipped)])
    return Block("details", text=f"{r.embedder} on {r.dataset} ({r.preset}, seed {r.seed}): "
                 f"{r.path}", children=[Block("table", headers=["field", "value"], rows=items,
                                              align="ll"), _per_class(rec)])


def _per_class(rec: RunRecord) -> Block:
    """Per-class accuracy of one run; a class that had no training clip in some test fold is
    marked (its clips there were scored wrong whatever the embedding)."""
    untrained = untrained_by_class(rec)
    rows = []
    for cls, acc in (rec.per_class_accuracy or {}).items():
        note = (f"no training clip when fold(s) {', '.join(untrained[cls])} were tested: "
                f"those test clips are scored wrong" if cls in untrained else "")
        rows.append([cls, "" if acc is None else f"{100 * acc:.2f}", note])
    return Block("table", headers=["class", "accuracy %", "note"], rows=rows, align="lrl")


def build(records: list[RunRecord], reference: Reference | None, cfg: ReportConfig
          ) -> tuple[list[Block], dict[str, Any]]:
    """The report as blocks, and the machine-readable parts (stats, figure files)."""
    runs = select(records)  # every run viewed once; the choice of one per embedder made once
    blocks: list[Block] = [Block("h1", cfg.title)]
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    blocks.append(Block("p", f"Made {created} by bench {__version__} from {len(records)} run(s); "
                        f"reference: {reference.name if reference else 'none'}."))
    # runs
    rows = []
    for r in runs.runs:
        rec = r.record
        rows.append([r.run_id, r.embedder + overlap_mark(rec), r.dataset,
                     f"{r.preset} [{fingerprint(rec.protocol)}]", r.seed, _n_label(r),
                     f"{100 * rec.primary.mean:.2f} ± {100 * rec.primary.std:.2f}"
                     + ("" if rec.metric_name == "accuracy" else f" ({rec.metric_name})"),
                     f"{rec.timings.total_s or 0.0:.0f}"])
    blocks += [Block("h2", "Runs"),
               Block("table", headers=["run", "embedder", "dataset", "preset [fingerprint]",
                                       "seed", "folds x repeats",
                                       "accuracy (or the task's metric) % (mean ± sd)",
                                       "time s"],
                     rows=rows, align="llllrrrr")]
    if any(overlap_mark(r.record) for r in runs.runs):
        blocks.append(Block("p", OVERLAP_NOTE))
    warned = [f"{r.run_id}: {w}" for r in runs.runs for w in run_warnings(r.record)]
    if warned:  # e.g. test clips of a class never trained on: a lower score than deserved
        blocks.append(Block("h3", "Warnings"))
        blocks += [Block("p", w) for w in warned]
    # table 2
    # the runs left out of the choice are named once, here (analyse and figure_data repeat them)
    t2, t2_notes = table2_rows(runs, reference, cfg.stats)
    blocks.append(Block("h2", "Table 2 reproduction"))
    blocks.append(Block("p", "Mean test accuracy over (fold, repeat); the reference value for "
                        "the same (dataset, embedder); delta = ours - reference in points."))
    blocks.append(Block("table", headers=TABLE2_HEADERS, rows=t2, align="lllrrrrrl"))
    blocks += [Block("p", n) for n in t2_notes]
    # stats
    blocks.append(Block("h2", "Paired comparisons"))
    stats_result = analyse(runs, cfg.stats)
    s = cfg.stats
    blocks.append(Block("p", f"Wilcoxon signed-rank test (two-sided, scipy method {s.method}) on "
                        f"test accuracies paired by (fold, repeat), other design factors pooled "
                        f"and paired by position (docs/analysis.md). 'sig': yes = Holm-adjusted "
                        f"p < {s.alpha} within the factor; 'p only' = uncorrected p < {s.alpha} "
                        f"(the paper's rule). r_rb: matched-pairs rank-biserial correlation."))
    if not stats_result.comparisons:
        blocks.append(Block("p", "No comparison possible: each dataset needs at least two "
                            "embedders (or two levels of an L3 design factor)."))
    for fam in family_tables(stats_result):
        blocks.append(Block("h3", fam.title))
        blocks.append(Block("table", headers=fam.level_headers, rows=fam.levels))
        if fam.tests:
            blocks.append(Block("table", headers=TEST_HEADERS, rows=fam.tests))
            blocks += [Block("p", f"Note ({who}): {n}") for who, n in fam.notes]
    blocks += [Block("p", f"Skipped: {x}") for x in stats_result.skipped]
    blocks += [Block("p", f"Note: {x}") for x in stats_result.notes if x not in runs.notes]
    # figures
    blocks.append(Block("h2", "Figures"))
    fig_files: dict[int, list[str]] = {}
    fig_dir = Path(cfg.out_dir) / FIGURE_DIR
    for number in cfg.figures:
        try:
            fd = plots.figure_data(runs, number, reference, s.l3_variant)
        except BenchError as exc:
            hint = f" ({exc.hint})" if exc.hint else ""
            blocks.append(Block("p", f"Figure {number} ({plots.FIGURES[number].lower()}): not "
                                f"drawn: {exc.message}{hint}"))
            continue
        images = plots.render(plots.draw(fd), ("png", "pdf"))
        paths = plots.write(images, fig_dir, f"figure{number}")
        fig_files[number] = [str(p) for p in paths]
        blocks.append(Block("figure", f"Figure {number}. {plots.FIGURES[number]}. Points: "
                            f"(fold, repeat) accuracies; box: quartiles and median; triangle: "
                            f"mean; red bar: reference value.", image=images["png"],
                            path=f"{FIGURE_DIR}/figure{number}.png"))
        blocks += [Block("p", f"Note: {n}") for n in fd.notes if n not in runs.notes]
    # runs in detail
    blocks.append(Block("h2", "Protocol and environment of each run"))
    blocks += [_run_detail(r) for r in runs.runs]
    machine = {"stats": stats_result.to_dict(),
               "figures": fig_files,
               "table2": [dict(zip(TABLE2_HEADERS, row)) for row in t2],
               "config": {"figures": list(cfg.figures), "title": cfg.title,
                          "stats": cfg.stats.to_dict(),
                          "reference": reference.name if reference else None}}
    return blocks, machine


def to_markdown(blocks: list[Block]) -> str:
    out: list[str] = []
    for b in blocks:
        if b.kind in ("h1", "h2", "h3"):
            out.append("#" * int(b.kind[1]) + " " + b.text)
        elif b.kind == "p":
            out.append(b.text)
        elif b.kind == "table":
            out.append(tables.markdown(b.headers, b.rows, align=b.align) if b.rows
                       else "_(empty)_")
        elif b.kind == "figure":
            out.append(f"![{b.text.split('.')[0]}]({b.path})\n\n{b.text}")
        elif b.kind == "pre":
            out.append("```\n" + b.text + "\n```")
        elif b.kind == "details":
            out.append(f"<details><summary>{html.escape(b.text)}</summary>\n\n"
                       + to_markdown(b.children) + "\n\n</details>")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


_CSS = """body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
table{border-collapse:collapse;margin:.6em 0;font-size:.88em}
th,td{border:1px solid #ccc;padding:.25em .5em}th{background:#f3f3f3}
figure{margin:1em 0}figure img{max-width:100%;width:520px}figcaption{font-size:.9em;color:#444}
details{margin:.4em 0}summary{cursor:pointer}pre{background:#f6f6f6;padding:.6em;overflow:auto}
"""


def to_html(blocks: list[Block], title: str) -> str:
    """A self-contained HTML page: figures embedded as base64 PNG, no external resources."""

    def render(bs: list[Block]) -> list[str]:
        out = []
        for b in bs:
            if b.kind in ("h1", "h2", "h3"):
                out.append(f"<{b.kind}>{html.escape(b.text)}</{b.kind}>")
            elif b.kind == "p":
                out.append(f"<p>{html.escape(b.text)}</p>")
            elif b.kind == "table":
                out.append(tables.html_table(b.headers, b.rows, align=b.align) if b.rows
                           else "<p><em>(empty)</em></p>")
            elif b.kind == "figure":
                data = base64.b64encode(b.image).decode("ascii")
                out.append(f'<figure><img alt="{html.escape(b.text.split(".")[0])}" '
                           f'src="data:image/png;base64,{data}"><figcaption>'
                           f"{html.escape(b.text)}</figcaption></figure>")
            elif b.kind == "pre":
                out.append(f"<pre>{html.escape(b.text)}</pre>")
            elif b.kind == "details":
                out.append(f"<details><summary>{html.escape(b.text)}</summary>"
                           + "\n".join(render(b.children)) + "</details>")
        return out

    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>\n"
            + "\n".join(render(blocks)) + "\n</body></html>\n")


def write_report(records: list[RunRecord], reference: Reference | None,
                 cfg: ReportConfig) -> dict[str, Path]:
    """Build the report and write ``report.md``, ``report.html``, ``stats.json`` and the figures
    under ``cfg.out_dir``; return the paths written."""
    if not records:
        raise BenchError("no runs to report on", hint="pass run directories or results.json files")
    out = Path(cfg.out_dir)
    blocks, machine = build(records, reference, cfg)
    md, page = out / REPORT_MD, out / REPORT_HTML
    atomic_write_text(md, to_markdown(blocks))
    atomic_write_text(page, to_html(blocks, cfg.title))
    write_json(out / "stats.json", machine)
    paths = {"markdown": md, "html": page, "json": out / "stats.json"}
    for number, files in machine["figures"].items():
        for f in files:
            paths[f"figure{number}.{Path(f).suffix[1:]}"] = Path(f)
    return paths

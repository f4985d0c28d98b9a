"""What ``bench check --against`` writes for people and for CI systems: a plain-text table, a
Markdown table fit for a pull-request comment, and JUnit XML (one test case per (dataset,
embedder, metric); failures carry old, new and delta; runs that are not comparable are errors;
runs only on one side are skipped).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from bench.analysis.against import (FAILING, NOT_COMPARABLE, OK, SKIPPED, AgainstResult, Case)
from bench.io.fileio import atomic_write_text
from bench.util import tables

HEADERS = ["dataset", "embedder", "run", "metric", "old", "new", "delta", "tol", "p", "verdict"]
_ICON = {OK: "✅", NOT_COMPARABLE: "⚠️", **{v: "❌" for v in FAILING},
         **{v: "➖" for v in SKIPPED}}


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:.2f}"


def _delta(c: Case) -> str:
    # a per-unit metric's delta is a mean absolute difference: no sign
    return _num(c.delta) if c.rule == "per-unit" else tables.signed(c.delta)


def _cells(c: Case) -> list[str]:
    p = "" if c.p is None else f"{tables.pvalue(c.p)} (n={c.n})"
    tol = "" if c.tolerance is None else (
        f"{c.tolerance:.2f}" + (f" ({c.tolerance_spec})" if c.tolerance_spec.endswith("sd")
                                else ""))
    return [c.dataset, c.embedder, c.run, c.metric, _num(c.old), _num(c.new),
            _delta(c), tol, p, c.verdict]


def summary(result: AgainstResult) -> str:
    """One line: how many cases passed, failed, were not comparable or skipped."""
    counts = {k: 0 for k in ("ok", "failed", NOT_COMPARABLE, "skipped")}
    for c in result.cases:
        key = ("failed" if c.failed else "skipped" if c.verdict in SKIPPED else c.verdict)
        counts[key] += 1
    verdict = {0: "PASS", 1: "FAIL (regression)", 2: "FAIL (not comparable)"}[result.exit_code]
    return (f"{verdict}: {counts['ok']} ok, {counts['failed']} out of tolerance, "
            f"{counts[NOT_COMPARABLE]} not comparable, {counts['skipped']} skipped")


def _notes(result: AgainstResult) -> list[str]:
    out = []
    for pair in result.not_comparable:
        r = pair.record
        out.append(f"{r.embedder_name} on {r.dataset_name} ({pair.label}) is not comparable "
                   f"with {pair.old.source if pair.old else '?'}: " + "; ".join(pair.differs))
    for c in result.cases:
        if c.failed and c.detail:
            out.append(f"{c.embedder} on {c.dataset} ({c.run}) {c.metric}: {c.detail}")
    return out


def format_against(result: AgainstResult) -> str:
    """The table ``bench check --against`` prints, the reasons, and the summary line."""
    rows = [_cells(c) for c in result.cases]
    out = [f"against: {result.against}", tables.text(HEADERS, rows, align="llll" + "r" * 5 + "l")]
    out += [f"note: {n}" for n in _notes(result)]
    if not any(p.comparable for p in result.pairs):
        out.append("nothing comparable: no new run has an old run of the same identity")
    out.append(summary(result))
    return "\n".join(out)


def format_markdown(result: AgainstResult) -> str:
    """A pull-request comment: a summary line, the table (old, new, delta, tolerance, paired
    Wilcoxon p over (fold, repeat), verdict) and why runs were not comparable or failed."""
    rows = [[*_cells(c)[:-1], f"{_ICON.get(c.verdict, '')} {c.verdict}"] for c in result.cases]
    out = [f"### bench check against `{result.against}`", "", f"**{summary(result)}**", "",
           tables.markdown(HEADERS, rows, align="llll" + "r" * 5 + "l"), ""]
    notes = _notes(result)
    if notes:
        out += ["<details><summary>Why</summary>", ""] + [f"- {n}" for n in notes] + \
            ["", "</details>", ""]
    out.append("p: two-sided paired Wilcoxon signed-rank test of new vs old over (fold, repeat); "
               "with 5 pairs it cannot go below 0.0625. Tolerances: `bench check --help`, "
               "docs/analysis.md.")
    return "\n".join(out) + "\n"


def junit_xml(result: AgainstResult) -> str:
    """JUnit XML: one ``testsuite`` ("bench check"), one ``testcase`` per case (classname
    ``bench.<dataset>.<embedder>``, name ``<metric> [<preset> s<seed>]``)."""
    n_fail = len(result.failed)
    n_err = sum(c.verdict == NOT_COMPARABLE for c in result.cases)
    n_skip = sum(c.verdict in SKIPPED for c in result.cases)
    attrs = {"name": "bench check", "tests": str(len(result.cases)), "failures": str(n_fail),
             "errors": str(n_err), "skipped": str(n_skip), "time": "0"}
    root = ET.Element("testsuites", attrs)
    suite = ET.SubElement(root, "testsuite", {**attrs, "name": f"bench check --against "
                                                              f"{result.against}"})
    for c in result.cases:
        tc = ET.SubElement(suite, "testcase", {"classname": f"bench.{c.dataset}.{c.embedder}",
                                               "name": f"{c.metric} [{c.run}]", "time": "0"})
        values = (f"old={_num(c.old)} new={_num(c.new)} delta={_delta(c)} "
                  f"tolerance={_num(c.tolerance)}")
        if c.failed:
            el = ET.SubElement(tc, "failure", {"type": c.verdict,
                                               "message": f"{c.verdict}: {values}"})
            el.text = c.detail
        elif c.verdict == NOT_COMPARABLE:
            el = ET.SubElement(tc, "error", {"type": c.verdict,
                                             "message": f"not comparable: {c.detail}"})
            el.text = c.detail
        elif c.verdict in SKIPPED:
            ET.SubElement(tc, "skipped", {"message": f"{c.verdict}: {c.detail}"})
        else:
            ET.SubElement(tc, "system-out").text = values
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") \
        + "\n"


def write_outputs(result: AgainstResult, junit: Path | None = None,
                  markdown: Path | None = None) -> list[Path]:
    """Write the JUnit XML and/or the Markdown file (atomically); return what was written."""
    written = []
    if junit is not None:
        atomic_write_text(Path(junit), junit_xml(result))
        written.append(Path(junit))
    if markdown is not None:
        atomic_write_text(Path(markdown), format_markdown(result))
        written.append(Path(markdown))
    return written

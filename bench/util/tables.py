"""Render one table (headers + rows of cells) as aligned text, Markdown, HTML or CSV.

Analysis commands build their tables once as plain rows and choose the rendering at the end, so a
number is formatted in one place whether it lands on a terminal, in a report or in a CSV file.
"""

from __future__ import annotations

import csv
import html
import io
from typing import Any, Sequence


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def text(headers: Sequence[str], rows: Sequence[Sequence[Any]], *,
         align: str | None = None) -> str:
    """Aligned plain text; ``align`` holds one ``l``/``r`` per column (default: first column left,
    the others right)."""
    cells = [[_cell(h) for h in headers]] + [[_cell(c) for c in row] for row in rows]
    n = len(headers)
    align = align or ("l" + "r" * (n - 1))
    widths = [max(len(r[i]) for r in cells) for i in range(n)]

    def fmt(row: list[str]) -> str:
        parts = [(c.ljust(w) if a == "l" else c.rjust(w)) for c, w, a in zip(row, widths, align)]
        return "  ".join(parts).rstrip()

    lines = [fmt(cells[0]), "  ".join("-" * w for w in widths)]
    lines += [fmt(r) for r in cells[1:]]
    return "\n".join(lines)


def markdown(headers: Sequence[str], rows: Sequence[Sequence[Any]], *,
             align: str | None = None) -> str:
    """A GitHub-flavoured Markdown table (pipes in cells escaped)."""
    n = len(headers)
    align = align or ("l" + "r" * (n - 1))

    def esc(v: Any) -> str:
        return _cell(v).replace("|", "\\|").replace("\n", " ")

    out = ["| " + " | ".join(esc(h) for h in headers) + " |",
           "|" + "|".join(":---" if a == "l" else "---:" for a in align) + "|"]
    out += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def html_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *,
               align: str | None = None) -> str:
    """An HTML ``<table>`` with escaped cells."""
    n = len(headers)
    align = align or ("l" + "r" * (n - 1))
    style = ["left" if a == "l" else "right" for a in align]
    out = ["<table>", "<thead><tr>"
           + "".join(f'<th style="text-align:{s}">{html.escape(_cell(h))}</th>'
                     for h, s in zip(headers, style)) + "</tr></thead>", "<tbody>"]
    for row in rows:
        out.append("<tr>" + "".join(f'<td style="text-align:{s}">{html.escape(_cell(c))}</td>'
                                    for c, s in zip(row, style)) + "</tr>")
    out += ["</tbody>", "</table>"]
    return "\n".join(out)


def csv_text(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """CSV with a header row."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(headers)
    for row in rows:
        writer.writerow([_cell(c) for c in row])
    return buf.getvalue()


def pct(x: float | None, digits: int = 2) -> str:
    """A fraction in [0, 1] as a percentage string (no sign); empty for ``None``/NaN."""
    if x is None or x != x:
        return ""
    return f"{100 * x:.{digits}f}"


def signed(x: float | None, digits: int = 2) -> str:
    """A number with an explicit sign; empty for ``None``/NaN."""
    if x is None or x != x:
        return ""
    return f"{x:+.{digits}f}"


def pvalue(p: float | None) -> str:
    """A p-value with three significant digits, or ``<1e-4``-style for tiny values."""
    if p is None or p != p:
        return ""
    if p < 1e-4:
        return f"{p:.1e}"
    return f"{p:.4f}"

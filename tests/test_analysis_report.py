"""bench report: the Markdown and self-contained HTML documents and what they hold."""

from __future__ import annotations

import base64
import json
import re

import pytest
from click.testing import CliRunner

from analysis_fixtures import accuracies_near as _acc
from analysis_fixtures import make_record, write_run
from bench.analysis import report
from bench.analysis.check import load_reference
from bench.cli import main
from bench.analysis.stats import StatsConfig
from bench.evaluation.settings import fingerprint


def _runs():
    return [make_record("l3-m256-music", "esc50", _acc(0.78), repeats=2),
            make_record("vggish", "esc50", _acc(0.72), repeats=2),
            make_record("soundnet", "esc50", _acc(0.5), repeats=2),
            make_record("mfcc", "synth", _acc(0.8), folds=(1, 2, 3, 4)),
            make_record("soundnet", "synth", _acc(0.6), folds=(1, 2, 3, 4))]


def test_report_contents(tmp_path):
    recs = _runs()
    cfg = report.ReportConfig(out_dir=tmp_path, stats=StatsConfig(n_boot=500))
    paths = report.write_report(recs, load_reference("paper"), cfg)
    md = paths["markdown"].read_text(encoding="utf-8")
    page = paths["html"].read_text(encoding="utf-8")

    # Table 2: ours vs paper, delta, folds x repeats
    mean = 100 * sum(_acc(0.78)(f, r) for f in range(1, 6) for r in range(2)) / 10
    row = next(ln for ln in md.splitlines() if ln.startswith("| esc50 | paper | l3-m256-music"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[3] == f"{mean:.2f}" and cells[5] == "5 x 2" and cells[6] == "79.82"
    assert cells[7] == f"{mean - 79.82:+.2f}"
    assert cells[8] == fingerprint(recs[0].protocol)  # the protocol's, next to the number
    lo, hi = map(float, re.findall(r"[\d.]+", cells[4]))
    assert lo < mean < hi
    # the paper's DCASE rows are not listed: no dcase run; ESC-50 has no row left 'not run'
    assert "dcase2013" not in md.split("## Paired comparisons")[0]

    # stats: embedding type on both datasets
    assert "### esc50 (paper): embedding type" in md and "### synth (paper): embedding type" in md
    assert "| soundnet vs mfcc |" in md
    # figures: 2, 3 (the one L3 run), 5 drawn (file + embedded); 4 not drawn, with the reason
    for n in (2, 3, 5):
        assert (tmp_path / "figures" / f"figure{n}.png").exists()
        assert (tmp_path / "figures" / f"figure{n}.pdf").exists()
        assert f"![Figure {n}](figures/figure{n}.png)" in md
    assert not (tmp_path / "figures" / "figure4.png").exists()
    assert "Figure 4 (" in md and "not drawn" in md and "train_samples" in md
    # protocol and environment of each run
    assert md.count("<details>") == len(recs) and "protocol.scaler_fit" in md
    assert "environment.python" in md

    # HTML: self-contained, one embedded PNG per figure drawn, same tables
    imgs = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(imgs) == 3
    assert base64.b64decode(imgs[0])[:8] == b"\x89PNG\r\n\x1a\n"
    assert not re.search(r'(src|href)="(http|//|figures/)', page)
    assert "<td style=\"text-align:left\">soundnet vs mfcc</td>" in page
    assert page.count("<details>") == len(recs)

    doc = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert {c["factor"] for c in doc["stats"]["comparisons"]} == {"embedding"}
    assert doc["config"]["stats"]["n_boot"] == 500
    assert doc["table2"][0]["embedder"] == "l3-m256-music"


def test_report_lists_paper_rows_not_run(tmp_path):
    recs = [make_record("l3-m256-music", "esc50", _acc(0.78)),
            make_record("soundnet", "esc50", _acc(0.5))]
    paths = report.write_report(recs, load_reference("paper"),
                                report.ReportConfig(out_dir=tmp_path,
                                                    stats=StatsConfig(n_boot=200)))
    md = paths["markdown"].read_text(encoding="utf-8")
    assert "| esc50 | paper | vggish | not run |  |  | 73.54 |  |" in md


def test_report_with_no_reference_and_no_comparisons(tmp_path):
    recs = [make_record("mfcc", "synth", _acc(0.8))]
    paths = report.write_report(recs, None, report.ReportConfig(
        out_dir=tmp_path, stats=StatsConfig(n_boot=200)))
    md = paths["markdown"].read_text(encoding="utf-8")
    assert "reference: none" in md and "No comparison possible" in md
    assert "![Figure 5]" in md  # a single box still plots


def test_cli_report(tmp_path):
    runs = tmp_path / "runs"
    for rec in _runs()[3:]:
        write_run(runs, rec)
    out = CliRunner().invoke(main, ["report", str(runs), "--out", str(tmp_path / "rep"),
                                    "--n-boot", "300", "--title", "synth demo"])
    assert out.exit_code == 0, out.output
    assert "html: " in out.output
    page = (tmp_path / "rep" / "report.html").read_text(encoding="utf-8")
    assert "<title>synth demo</title>" in page
    assert (tmp_path / "rep" / "report.md").read_text(encoding="utf-8").startswith("# synth demo")


@pytest.mark.parametrize("fmt", ["markdown", "html"])
def test_renderers_escape_cells(fmt):
    blocks = [report.Block("table", headers=["a|b", "<c>"], rows=[["x|y", "<z>"]])]
    text = report.to_markdown(blocks) if fmt == "markdown" else report.to_html(blocks, "t")
    if fmt == "markdown":
        assert "x\\|y" in text
    else:
        assert "&lt;z&gt;" in text and "<z>" not in text

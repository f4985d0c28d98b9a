"""bench.analysis.plots: what Figures 2-5 show, checked through the matplotlib objects."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from analysis_fixtures import accuracies_near as _acc
from analysis_fixtures import make_record, write_run
from bench.analysis import plots
from bench.analysis.check import load_reference
from bench.cli import main
from bench.errors import ProtocolError

PAPER = load_reference("paper")


def _artists(ax, prefix):
    found = [a for a in list(ax.patches) + list(ax.collections) + list(ax.lines)
             if str(a.get_gid() or "").startswith(prefix)]
    return {a.get_gid()[len(prefix):]: a for a in found}


def _l3_study(datasets=("esc50", "us8k"), repeats=2):
    recs = []
    for ds in datasets:
        for i, rep in enumerate(["linear", "m128", "m256"]):
            for j, sub in enumerate(["env", "music"]):
                recs.append(make_record(f"l3-{rep}-{sub}", ds, _acc(0.65 + 0.05 * i + 0.01 * j),
                                        repeats=repeats))
        recs.append(make_record("vggish", ds, _acc(0.7), repeats=repeats))
        recs.append(make_record("soundnet", ds, _acc(0.5), repeats=repeats))
    return recs


def test_figure2_boxes_points_labels():
    recs = _l3_study()
    fd = plots.figure_data(recs, 2, PAPER)
    # panels in the paper's order (UrbanSound8K, ESC-50, DCASE 2013: the table's plot_order)
    assert [p.dataset for p in fd.panels] == ["us8k", "esc50"]
    fig = plots.draw(fd)
    assert fig.get_figwidth() == pytest.approx(plots.COLUMN_WIDTH_IN)
    axes = fig.get_axes()
    assert len(axes) == 2
    for ax, ds in zip(axes, ["UrbanSound8K", "ESC-50"]):
        assert ax.get_title() == ds
        assert [t.get_text() for t in ax.get_xticklabels()] == ["Linear", "Mel-128", "Mel-256"]
        boxes = _artists(ax, "box:")
        assert sorted(boxes) == ["Linear", "Mel-128", "Mel-256"]
        points = _artists(ax, "points:")
        # each box pools two runs (env, music) x 5 folds x 2 repeats
        assert {k: len(v.get_offsets()) for k, v in points.items()} == {
            "Linear": 20, "Mel-128": 20, "Mel-256": 20}
        ys = np.sort(points["Mel-256"].get_offsets()[:, 1])
        expected = np.sort([100 * _acc(0.75 + 0.01 * j)(f, r) for j in (0, 1)
                            for f in range(1, 6) for r in range(2)])
        assert list(ys) == pytest.approx(list(expected))
        # pooled boxes: the paper reports no number for them
        assert not _artists(ax, "reference:")
        assert ax.get_ylabel() == "Accuracy (%)"
    assert any("vggish" in n for n in fd.notes)


def test_mean_marker_is_the_pooled_mean():
    recs = _l3_study(datasets=("esc50",))
    fig = plots.draw(plots.figure_data(recs, 3))
    ax = fig.get_axes()[0]
    # boxplot draws the mean as a one-point line with the '^' marker, in box order
    means = [ln.get_ydata()[0] for ln in ax.lines if ln.get_marker() == "^"]
    env = [100 * _acc(0.65 + 0.05 * i)(f, r) for i in range(3) for f in range(1, 6)
           for r in range(2)]
    music = [100 * _acc(0.66 + 0.05 * i)(f, r) for i in range(3) for f in range(1, 6)
             for r in range(2)]
    assert means == pytest.approx([np.mean(env), np.mean(music)])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Env.", "Music"]


def test_figure5_reference_markers_only_where_the_paper_has_a_value():
    recs = _l3_study(datasets=("esc50",))
    recs.append(make_record("mfcc", "esc50", _acc(0.4), repeats=2))
    fd = plots.figure_data(recs, 5, PAPER)
    fig = plots.draw(fd)
    (ax,) = fig.get_axes()
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["l3-m256-music", "vggish", "soundnet", "mfcc"]
    assert len(_artists(ax, "box:")) == 4
    assert all(len(p.get_offsets()) == 10 for p in _artists(ax, "points:").values())
    refs = {k: v.get_ydata()[0] for k, v in _artists(ax, "reference:").items()}
    assert refs == pytest.approx({"l3-m256-music": 79.82, "vggish": 73.54, "soundnet": 47.66})
    legend = ax.get_legend()
    assert legend is not None and [t.get_text() for t in legend.get_texts()] == ["paper"]
    # without a reference nothing is marked
    ax2 = plots.draw(plots.figure_data(recs, 5, None)).get_axes()[0]
    assert not _artists(ax2, "reference:") and ax2.get_legend() is None


def test_colours_follow_the_category_across_panels():
    recs = [make_record("soundnet", "synth", _acc(0.6)),
            make_record("soundnet-conv7", "synth", _acc(0.5)),
            make_record("mfcc", "synth", _acc(0.8)),
            make_record("soundnet", "synth-mini", _acc(0.6)),
            make_record("mfcc", "synth-mini", _acc(0.7))]
    ax1, ax2 = plots.draw(plots.figure_data(recs, 5)).get_axes()
    c1 = {k: v.get_facecolor() for k, v in _artists(ax1, "box:").items()}
    c2 = {k: v.get_facecolor() for k, v in _artists(ax2, "box:").items()}
    assert c1["mfcc"] == c2["mfcc"] and c1["soundnet"] == c2["soundnet"]
    assert len({c1[k] for k in c1}) == 3


def test_figure5_mfcc_and_soundnet_on_synth():
    recs = [make_record("soundnet", "synth", _acc(0.6)), make_record("mfcc", "synth", _acc(0.8))]
    fd = plots.figure_data(recs, 5, PAPER)
    ax = plots.draw(fd).get_axes()[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["soundnet", "mfcc"]
    assert ax.get_title() == "synth"
    assert not _artists(ax, "reference:")


def test_figure4_positions_and_paper_lines():
    recs = []
    for n, base in [("2.6e6", 0.6), ("13M", 0.7), ("40e6", 0.75)]:
        for ds in ("us8k", "esc50"):
            recs.append(make_record("l3-m256-music", ds, _acc(base), repeats=2,
                                    tags={"train_samples": n}, run_id=f"{ds}-{n}"))
    recs.append(make_record("vggish", "us8k", _acc(0.7), repeats=2))
    fd = plots.figure_data(recs, 4, PAPER)
    fig = plots.draw(fd)
    axes = {ax.get_title(): ax for ax in fig.get_axes()}
    assert sorted(axes) == ["ESC-50", "UrbanSound8K"]
    for title, x_paper in [("UrbanSound8K", 13.0), ("ESC-50", 40.0)]:
        ax = axes[title]
        points = _artists(ax, "points:")
        assert sorted(points) == ["13M", "2.6M", "40M"]
        centres = {k: np.mean(v.get_offsets()[:, 0]) for k, v in points.items()}
        assert centres == pytest.approx({"2.6M": 2.6, "13M": 13.0, "40M": 40.0})
        vlines = _artists(ax, "vline:")
        assert list(vlines) == [f"{x_paper:g}"]
        assert vlines[f"{x_paper:g}"].get_xdata()[0] == pytest.approx(x_paper)
        series = _artists(ax, "series:")["l3-m256-music"]
        assert list(series.get_ydata()) == pytest.approx(
            [100 * np.mean([_acc(b)(f, r) for f in range(1, 6) for r in range(2)])
             for b in (0.6, 0.7, 0.75)])
    assert any("vggish" in n for n in fd.notes)
    with pytest.raises(ProtocolError, match="train_samples"):
        plots.figure_data([make_record("mfcc")], 4)
    with pytest.raises(ProtocolError, match="not a sample count"):
        plots.figure_data([make_record("mfcc", tags={"train_samples": "many"})], 4)


def test_figure2_needs_l3_runs():
    with pytest.raises(ProtocolError, match="Figure 2 needs L3 runs"):
        plots.figure_data([make_record("mfcc"), make_record("soundnet")], 2)


def test_single_embedder_box_gets_its_paper_value():
    recs = [make_record("l3-m256-music", "esc50", _acc(0.8)),
            make_record("l3-linear-music", "esc50", _acc(0.7))]
    ax = plots.draw(plots.figure_data(recs, 2, PAPER)).get_axes()[0]
    refs = {k: v.get_ydata()[0] for k, v in _artists(ax, "reference:").items()}
    assert refs == pytest.approx({"Mel-256": 79.82})


def test_files_written_png_and_pdf(tmp_path):
    recs = [make_record("soundnet", "synth", _acc(0.6)), make_record("mfcc", "synth", _acc(0.8))]
    paths, fd = plots.plot(recs, 5, tmp_path)
    assert [p.name for p in paths] == ["figure5.png", "figure5.pdf"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths[1].read_bytes()[:5] == b"%PDF-"
    # 300 dpi at 3.3 in wide
    import struct

    width = struct.unpack(">I", paths[0].read_bytes()[16:20])[0]
    assert abs(width - 3.3 * 300) <= 2


def test_cli_plot(tmp_path):
    runs = tmp_path / "runs"
    write_run(runs, make_record("soundnet", "synth", _acc(0.6)))
    write_run(runs, make_record("mfcc", "synth", _acc(0.8)))
    out = CliRunner().invoke(main, ["plot", "--figure", "5", str(runs), "--out",
                                    str(tmp_path / "figs"), "--format", "png"])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "figs" / "figure5.png").exists()
    assert not (tmp_path / "figs" / "figure5.pdf").exists()
    out = CliRunner().invoke(main, ["plot", "--figure", "2", str(runs), "--out",
                                    str(tmp_path / "figs")])
    assert out.exit_code == 2 and "L3 runs" in out.output
    out = CliRunner().invoke(main, ["plot", "--figure", "all", str(runs), "--out",
                                    str(tmp_path / "all")])
    assert out.exit_code == 0, out.output
    assert sorted(p.name for p in (tmp_path / "all").iterdir()) == ["figure5.pdf",
                                                                    "figure5.png"]

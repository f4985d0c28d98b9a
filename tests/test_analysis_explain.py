"""`bench run --protocol hear|linear|fewshot:K` end to end on synth-mini (small settings), then
`bench explain` / `bench report --explain` on the four runs: the table's numbers against an
independent computation from the results files, the settings that differ, the figure."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.evaluation.settings import fingerprint

# small settings: the presets' own grids and rules, fewer epochs
RUNS = {
    "paper": ["--max-epochs", "4", "--lr", "1e-3", "--wd", "1e-4"],
    "hear": ["--max-epochs", "12", "--patience", "2"],
    "linear": ["--max-epochs", "15", "--patience", "3"],
    "fewshot:2": ["--repeats", "3"],
}


@pytest.fixture(scope="module")
def four_runs(synth_mini_root, mfcc_store, tmp_path_factory):
    out = tmp_path_factory.mktemp("peer-runs")
    records, outputs = {}, {}
    for preset, extra in RUNS.items():
        res = CliRunner().invoke(main, ["run", "-e", "mfcc", "-d", "synth-mini", "-q",
                                        "--no-tracking", "--data-dir", str(synth_mini_root),
                                        "--cache-dir", str(mfcc_store), "--out", str(out),
                                        "--protocol", preset, *extra])
        assert res.exit_code == 0, res.output
        path = Path(next(line for line in res.output.splitlines()
                         if line.startswith("results: ")).removeprefix("results: "))
        records[preset] = json.loads(path.read_text())
        outputs[preset] = res.output
    return out, records, outputs


def test_each_preset_runs_as_its_harness_does(four_runs):
    _, records, outputs = four_runs
    for preset, rec in records.items():
        assert rec["protocol"]["preset"] == preset
        assert rec["protocol_fingerprint"] == fingerprint(rec["protocol"])
        assert f"[{rec['protocol_fingerprint']}]" in outputs[preset]
    hear = records["hear"]
    first, *others = [f for f in hear["folds"] if f["repeat"] == 0]
    assert len(first["grid"]) == 8  # 8 of the 16 points, searched on the first split only
    for f in others:
        assert len(f["grid"]) == 1
        assert {k: f["chosen"][k] for k in ("lr", "hidden_sizes", "init")} == {
            k: first["chosen"][k] for k in ("lr", "hidden_sizes", "init")}
    for f in hear["folds"]:  # the next fold validates (24 clips), three folds train
        assert (f["n_val_clips"], f["n_train_clips"], f["n_test_frames"]) == (24, 72, 24)
    linear = records["linear"]
    assert all(f["chosen"]["hidden_sizes"] == [] for f in linear["folds"])
    few = records["fewshot:2"]
    assert len(few["folds"]) == 15 and all(f["n_train_clips"] == 24 for f in few["folds"])
    spread = few["accuracy_over_repeats"]
    means = [np.mean([f["accuracy"] for f in few["folds"] if f["repeat"] == r]) for r in range(3)]
    np.testing.assert_allclose(spread["values"], means)
    assert spread["std"] == pytest.approx(np.std(means, ddof=1))
    assert "over repeats:" in outputs["fewshot:2"]


def test_explain_table_pairs_and_figure(four_runs, tmp_path):
    from scipy.stats import wilcoxon

    out, records, _ = four_runs
    res = CliRunner().invoke(main, ["explain", str(out), "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "explain.json").read_text())
    (group,) = doc
    assert [r["preset"] for r in group["runs"]] == ["paper", "fewshot:2", "hear", "linear"]
    # fewshot repeats 3 times, the others once: pairs are the folds' means over repeats
    assert group["unit"].startswith("fold (mean")
    by_pair = {(p["a"], p["b"]): p for p in group["pairs"]}
    assert len(by_pair) == 6

    def fold_means(rec):
        folds = sorted({f["test_fold"] for f in rec["folds"]})
        return [np.mean([f["accuracy"] for f in rec["folds"] if f["test_fold"] == k])
                for k in folds]

    a, b = fold_means(records["fewshot:2"]), fold_means(records["paper"])
    pair = by_pair[("fewshot:2", "paper")]
    assert pair["mean_diff"] == pytest.approx(np.mean(a) - np.mean(b))
    d = np.round(np.array(a) - np.array(b), 12)
    if np.any(d):
        assert pair["p"] == pytest.approx(wilcoxon(d, zero_method="wilcox", correction=False).pvalue)
    differs = by_pair[("linear", "paper")]["differs"]
    assert "pooling: none -> mean+max" in differs and "hidden_sizes: [512,128] -> []" in differs
    assert not any(x.startswith("preset") for x in differs)
    for r in group["runs"]:
        assert r["fingerprint"] in res.output
    png = tmp_path / "explain-synth-mini-mfcc.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (tmp_path / "explain.html").exists()
    # the report command offers the same
    again = CliRunner().invoke(main, ["report", "--explain", str(out), "--out",
                                      str(tmp_path / "r")])
    assert again.exit_code == 0 and (tmp_path / "r" / "explain.md").exists()


def test_explain_refuses_runs_of_other_data(four_runs, tmp_path):
    out, records, _ = four_runs
    other = json.loads(json.dumps(records["hear"]))
    other["dataset"]["content_sha256"] = "0" * 64
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "results.json").write_text(json.dumps(other))
    paper_dir = next(p for p in out.iterdir() if "-paper-" in p.name)
    res = CliRunner().invoke(main, ["explain", str(paper_dir), str(tmp_path / "x"),
                                    "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "same audio" in res.output and "Traceback" not in res.output

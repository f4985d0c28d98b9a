"""`bench run` end to end on synth-mini: the golden value, determinism, resuming, the CLI."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.runs.record import read_results

GOLDEN = Path(__file__).resolve().parents[1] / "results" / "golden" / "synth-mini-mfcc-paper-s0"
# Same seed, same numbers on one machine; across machines float rounding in the BLAS may flip
# a few of the 120 test clips (0.83 points each). See docs/protocol.md, "Golden values".
TOLERANCE = 5.0
FOLD_TOLERANCE = 10.0
QUICK = ["--max-epochs", "4", "--lr", "1e-3", "--wd", "1e-4"]


def _run(args, root, out, cache):
    return CliRunner().invoke(main, ["run", "-e", "mfcc", "-d", "synth-mini", "-q",
                                     "--no-tracking", "--data-dir", str(root),
                                     "--cache-dir", str(cache), "--out", str(out), *args])


@pytest.mark.slow
def test_full_protocol_matches_the_golden_run(synth_mini_root, mfcc_store, tmp_path):
    res = _run(["--seed", "0"], synth_mini_root, tmp_path / "runs", mfcc_store)
    assert res.exit_code == 0, res.output
    run_dir = next((tmp_path / "runs").iterdir())
    record = read_results(run_dir)
    # the same run, not merely similar numbers: a change of what identifies a run (the dataset's
    # bytes, the protocol, the embedder's spec) must not hide inside the accuracy tolerance
    golden = read_results(GOLDEN)
    assert record.dataset["content_sha256"] == golden.dataset["content_sha256"]
    assert record.run_id == golden.run_id
    # the summary a user sees: every fold, mean and sd, the chosen grid point, where it went
    for fold in record.folds:
        assert f"{100 * fold.accuracy:8.2f}%" in res.output
    assert f"{100 * record.accuracy.mean:.2f}% ±" in res.output
    assert f"results: {run_dir / 'results.json'}" in res.output
    assert len(record.folds) == 5 and record.protocol["repeats"] == 1
    assert record.protocol["preset"] == "paper" and record.protocol["val_unit"] == "clip"
    for fold in record.folds:
        assert len(fold.grid) == 9
        assert (fold.chosen.lr, fold.chosen.weight_decay) in {
            (g.lr, g.weight_decay) for g in fold.grid}
        assert fold.n_test_clips == 24
    with open(run_dir / "predictions.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 120 and len({r["clip_id"] for r in rows}) == 120
    # the CI check of docs/analysis.md: paired by identity (a changed protocol, dataset or
    # embedder spec would exit 2, "not comparable"), then compared per metric
    junit = tmp_path / "check.xml"
    check = CliRunner().invoke(main, ["check", str(run_dir), "--against", str(GOLDEN.parent),
                                      "--tolerance", f"acc={TOLERANCE},acc.fold={FOLD_TOLERANCE}",
                                      "--junit", str(junit)])
    assert check.exit_code == 0, check.output
    suite = ET.parse(junit).getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "0", "0")


def test_same_seed_same_numbers_other_seed_other_numbers(synth_mini_root, mfcc_store, tmp_path):
    records = []
    for out, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        res = _run(["--seed", seed, *QUICK], synth_mini_root, tmp_path / out, mfcc_store)
        assert res.exit_code == 0, res.output
        records.append(read_results(next((tmp_path / out).glob("*/results.json"))))
    a, b, c = records

    def numbers(r):
        return [(f.accuracy, [(g.val_loss, g.val_accuracy) for g in f.grid])
                for f in r.folds]

    assert numbers(a) == numbers(b)
    assert numbers(a) != numbers(c)
    assert a.run_id == b.run_id != c.run_id


def test_finished_run_is_found_again_and_a_killed_one_resumes(synth_mini_root, mfcc_store,
                                                              tmp_path, monkeypatch):
    import bench.evaluation.protocol
    import bench.runs.steps
    from bench.evaluation.settings import protocol_preset
    from bench.runs.config import RunConfig
    from bench.tracking.tracked import run

    config = RunConfig(embedder="mfcc", dataset="synth-mini", data_dir=synth_mini_root,
                       cache_dir=mfcc_store, out_dir=tmp_path, tracking=False, seed=1,
                       protocol=protocol_preset("paper").replace(max_epochs=3,
                                                                 learning_rates=(1e-3,),
                                                                 weight_decays=(1e-4,)))
    calls = []
    original = bench.evaluation.protocol.run_fold

    def flaky(data, split, *args, **kwargs):
        calls.append(split.test_fold)
        if split.test_fold == 3 and calls.count(3) == 1:
            raise KeyboardInterrupt
        return original(data, split, *args, **kwargs)

    monkeypatch.setattr(bench.runs.steps, "run_fold", flaky)
    with pytest.raises(KeyboardInterrupt):
        run(config, progress=False)
    assert calls == [1, 2, 3]
    run_dir, record = run(config, progress=False)
    assert calls == [1, 2, 3, 3, 4, 5]  # folds 1 and 2 were not trained again
    assert [f.test_fold for f in record.folds] == [1, 2, 3, 4, 5]
    messages = []
    again_dir, again = run(config, progress=False, log=messages.append)
    assert again_dir == run_dir and again.accuracy == record.accuracy
    assert calls == [1, 2, 3, 3, 4, 5] and "already done" in messages[0]
    umask = os.umask(0)
    os.umask(umask)
    for name in ("results.json", "predictions.csv"):  # readable like any file the user makes
        assert (run_dir / name).stat().st_mode & 0o777 == 0o666 & ~umask


def test_unknown_names_list_what_exists():
    bad = CliRunner().invoke(main, ["run", "-e", "mfcc2", "-d", "synth-mini", "--no-tracking"])
    assert bad.exit_code == 2
    assert "unknown embedder 'mfcc2'" in bad.output and "mfcc" in bad.output
    assert "Traceback" not in bad.output
    bad = CliRunner().invoke(main, ["run", "-e", "mfcc", "-d", "esc51", "--no-tracking"])
    assert bad.exit_code == 2 and "unknown dataset 'esc51'" in bad.output and "synth" in bad.output


def test_help_does_not_import_heavy_libraries():
    code = ("import sys\nfrom click.testing import CliRunner\nfrom bench.cli import main\n"
            "for args in ([], ['run'], ['cache'], ['check'], ['sweep']):\n"
            "    r = CliRunner().invoke(main, [*args, '--help'])\n"
            "    assert r.exit_code == 0, r.output\n"
            "heavy = [m for m in ('torch', 'mlflow', 'matplotlib', 'scipy', 'soundfile')"
            " if m in sys.modules]\n"
            "print(heavy)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_unusable_cuda_device_is_a_clear_error(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    res = CliRunner().invoke(main, ["run", "-e", "mfcc", "-d", "synth-mini", "--device", "cuda",
                                    "--no-tracking"])
    assert res.exit_code == 2 and "no CUDA device" in res.output and "--device cpu" in res.output

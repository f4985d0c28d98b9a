"""No silent wrong scores: test clips of a class that had no training clip are named on the
terminal, in results.json, in the report and in its per-class table; a class with a single
training clip is printed too."""

from __future__ import annotations

import csv
import json

from click.testing import CliRunner

from bench.cli import main
from bench.datasets import create


def _manifest(synth_mini_root, path):
    """synth-mini with every siren clip in fold 1 (no siren to train on when fold 1 is tested)
    and wind's clips in folds 2 (nine) and 3 (one: testing fold 2 trains on one wind clip)."""
    rows = []
    wind = 0
    for clip in create("synth-mini", data_dir=synth_mini_root).clips():
        fold = clip.fold
        if clip.label == "siren":
            fold = 1
        elif clip.label == "wind":
            fold = 3 if wind == 0 else 2
            wind += 1
        rows.append({"path": str(clip.path), "label": clip.label, "fold": fold})
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["path", "label", "fold"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_untrainable_and_single_clip_classes_are_reported(synth_mini_root, mfcc_store,
                                                          tmp_path):
    man = _manifest(synth_mini_root, tmp_path / "odd-folds.csv")
    res = CliRunner().invoke(main, ["run", "-e", "mfcc", "-d", str(man), "-q", "--no-tracking",
                                    "--cache-dir", str(mfcc_store), "--out",
                                    str(tmp_path / "runs"), "--max-epochs", "2", "--lr", "1e-3",
                                    "--wd", "1e-4"])
    assert res.exit_code == 0, res.output
    untrained = ("fold 1 repeat 0: class(es) with no training clip, whose test clips can never "
                 "be right (scored as wrong): siren (10 test clips)")
    single = "fold 2 repeat 0: classes with a single training clip have no validation clip"
    # on the terminal: as the fold finishes, and again under the summary
    assert res.output.count(untrained) == 2, res.output
    assert res.output.count(single) == 2 and "wind" in res.output
    (run_dir,) = (tmp_path / "runs").iterdir()
    record = json.loads((run_dir / "results.json").read_text())
    by_fold = {f["test_fold"]: f for f in record["folds"]}
    assert by_fold[1]["untrained_classes"] == {"siren": 10}
    assert all(not f["untrained_classes"] for k, f in by_fold.items() if k != 1)
    with open(run_dir / "predictions.csv") as fh:
        sirens = [r for r in csv.DictReader(fh) if r["label"] == "siren"]
    assert len(sirens) == 10 and all(r["correct"] == "0" for r in sirens)  # never right
    assert by_fold[1]["per_class_accuracy"]["siren"] == 0.0
    # the report: the warnings, and the per-class table marks the class
    rep = CliRunner().invoke(main, ["report", str(run_dir), "--reference", "none", "--out",
                                    str(tmp_path / "report"), "--figure", "2"])
    assert rep.exit_code == 0, rep.output
    md = (tmp_path / "report" / "report.md").read_text()
    assert untrained in md and single in md
    row = next(line for line in md.splitlines() if line.startswith("| siren"))
    assert "no training clip when fold(s) 1 were tested" in row
    assert "wind" in md and "| wind" in md

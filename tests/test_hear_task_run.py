"""`bench run -d PATH` on generated HEAR task folders, end to end: a multiclass task reaches
top-1 >= 90 % with mfcc under the paper's and HEAR's protocols, a multilabel task writes mAP,
d' and AUC to results.json, an event task writes onset F (and the events it found), and
`bench stats` / `bench report` over two runs compare the task's primary metric with its spread
(issue 18)."""

from __future__ import annotations

import builtins
import csv
import importlib.util
import json

import pytest
from click.testing import CliRunner

import hear_task_fixtures as hf
from bench.cli import main
from bench.datasets import create
from bench.datasets.clips import KIND_METRICS, Event
from bench.evaluation.events import event_scores
from bench.runs.record import format_summary, read_results

QUICK = ["--max-epochs", "12"]
#: onset F (200 ms) of the event task with mfcc, measured: 1.0 (paper; 6 of 6 test events),
#: 0.83 (hear; 5 of 6, one onset 0.2000000000000002 s late). A detector placing one 1 s event
#: of every label at a uniform random onset in every clip scores 0.08 (99th percentile 0.33)
MIN_ONSET_F = 0.75
needs_sed_eval = pytest.mark.skipif(importlib.util.find_spec("sed_eval") is None,
                                    reason="sed_eval is not installed (pip install "
                                           "'bench-audio-embeddings[events]')")


@pytest.fixture(scope="module")
def tasks(tmp_path_factory):
    base = tmp_path_factory.mktemp("hear")
    return {"tones": hf.make_scene_multiclass(base), "chords": hf.make_scene_multilabel(base),
            "beeps": hf.make_event(base), "cache": base / "cache", "base": base}


def _run(tasks, task, out, *args):
    res = CliRunner().invoke(main, ["run", "-e", "mfcc", "-d", str(tasks[task]), "-q",
                                    "--no-tracking", "--cache-dir", str(tasks["cache"]),
                                    "--out", str(out), *QUICK, *args])
    assert res.exit_code == 0, res.output
    return res


@pytest.mark.parametrize("protocol", ["paper", "hear"])
def test_scene_multiclass_pure_tones(tasks, tmp_path, protocol):
    _run(tasks, "tones", tmp_path, "--protocol", protocol)
    record = read_results(next(tmp_path.iterdir()))
    assert record.schema_version == 2 and record.metric == "accuracy"
    assert record.primary.mean >= 0.9 and record.accuracy.mean == record.primary.mean
    # HEAR's k-fold rule: the next fold validates (4 classes x 3 clips per fold)
    assert [(f.n_train_clips, f.n_val_clips, f.n_test_clips) for f in record.folds] == [
        (12, 12, 12)] * 3


def test_scene_multilabel_writes_map_and_stats_compare_it(tasks, tmp_path):
    _run(tasks, "chords", tmp_path / "hear", "--protocol", "hear")
    hear = json.loads(next((tmp_path / "hear").iterdir()).joinpath("results.json").read_text())
    assert hear["metric"] == "mAP" and "accuracy" not in hear
    assert set(hear["metrics"]) == {"mAP", "d_prime", "aucroc"}
    assert hear["summary"]["mean"] >= 0.9  # three tones, every subset: easy for mfcc
    fold = hear["folds"][0]
    assert fold["n_val_clips"] == 8 and fold["grid"][0]["val_metric"] == "mAP"
    runs = tmp_path / "paper"
    for seed in ("0", "1"):
        _run(tasks, "chords", runs, "--protocol", "paper", "--repeats", "3", "--seed", seed)
    res = CliRunner().invoke(main, ["stats", str(runs), "--compare", "runs", "--n-boot", "200"])
    assert res.exit_code == 0, res.output
    assert "[mAP]" in res.output and "primary metric" in res.output
    report = CliRunner().invoke(main, ["report", str(runs), "--out", str(tmp_path / "rep")])
    assert report.exit_code == 0, report.output
    text = "".join(p.read_text() for p in (tmp_path / "rep").rglob("*.md"))
    recs = [read_results(d) for d in runs.iterdir() if (d / "results.json").exists()]
    for rec in recs:
        assert rec.metric == "mAP" and rec.summary.n == 3
        assert f"{100 * rec.summary.mean:.2f} ± {100 * rec.summary.std:.2f} (mAP)" in text


def _onset_f(references, estimates, collar=0.2):
    """Onset-only F by hand: per clip and label, each reference onset matches at most one
    detected onset within the collar (nearest first; ``<=`` on the float difference, as
    sed_eval compares)."""
    tp = 0
    for clip, refs in references.items():
        for label in {e.label for e in refs}:
            free = sorted(e.start for e in estimates.get(clip, ()) if e.label == label)
            for onset in sorted(e.start for e in refs if e.label == label):
                near = [t for t in free if abs(t - onset) <= collar]
                if near:
                    free.remove(min(near, key=lambda t: abs(t - onset)))
                    tp += 1
    n_ref = sum(len(v) for v in references.values())
    n_sys = sum(len(v) for v in estimates.values())
    return 2 * tp / (n_ref + n_sys)


@needs_sed_eval
@pytest.mark.parametrize("protocol", ["paper", "hear"])
def test_event_task_onset_f(tasks, tmp_path, protocol):
    """The event task end to end: onset F (200 ms) in results.json equals the F of the written
    predictions (one row per detected event) against the task's test events, computed by hand
    and by sed_eval, and the clean tones are found (chance, nothing or noise detected, is ~0)."""
    _run(tasks, "beeps", tmp_path, "--protocol", protocol)
    run_dir = next(tmp_path.iterdir())
    record = read_results(run_dir)
    assert record.metric == "event_onset_200ms_fms" and not record.accuracy
    fold = record.folds[0]
    assert set(fold.metrics) == set(KIND_METRICS["event"]) and fold.n_val_clips == 4
    assert fold.postprocessing.val_metric == "event_onset_200ms_fms"
    references = {f"test/test-{k}.wav": [Event(lb, a, b) for lb, a, b in spans]
                  for k, spans in enumerate(hf.EVENT_CLIPS["test"])}
    estimates: dict[str, list[Event]] = {}
    with open(run_dir / "predictions.csv", newline="") as f:
        for row in csv.DictReader(f):
            estimates.setdefault(row["clip_id"], []).append(
                Event(row["predicted"], float(row["onset"]), float(row["offset"])))
    assert set(estimates) <= set(references)
    by_hand = _onset_f(references, estimates)
    again = event_scores(references, estimates, hf.MULTILABEL_LABELS).values
    assert record.primary.mean == pytest.approx(by_hand) == pytest.approx(
        again["event_onset_200ms_fms"])
    assert fold.metrics["segment_1s_er"] == pytest.approx(again["segment_1s_er"])
    assert record.primary.mean >= MIN_ONSET_F
    # the terminal's table: test onset F, and validation by what chose the grid point
    assert "test onset_200ms_fms  val mAP" in format_summary(record)


def test_event_task_reads_its_postprocessing_grid(tmp_path):
    task = hf.make_event(tmp_path)
    assert create(str(task), data_dir=tmp_path).task.event_grid is None  # the kit's grid
    meta = json.loads((task / "task_metadata.json").read_text())
    meta["evaluation_params"] = {"event_postprocessing_grid": {"median_filter_ms": [150],
                                                               "min_duration": [50, 100]}}
    (task / "task_metadata.json").write_text(json.dumps(meta))
    assert create(str(task), data_dir=tmp_path).task.event_grid == ((150.0,), (50.0, 100.0))


def test_event_task_without_sed_eval_stops_before_embedding(tasks, tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_sed_eval(name, *args, **kwargs):
        if name.split(".")[0] in ("sed_eval", "dcase_util"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sed_eval)
    res = CliRunner().invoke(main, ["run", "-e", "mfcc", "-d", str(tasks["beeps"]), "-q",
                                    "--no-tracking", "--cache-dir", str(tmp_path / "cache"),
                                    "--out", str(tmp_path / "runs"), *QUICK])
    assert res.exit_code != 0 and "event metrics need sed_eval" in res.output
    assert "pip install 'bench-audio-embeddings[events]'" in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.npy"))
    assert not any((tmp_path / "runs").glob("*/results.json"))

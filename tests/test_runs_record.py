"""The typed run record reads results.json files written before it existed, and writes them back
unchanged: same keys, same values, same order, same bytes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.errors import ResultsError
from bench.runs.record import (FoldRecord, GridPointRecord, RunRecord, format_summary,
                               load_runs, read_results, write_json, write_results)

GOLDEN = sorted((Path(__file__).resolve().parents[1] / "results" / "golden").glob(
    "*/results.json"))


def test_there_is_a_golden_run():
    assert GOLDEN, "results/golden/*/results.json is missing"


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.parent.name)
def test_golden_results_round_trip_exactly(path, tmp_path):
    raw = json.loads(path.read_text(encoding="utf-8"))
    record = RunRecord.from_dict(raw, str(path))
    assert record.to_dict() == raw
    # order too: written again, the file is byte for byte the one the old code wrote
    write_results(tmp_path, record)
    assert (tmp_path / "results.json").read_bytes() == path.read_bytes()
    assert not record.extra and all(not f.extra for f in record.folds)


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.parent.name)
def test_golden_fields_read_as_attributes(path):
    raw = json.loads(path.read_text(encoding="utf-8"))
    record = read_results(path.parent)
    assert record.path == str(path)
    assert record.embedder_name == raw["embedder"]["name"]
    assert record.dataset_name == raw["dataset"]["name"]
    assert record.preset == raw["protocol"]["preset"]
    assert record.run_seed == raw["seed"]
    assert record.accuracy.mean == raw["accuracy"]["mean"]
    assert record.timings.embed_windows_per_s is None  # present as null, kept as null
    assert "embed_windows_per_s" in record.timings.to_dict()
    for fold, f in zip(record.folds, raw["folds"], strict=True):
        assert isinstance(fold, FoldRecord) and fold.key == (str(f["test_fold"]), f["repeat"])
        assert fold.accuracy == f["accuracy"] and fold.chosen.lr == f["chosen"]["lr"]
        assert fold.chosen.best_epoch == f["chosen"]["best_epoch"]
        assert all(isinstance(g, GridPointRecord) for g in fold.grid)
        assert [g.val_loss for g in fold.grid] == [g["val_loss"] for g in f["grid"]]
    mean = sum(f.accuracy for f in record.folds) / len(record.folds)
    assert mean == pytest.approx(record.accuracy.mean)
    assert f"{100 * mean:.2f}%" in format_summary(record)


def _minimal() -> dict:
    """A record with only the required fields, as an older or another tool might write it."""
    fold = {"test_fold": "a", "repeat": 0, "accuracy": 0.5, "val_accuracy": 0.25,
            "chosen": {"lr": 1e-3, "weight_decay": 1e-4},
            "grid": [{"lr": 1e-3, "weight_decay": 1e-4, "val_accuracy": 0.25}],
            "per_class_accuracy": {"x": 0.5}}
    return {"schema_version": 1, "run_id": "r", "created": "2024-01-01T00:00:00+00:00",
            "bench_version": "0.0.1", "git_sha": None, "embedder": "mine", "dataset": "theirs",
            "protocol": {}, "environment": {"python": "3.10"}, "accuracy": {"mean": 0.5, "std": 0.0},
            "folds": [fold], "timings": {"embed_s": 1.0, "classify_s": 2.0}}


def test_optional_fields_stay_absent_and_unknown_keys_are_kept():
    raw = _minimal()
    raw["written_by"] = "another tool"
    raw["folds"][0]["chosen"]["momentum"] = 0.9
    record = RunRecord.from_dict(raw)
    assert record.extra == {"written_by": "another tool"}
    assert record.folds[0].chosen.extra == {"momentum": 0.9}
    assert record.folds[0].chosen.epochs is None and record.config is None
    assert record.embedder_name == "mine" and record.preset == "?" and record.run_seed is None
    assert record.to_dict() == raw


def test_seed_and_tags_fall_back_to_the_config():
    raw = _minimal()
    raw["config"] = {"seed": 7, "tags": {"n": 3}}
    record = RunRecord.from_dict(raw)
    assert record.run_seed == 7 and record.run_tags == {"n": "3"}


@pytest.mark.parametrize("change, message", [
    (lambda r: r.pop("folds"), r"missing field\(s\) \['folds'\]"),
    (lambda r: r["folds"][0].pop("chosen"), r"folds\[0\]: missing field\(s\) \['chosen'\]"),
    (lambda r: r["folds"][0]["grid"][0].pop("lr"), r"grid\[0\]: missing field\(s\) \['lr'\]"),
    (lambda r: r.update(schema_version=3), "newer than this bench"),
    (lambda r: r.pop("schema_version"), "not a bench results file"),
    (lambda r: r.update(timings=[1, 2]), "timings: expected a JSON object, found list"),
    (lambda r: r.update(folds={}), "folds: expected a list, found dict"),
])
def test_bad_records_fail_with_one_line(change, message, tmp_path):
    raw = _minimal()
    change(raw)
    write_json(tmp_path / "results.json", raw)
    with pytest.raises(ResultsError, match=message) as err:
        load_runs([tmp_path])
    assert "\n" not in err.value.message and str(tmp_path) in err.value.message


def test_fold_record_round_trips_through_the_partial_file(tmp_path):
    fold = RunRecord.from_dict(_minimal()).folds[0]
    write_json(tmp_path / "part.json", {"record": fold.to_dict(), "predictions": []})
    saved = json.loads((tmp_path / "part.json").read_text())
    assert FoldRecord.from_dict(saved["record"]) == fold


def test_a_key_added_later_is_absent_null_or_typed_as_written():
    raw = _minimal()
    assert "training_overlap" not in RunRecord.from_dict(raw).to_dict()  # an older file
    raw["training_overlap"] = None  # a run without overlap, as the runner writes it
    assert RunRecord.from_dict(raw).to_dict()["training_overlap"] is None
    raw["training_overlap"] = {"dataset": "esc50", "declared": ["ESC-50"]}
    record = RunRecord.from_dict(raw)
    assert record.training_overlap.declared == ["ESC-50"]
    assert record.to_dict() == raw
    assert "TRAINING-DATA OVERLAP" in format_summary(record)

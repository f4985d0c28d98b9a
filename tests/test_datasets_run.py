"""`bench run` end to end on each miniature replica: the official splits (ESC-50 5 test folds,
UrbanSound8K 10, DCASE 2013 1), and what happens with an unreadable file with and without
--skip-bad. The MFCC baseline and a one-point grid with few epochs keep this fast."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.runs.record import read_results
from datasets_fixtures import accept_esc50_meta, make_dcase2013, make_esc50, make_us8k, truncate

FAST = ["--embedder", "mfcc", "--repeats", "1", "--max-epochs", "3", "--patience", "2",
        "--lr", "1e-3", "--wd", "1e-4", "--no-tracking", "--no-download", "--quiet"]


def _run(tmp_path: Path, dataset: str, data_dir: Path, *extra: str):
    args = ["run", "--dataset", dataset, "--data-dir", str(data_dir),
            "--cache-dir", str(tmp_path / "store"), "--out", str(tmp_path / "runs"), *FAST,
            *extra]
    return CliRunner().invoke(main, args)


def _record(tmp_path: Path) -> dict:
    found = list((tmp_path / "runs").glob("*/results.json"))
    assert len(found) == 1, found
    return read_results(found[0])


@pytest.mark.parametrize("name,maker,folds", [("esc50", make_esc50, [1, 2, 3, 4, 5]),
                                              ("us8k", make_us8k, list(range(1, 11))),
                                              ("dcase2013", make_dcase2013, ["test"])])
def test_run_uses_the_official_splits(tmp_path, monkeypatch, name, maker, folds):
    data = tmp_path / "data"
    root = maker(data)
    if name == "esc50":
        accept_esc50_meta(monkeypatch, root)
    result = _run(tmp_path, name, data)
    assert result.exit_code == 0, result.output
    record = _record(tmp_path)
    assert [f.test_fold for f in record.folds] == folds
    assert {f.repeat for f in record.folds} == {0}
    n_test = {"esc50": 4, "us8k": 2, "dcase2013": 4}[name]
    assert record.dataset["name"] == name and record.skipped == []
    predictions = (tmp_path / "runs" / record.run_id / "predictions.csv").read_text()
    assert len(predictions.strip().splitlines()) == 1 + n_test * len(folds)
    if name in ("esc50", "us8k"):  # one source recording spans two folds in each replica
        assert len(record.warnings) == 1 and "spans folds" in record.warnings[0]


def test_unreadable_file_stops_the_run_or_is_skipped_and_listed(tmp_path):
    data = tmp_path / "data"
    root = make_us8k(data)
    bad = root / "audio" / "fold5" / "1051-8-0-5.wav"
    truncate(bad, 0.4)
    stopped = _run(tmp_path, "us8k", data)
    assert stopped.exit_code != 0
    assert str(bad) in stopped.output and "truncated" in stopped.output
    assert "--skip-bad" in stopped.output
    assert not list((tmp_path / "runs").glob("*/results.json"))

    done = _run(tmp_path, "us8k", data, "--skip-bad")
    assert done.exit_code == 0, done.output
    record = _record(tmp_path)
    assert [s["path"] for s in record.skipped] == [str(bad)]
    assert "truncated" in record.skipped[0]["reason"]
    assert len(record.folds) == 10
    # the skipped clip is in no prediction: nothing is scored on it
    predictions = (tmp_path / "runs" / record.run_id / "predictions.csv").read_text()
    assert "1051-8-0-5.wav" not in predictions
    assert len(predictions.strip().splitlines()) == 1 + 19


def test_run_on_a_manifest_with_a_fixed_split(tmp_path):
    root = make_us8k(tmp_path / "data")
    rows = ["split,label,path"]
    for wav in sorted((root / "audio").rglob("*.wav")):
        fold = int(wav.parent.name[4:])
        label = "siren" if "-8-" in wav.name else "dog_bark"
        rows.append(f"{'test' if fold > 7 else 'train'},{label},{wav.relative_to(root)}")
    manifest = root / "mine.csv"
    manifest.write_text("\n".join(rows) + "\n")
    result = _run(tmp_path, str(manifest), tmp_path / "unused")
    assert result.exit_code == 0, result.output
    record = _record(tmp_path)
    assert [f.test_fold for f in record.folds] == ["test"]
    assert record.dataset["name"] == "mine"
    predictions = (tmp_path / "runs" / record.run_id / "predictions.csv").read_text()
    assert len(predictions.strip().splitlines()) == 1 + 6  # folds 8-10, two clips each

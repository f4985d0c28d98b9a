"""HEAR task folders as datasets: the three kinds the tests generate, folds and validation
folds, sample-rate choice, and one clear error for each malformed part."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import hear_task_fixtures as hf
from bench.cli import main
from bench.datasets import create, is_path
from bench.datasets.clips import Event, Split
from bench.errors import DatasetError


def test_scene_multiclass_folds_validate_on_the_next(tmp_path):
    folder = hf.make_scene_multiclass(tmp_path)
    assert is_path(str(folder)) and is_path(str(folder / "task_metadata.json"))
    ds = create(str(folder), data_dir=tmp_path)
    ds.prepare(progress=False)
    assert ds.name == "tones-v1.0-presplit_kfold"
    assert (ds.task.kind, ds.task.primary_metric) == ("multiclass", "accuracy")
    assert ds.classes == ("high", "low", "mid", "top")
    clips = ds.clips()
    assert len(clips) == 3 * 4 * 3 and all(c.path.is_file() for c in clips)
    first = clips[0]
    assert (first.id, first.label, first.fold, first.labels) == ("fold00/low-0-0.wav", "low",
                                                                 "fold00", ())
    assert ds.folds() == ["fold00", "fold01", "fold02"]
    assert ds.splits() == [Split("fold00", ("fold02",), ("fold01",)),
                           Split("fold01", ("fold00",), ("fold02",)),
                           Split("fold02", ("fold01",), ("fold00",))]


def test_scene_multilabel_keeps_every_label_and_empty_lists(tmp_path):
    ds = create(str(hf.make_scene_multilabel(tmp_path)), data_dir=tmp_path)
    assert (ds.task.kind, ds.task.metrics) == ("multilabel", ("mAP", "d_prime", "aucroc"))
    by_id = {c.id: c for c in ds.clips()}
    assert len(by_id) == 16 + 8 + 8
    assert by_id["test/test-0-0.wav"].labels == () and by_id["test/test-0-0.wav"].label == ""
    assert by_id["test/test-0-7.wav"].labels == ("low", "mid", "high")  # the file's order
    assert ds.splits() == [Split("test", ("train",), ("valid",))]
    assert ds.folds() == ["train", "valid", "test"]


def test_event_times_are_read_in_seconds(tmp_path):
    ds = create(str(hf.make_event(tmp_path)), data_dir=tmp_path)
    assert ds.task.kind == "event" and ds.task.primary_metric == "event_onset_200ms_fms"
    clip = {c.id: c for c in ds.clips()}["test/test-1.wav"]
    # EVENT_CLIPS["test"][1] = high 0.5-2.0 s, mid 2.5-4.0 s; the file holds 500..4000 ms
    assert clip.events == (Event("high", 0.5, 2.0), Event("mid", 2.5, 4.0))
    assert clip.labels == ("high", "mid")
    assert {c.id: c for c in ds.clips()}["train/train-6.wav"].events == ()
    assert ds.postprocessing_grid() is None  # the kit's default grid
    _edit(ds.root, "task_metadata.json", lambda m: m.update(evaluation_params={
        "event_postprocessing_grid": {"median_filter_ms": [150], "min_duration": [50]}}))
    grid = create(str(ds.root), data_dir=tmp_path).postprocessing_grid()
    assert grid == {"median_filter_ms": [150.0], "min_duration": [50.0]}


def test_rate_folder_without_resampling_else_the_highest(tmp_path):
    ds = create(str(hf.make_scene_multiclass(tmp_path, rates=(16000, 22050))), data_dir=tmp_path)
    assert ds.rates() == [16000, 22050]
    assert ds.rate == 22050 and ds.clips()[0].path.parts[-3] == "22050"
    assert ds.prefer_rate(16000) == 16000
    assert ds.clips()[0].path.parts[-3] == "16000"  # read again at the new rate
    assert ds.describe()["sample_rate"] == 16000
    assert ds.prefer_rate(48000) == 22050


def test_identity_names_the_task(tmp_path):
    a = create(str(hf.make_scene_multiclass(tmp_path, name="tones")), data_dir=tmp_path)
    b = create(str(hf.make_scene_multiclass(tmp_path, name="pitches")), data_dir=tmp_path)
    assert a.describe()["task_name"] == "tones" and b.describe()["task_name"] == "pitches"
    assert a.name != b.name


def test_metric_names(tmp_path):
    folder = hf.make_scene_multiclass(tmp_path)
    _edit(folder, "task_metadata.json",
          lambda m: m.update(evaluation=["chroma_acc", "pitch_acc"]))
    ds = create(str(folder), data_dir=tmp_path)
    assert (ds.task.primary_metric, ds.task.metrics) == ("accuracy", ("accuracy",))
    assert ds.notes == ["metric(s) ['chroma_acc'] of the task's evaluation list are not "
                        "computed by bench; it reports ['accuracy']"]
    folder = hf.make_event(tmp_path)
    _edit(folder, "task_metadata.json",
          lambda m: m.update(evaluation=["segment_1s_er", "event_onset_50ms_fms"]))
    assert create(str(folder), data_dir=tmp_path).task.metrics == (
        "segment_1s_er", "event_onset_50ms_fms", "event_onset_200ms_fms",
        "event_onset_offset_50ms_20perc_fms")


def _edit(folder, name, change):
    path = folder / name
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("case, match", [
    ("prediction", "unknown prediction_type 'regression'"),
    ("embedding", "unknown embedding_type 'frame'"),
    ("split_json", "test.json is missing from"),
    ("vocabulary", r"label\(s\) \['bass'\] are not in labelvocabulary.csv"),
    ("no_vocab", "labelvocabulary.csv is missing"),
    ("no_audio", "no audio folder in"),
    ("two_labels", "a multiclass task gives each clip one label"),
    ("event_ms", "event times must be numbers"),
])
def test_each_malformed_part_is_one_clear_error(tmp_path, case, match):
    make = hf.make_event if case == "event_ms" else (
        hf.make_scene_multiclass if case == "two_labels" else hf.make_scene_multilabel)
    folder = make(tmp_path)
    if case == "prediction":
        _edit(folder, "task_metadata.json", lambda m: m.update(prediction_type="regression"))
    elif case == "embedding":
        _edit(folder, "task_metadata.json", lambda m: m.update(embedding_type="frame"))
    elif case == "split_json":
        (folder / "test.json").unlink()
    elif case == "vocabulary":
        _edit(folder, "valid.json", lambda m: m.update({"valid-0-0.wav": ["bass"]}))
    elif case == "no_vocab":
        (folder / "labelvocabulary.csv").unlink()
    elif case == "no_audio":
        import shutil

        shutil.rmtree(folder / "16000")
    elif case == "two_labels":
        _edit(folder, "fold01.json", lambda m: m.update({"low-1-0.wav": ["low", "mid"]}))
    elif case == "event_ms":
        _edit(folder, "test.json", lambda m: m.update(
            {"test-0.wav": [{"label": "low", "start": "soon", "end": 10}]}))
    with pytest.raises(DatasetError, match=match) as err:
        create(str(folder), data_dir=tmp_path).prepare(progress=False)
    assert "\n" not in err.value.message and err.value.hint
    result = CliRunner().invoke(main, ["run", "-e", "mfcc", "-d", str(folder)])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert match.replace("\\", "").split("'")[0][:20] in result.output.replace("\\", "")


def test_verify_and_list(tmp_path):
    folder = hf.make_event(tmp_path / "data")
    result = CliRunner().invoke(main, ["data", "verify", str(folder)])
    assert result.exit_code == 0 and "16 audio files checked" in result.output
    (folder / "16000" / "test" / "test-2.wav").unlink()
    result = CliRunner().invoke(main, ["data", "verify", str(folder)])
    assert result.exit_code == 1
    assert f"missing: {folder / '16000' / 'test' / 'test-2.wav'}" in result.output
    listing = CliRunner().invoke(main, ["data", "list", "--data-dir", str(tmp_path / "data")])
    assert listing.exit_code == 0, listing.output
    line = next(ln for ln in listing.output.splitlines() if str(folder) in ln)
    assert "16" in line.split() and "3" in line.split()  # clips, classes

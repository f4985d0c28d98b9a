"""The protocol: the paper split keeps clips whole and stratified, the scaler sees training
frames only, the l3embedding preset reproduces the authors' leaks, small data is handled."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import bench.evaluation.protocol as protocol
from bench.evaluation.stacked import GridMLP, Standardizer
from bench.evaluation.settings import protocol_preset
from bench.datasets.base import Clip, Split
from bench.errors import ProtocolError
from bench.evaluation.protocol import FoldData, allocate, run_fold

FAST = dict(max_epochs=3, patience=2, hidden_sizes=(16,), learning_rates=(1e-3,),
            weight_decays=(1e-4,))


def _data(n_per_class=(10, 10, 10), folds=3, frames=4, dim=6, seed=0):
    rng = np.random.default_rng(seed)
    classes = tuple(f"c{i}" for i in range(len(n_per_class)))
    clips, rows = [], []
    for ci, n in enumerate(n_per_class):
        for k in range(n):
            clips.append(Clip(f"c{ci}-{k}", Path(f"/x/c{ci}-{k}.wav"), classes[ci], k % folds + 1))
            rows.append(rng.normal(ci, 1.0, size=(frames, dim)))
    X = np.concatenate(rows).astype(np.float32)
    offsets = np.arange(len(clips) + 1) * frames
    return FoldData(X, offsets, clips, classes)


def test_allocate_is_stratified_and_sized_by_largest_remainder():
    labels = np.repeat(np.arange(50), 32)  # ESC-50 training split: 1600 clips
    val = allocate(labels, 0.10, np.random.default_rng(0))
    assert len(val) == 160
    per_class = np.bincount(labels[val], minlength=50)
    assert per_class.min() == 3 and per_class.max() == 4 and (per_class == 4).sum() == 10
    assert len(np.unique(val)) == len(val)


def test_allocate_gives_small_classes_a_validation_clip_and_keeps_one_for_training():
    labels = np.array([0] * 30 + [1] * 3 + [2] * 2 + [3] * 1)
    val = allocate(labels, 0.10, np.random.default_rng(1), min_per_class=1)
    counts = np.bincount(labels[val], minlength=4)
    assert counts[1] >= 1 and counts[2] == 1  # every class with >= 2 clips is validated
    assert counts[3] == 0  # a single clip stays in training
    for c, n in enumerate(np.bincount(labels)):
        assert counts[c] < n


def _spy_scaler(monkeypatch):
    seen = {}
    original = Standardizer.fit.__func__

    def fit(cls, X, rows, chunk=8192):
        seen["rows"] = np.array(rows)
        return original(cls, X, rows, chunk)

    monkeypatch.setattr(protocol.Standardizer, "fit", classmethod(fit))
    return seen


def _spy_frames(monkeypatch):
    seen = []
    original = GridMLP.fit

    def fit(self, train, val, scaler, on_epoch=None):
        seen.append((train, val))
        return original(self, train, val, scaler, on_epoch)

    monkeypatch.setattr(GridMLP, "fit", fit)
    return seen


def test_paper_split_keeps_clips_whole_and_scaler_sees_training_frames_only(monkeypatch):
    data = _data(n_per_class=(20, 20, 20), folds=4)
    seen_scaler = _spy_scaler(monkeypatch)
    seen = _spy_frames(monkeypatch)
    p = protocol_preset("paper").replace(**FAST)
    record, preds = run_fold(data, Split(1, (2, 3, 4)), 0, 0, p, seed=3)
    train, val = seen[0]
    row_clip = np.repeat(np.arange(len(data.clips)), 4)
    train_clips, val_clips = set(row_clip[train.rows]), set(row_clip[val.rows])
    assert not train_clips & val_clips  # no clip on both sides
    test_clips = {i for i, c in enumerate(data.clips) if c.fold == 1}
    assert not (train_clips | val_clips) & test_clips
    for i in train_clips | val_clips:  # all frames of each clip on its side
        assert (row_clip[train.rows] == i).sum() + (row_clip[val.rows] == i).sum() == 4
    assert set(seen_scaler["rows"].tolist()) == set(train.rows.tolist())
    assert record.n_val_clips == len(val_clips) == round(0.1 * 45)
    assert sorted(np.bincount(data.labels[list(val_clips)], minlength=3)) in ([1, 2, 2], [1, 1, 2])
    assert {r["clip_id"] for r in preds} == {data.clips[i].id for i in test_clips}


def test_l3embedding_split_is_by_frames_and_scaler_includes_validation(monkeypatch):
    data = _data(n_per_class=(20, 20, 20), folds=4)
    seen_scaler = _spy_scaler(monkeypatch)
    seen = _spy_frames(monkeypatch)
    p = protocol_preset("l3embedding").replace(**FAST)
    run_fold(data, Split(1, (2, 3, 4)), 0, 0, p, seed=3)
    train, val = seen[0]
    row_clip = np.repeat(np.arange(len(data.clips)), 4)
    assert len(val) == round(0.15 * 45 * 4)
    assert set(row_clip[train.rows]) & set(row_clip[val.rows])  # the documented leak
    assert set(seen_scaler["rows"].tolist()) == set(train.rows.tolist()) | set(val.rows.tolist())


def test_repeats_differ_and_the_same_seed_repeats_itself():
    data = _data(n_per_class=(12, 12, 12), folds=3)
    p = protocol_preset("paper").replace(**FAST)
    a, _ = run_fold(data, Split(1, (2, 3)), 0, 0, p, seed=5)
    b, _ = run_fold(data, Split(1, (2, 3)), 0, 0, p, seed=5)
    c, _ = run_fold(data, Split(1, (2, 3)), 0, 1, p, seed=5)
    assert a.grid == b.grid and a.accuracy == b.accuracy
    assert (a.seed, a.split_seed) != (c.seed, c.split_seed)


def test_classes_without_validation_clips_are_reported_not_fatal():
    data = _data(n_per_class=(12, 12, 3), folds=3)  # class 2: one clip per fold
    p = protocol_preset("paper").replace(**FAST)
    record, _ = run_fold(data, Split(1, (2, 3)), 0, 0, p, seed=0)
    assert record.n_val_clips >= 2
    data = _data(n_per_class=(3, 3, 3), folds=3)  # every class: one training clip per fold pair
    p1 = protocol_preset("paper").replace(**FAST)
    rec, _ = run_fold(data, Split(1, (2, 3)), 0, 0, p1, seed=0)  # two training clips: one held out
    assert rec.n_val_clips == 3 and rec.n_train_clips == 3
    # one training clip per class: nothing can be held out, and the error says so
    clips = [Clip("a", Path("/a.wav"), "c0", 2), Clip("b", Path("/b.wav"), "c1", 2),
             Clip("t", Path("/t.wav"), "c0", 1)]
    tiny = FoldData(data.X[:12], np.arange(4) * 4, clips, ("c0", "c1"))
    with pytest.raises(ProtocolError, match="validation"):
        run_fold(tiny, Split(1, (2, 3)), 0, 0, p1, seed=0)


def test_confusion_and_per_class_accuracy_agree_with_predictions():
    data = _data(n_per_class=(12, 12, 12), folds=3, seed=2)
    p = protocol_preset("paper").replace(**FAST)
    record, preds = run_fold(data, Split(2, (1, 3)), 1, 0, p, seed=0)
    conf = np.array(record.confusion)
    assert conf.sum() == len(preds) == record.n_test_clips
    idx = {c: i for i, c in enumerate(data.classes)}
    expected = np.zeros_like(conf)
    for r in preds:
        expected[idx[r["label"]], idx[r["predicted"]]] += 1
    np.testing.assert_array_equal(conf, expected)
    assert record.accuracy == pytest.approx(np.trace(conf) / conf.sum())
    for c, acc in record.per_class_accuracy.items():
        assert acc == pytest.approx(conf[idx[c], idx[c]] / conf[idx[c]].sum())

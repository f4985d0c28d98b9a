"""Multilabel tasks at the fold level: the BCE gradient, clip decisions and scores, the split's
own validation folds, records of schema v1 and v2, and event tasks at the fold level (issue 18)."""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.datasets.clips import KIND_METRICS, Clip, Event, Split, TaskInfo
from bench.embedders.base import EmbedderSpec
from bench.errors import ConfigError
from bench.evaluation.fold_record import FoldRecord
from bench.evaluation.frames import Frames, Standardizer, clip_means
from bench.evaluation.kernels import forward_backward
from bench.evaluation.protocol import check_task, fold_data, run_fold
from bench.evaluation.scoring import score_test
from bench.evaluation.settings import protocol_preset
from bench.runs.record_parts import summaries

MULTI = TaskInfo("multilabel", "mAP", ("mAP", "d_prime", "aucroc"))
needs_sed_eval = pytest.mark.skipif(importlib.util.find_spec("sed_eval") is None,
                                    reason="sed_eval is not installed (pip install "
                                           "'bench-audio-embeddings[events]')")


def test_bce_gradient_matches_autograd():
    """The stacked trainer's hand-written gradient of the mean binary cross-entropy equals
    torch autograd's through BCEWithLogitsLoss, for every stacked network."""
    rng = np.random.default_rng(0)
    G, B, D, H, C = 3, 7, 5, 4, 3
    W = [torch.tensor(rng.normal(size=(G, D, H)), dtype=torch.float64),
         torch.tensor(rng.normal(size=(G, H, C)), dtype=torch.float64)]
    b = [torch.tensor(rng.normal(size=(G, 1, H)), dtype=torch.float64),
         torch.tensor(rng.normal(size=(G, 1, C)), dtype=torch.float64)]
    x = torch.tensor(rng.normal(size=(B, D)), dtype=torch.float64)
    y = torch.tensor(rng.integers(0, 2, size=(B, C)), dtype=torch.float64)
    gW = [torch.zeros_like(w) for w in W]
    gb = [torch.zeros_like(v) for v in b]
    forward_backward(W, b, x, y, gW, gb, multilabel=True)
    for g in range(G):
        ps = [t[g].clone().requires_grad_(True) for t in (W[0], b[0], W[1], b[1])]
        h = torch.relu(x @ ps[0] + ps[1])
        loss = torch.nn.functional.binary_cross_entropy_with_logits(h @ ps[2] + ps[3], y)
        loss.backward()
        for mine, ref in zip((gW[0][g], gb[0][g], gW[1][g], gb[1][g]), ps):
            assert torch.allclose(mine, ref.grad, atol=1e-12)


def test_multilabel_clip_scores_are_frame_means_ranked_per_class():
    # clip 0: two frames, clip 1: one, clip 2: three; classes a, b
    proba = np.array([[.9, .1], [.7, .3], [.2, .8], [.6, .4], [.6, .6], [.6, .2]])
    clip = np.array([0, 0, 1, 2, 2, 2])
    np.testing.assert_allclose(clip_means(proba, clip, 3), [[.8, .2], [.2, .8], [.6, .4]])
    truth = np.array([[1, 0], [0, 1], [0, 0]], dtype=np.float32)
    rows = [{"clip_id": str(i)} for i in range(3)]
    got = score_test(proba, clip, truth, ("a", "b"), np.array([2, 1, 3]), rows, "mAP")
    # a: scores .8 (pos), .2, .6 -> AP 1; b: .2, .8 (pos), .4 -> AP 1; AUC 1 for both
    assert got.metric == "mAP" and got.metrics["mAP"] == 1.0 and got.metrics["aucroc"] == 1.0
    assert got.accuracy is None and got.confusion is None
    assert [p["predicted"] for p in got.predictions] == ["a", "b", "a"]
    assert [p["correct"] for p in got.predictions] == [1, 1, 0]
    # clip means a: .8 (pos), .2, .6 -> AP 1; b: .5, .3 (pos), .4 -> the positive last:
    # precision 1/3 at recall 1, AP 1/3, AUC 0
    worse = np.array([[.8, .5], [.8, .5], [.2, .3], [.6, .4], [.6, .4], [.6, .4]])
    got = score_test(worse, clip, truth, ("a", "b"), np.array([2, 1, 3]), rows, "mAP")
    assert got.per_class_ap == {"a": 1.0, "b": pytest.approx(1 / 3)}
    assert got.metrics["mAP"] == pytest.approx(2 / 3)
    assert got.metrics["aucroc"] == pytest.approx(0.5)


def _clips(folds: dict[str, int], multilabel: bool) -> list[Clip]:
    out = []
    for fold, n in folds.items():
        for i in range(n):
            labels = (("x",), ("y",), ("x", "y"), ())[i % 4]
            out.append(Clip(f"{fold}-{i}", Path("/nowhere"), labels[0] if labels else "x",
                            fold, labels=labels if multilabel else ()))
    return out


def test_split_val_folds_validate_and_the_protocol_draws_nothing():
    clips = _clips({"train": 16, "valid": 8, "test": 8}, multilabel=True)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(len(clips), 4)).astype(np.float32)
    for c, clip in enumerate(clips):  # separable: one dimension per label
        X[c, 0] += 4 * ("x" in clip.labels)
        X[c, 1] += 4 * ("y" in clip.labels)
    data = fold_data(X, np.arange(len(clips) + 1), clips, ("x", "y"),
                     protocol_preset("paper"), MULTI)
    assert data.labels.shape == (32, 2)
    paper = protocol_preset("paper").replace(max_epochs=3, hidden_sizes=(8,),
                                             learning_rates=(1e-2,), weight_decays=(0.0,))
    record, preds = run_fold(data, Split("test", ("train",), ("valid",)), 0, 0, paper, 0)
    assert (record.n_train_clips, record.n_val_clips, record.n_test_clips) == (16, 8, 8)
    assert record.metric == "mAP" and set(record.metrics) == {"mAP", "d_prime", "aucroc"}
    assert record.grid[0].val_metric == "mAP"
    assert record.score == record.metrics["mAP"] and not record.accuracy
    assert len(preds) == 8


EVENT = TaskInfo("event", "event_onset_200ms_fms", KIND_METRICS["event"])
#: (clip id, fold, events): every event starts and ends on the frame grid below
EVENT_CLIPS = [
    ("t0", "train", (Event("x", 1.0, 2.0),)), ("t1", "train", (Event("y", 0.5, 3.0),)),
    ("t2", "train", (Event("x", 0.2, 1.0), Event("y", 2.0, 3.5))),
    ("t3", "train", (Event("x", 1.5, 3.0), Event("y", 1.0, 2.5))), ("t4", "train", ()),
    ("t5", "train", (Event("y", 0.3, 1.3), Event("x", 2.5, 3.9))),
    ("v0", "valid", (Event("x", 0.6, 1.6),)), ("v1", "valid", (Event("y", 1.2, 3.2),)),
    ("v2", "valid", (Event("x", 2.0, 3.0), Event("y", 0.4, 1.4))),
    ("e0", "test", (Event("x", 1.1, 2.6),)), ("e1", "test", (Event("y", 0.7, 1.9),)),
    ("e2", "test", (Event("x", 0.5, 2.0), Event("y", 1.5, 3.5))), ("e3", "test", ())]


@needs_sed_eval
def test_event_fold_finds_events_at_known_times():
    """An event task's fold: frames at their windows' centres (hop 0.1 s, window 0.2 s: 0.1,
    0.2, ... s), each frame trained on its own targets, and on frames whose embedding says
    which tones sound, every test event found at its onset: onset F = 1 at 200 and 50 ms."""
    clips = [Clip(cid, Path("/nowhere"), events[0].label if events else "", fold,
                  labels=tuple(sorted({e.label for e in events})), events=events)
             for cid, fold, events in EVENT_CLIPS]
    n = 40  # frames per clip: 4 s
    offsets = np.arange(len(clips) + 1) * n
    times = 0.1 * np.arange(n) + 0.1
    rng = np.random.default_rng(0)
    X = 0.2 * rng.standard_normal((len(clips) * n, 2)).astype(np.float32)
    for c, clip in enumerate(clips):
        for e in clip.events:  # independent of frame_targets: the tone's column, on the grid
            X[c * n + np.flatnonzero((times > e.start - 1e-9) & (times < e.end - 1e-9)),
              ("x", "y").index(e.label)] += 3.0
    spec = EmbedderSpec(name="grid", sample_rate=16000, dim=2, window_s=0.2, hop_s=0.1,
                        version="1")
    paper = protocol_preset("paper")
    data = fold_data(X, offsets, clips, ("x", "y"), paper, EVENT, spec)
    np.testing.assert_allclose(data.timeline.times[:n], times)
    # clip e0 (x from 1.1 to 2.6 s): frames 10..24 (times 1.1 .. 2.5) are on
    e0 = data.timeline.targets[9 * n:10 * n]
    assert np.flatnonzero(e0[:, 0]).tolist() == list(range(10, 25)) and not e0[:, 1].any()
    quick = paper.replace(max_epochs=40, hidden_sizes=(8,), learning_rates=(1e-2,),
                          weight_decays=(0.0,))
    # the task's own grid (as a HEAR task's event_postprocessing_grid gives it): minimum
    # durations of 1.5 s drop most validation events, so 100 ms wins
    data.task = replace(EVENT, event_grid=((300.0,), (1500.0, 100.0)))
    record, preds = run_fold(data, Split("test", ("train",), ("valid",)), 0, 0, quick, 0)
    assert record.metric == "event_onset_200ms_fms" and set(record.metrics) == set(EVENT.metrics)
    assert record.score == 1.0 and record.metrics["event_onset_50ms_fms"] == 1.0
    assert record.grid[0].val_metric == "mAP" and record.n_test_frames == 4 * n
    assert record.postprocessing.val_value == 1.0
    assert (record.postprocessing.median_filter_ms, record.postprocessing.min_duration_ms) == (
        300.0, 100.0)
    # one predictions row per detected event, at the reference onsets (e3 has none)
    found = sorted((p["clip_id"], p["predicted"], round(p["onset"], 6)) for p in preds)
    assert found == sorted((cid, e.label, e.start) for cid, fold, events in EVENT_CLIPS
                           if fold == "test" for e in events)
    assert all(p["n_frames"] >= 10 and p["score"] > 0.5 for p in preds)


def test_event_tasks_refuse_per_clip_embedders_and_logreg():
    scene = EmbedderSpec(name="hear:pkg#scene", sample_rate=16000, dim=4, window_s=None,
                         hop_s=0.0, version="1")
    with pytest.raises(ConfigError, match="one embedding per frame in time; embedder "
                                          "hear:pkg#scene gives one per clip"):
        check_task(EVENT, protocol_preset("paper"), scene)
    with pytest.raises(ConfigError, match="cannot learn an event task"):
        check_task(EVENT, protocol_preset("fewshot:2"))
    clips = _clips({"train": 2}, multilabel=True)
    with pytest.raises(ConfigError, match="needs its frames' times"):  # no spec given
        fold_data(np.zeros((2, 3), np.float32), np.arange(3), clips, ("x", "y"),
                  protocol_preset("paper"), EVENT)


def test_logreg_refuses_multilabel():
    clips = _clips({"a": 8, "b": 8, "c": 8}, multilabel=True)
    data = fold_data(np.random.default_rng(0).normal(size=(24, 3)).astype(np.float32),
                     np.arange(25), clips, ("x", "y"), protocol_preset("fewshot:2"), MULTI)
    with pytest.raises(ConfigError, match="multilabel"):
        run_fold(data, Split("a", ("b", "c")), 0, 0, protocol_preset("fewshot:2"), 0)


def _fold(repeat: int, **kw) -> FoldRecord:
    base = {"test_fold": 1, "repeat": repeat, "val_accuracy": 0.5,
            "chosen": {"lr": 0.1, "weight_decay": 0.0}, "grid": [], "per_class_accuracy": {}}
    return FoldRecord.from_dict({**base, **kw})


def test_summaries_v1_folds_and_multilabel_folds():
    v1 = [_fold(0, accuracy=0.5, per_class_accuracy={"a": 0.5}), _fold(1, accuracy=0.7)]
    assert v1[0].metric_name == "accuracy" and v1[1].score == 0.7
    s = summaries(v1, ("a",))
    assert s["accuracy"].mean == pytest.approx(0.6) and s["summary"] == s["accuracy"]
    assert s["metric"] == "accuracy" and s["per_class_accuracy"] == {"a": 0.5}
    ml = [_fold(0, metric="mAP", metrics={"mAP": 0.8, "d_prime": 1.0}),
          _fold(1, metric="mAP", metrics={"mAP": 0.6, "d_prime": None})]
    s = summaries(ml, ("a",))
    assert "accuracy" not in s and s["metric"] == "mAP"
    assert s["summary"].mean == pytest.approx(0.7)
    assert s["summary"].std == pytest.approx(np.std([0.8, 0.6], ddof=1))
    assert s["metrics"] == {"mAP": pytest.approx(0.7), "d_prime": 1.0}
    assert "accuracy" not in ml[0].to_dict()  # absent, not null, on a multilabel fold

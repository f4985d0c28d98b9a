"""Event tasks (bench.evaluation.events): frame targets, HEAR's post-processing, and the event
metrics against a case counted by hand (the sed_eval part skips only where it is absent)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from bench.datasets.clips import Event
from bench.errors import ConfigError
from bench.evaluation import events as ev
from bench.evaluation.events import Postprocessing

needs_sed_eval = pytest.mark.skipif(importlib.util.find_spec("sed_eval") is None,
                                    reason="sed_eval is not installed (pip install "
                                           "'bench-audio-embeddings[events]')")
CLASSES = ("a", "b", "c", "d")


def test_frame_targets_start_inclusive_end_exclusive():
    t = np.arange(0.0, 2.0, 0.25)  # 0, .25, ..., 1.75
    y = ev.frame_targets([Event("b", 0.25, 1.0), Event("a", 1.5, 9.0)], t, ("a", "b"))
    assert y.tolist() == [[0, 0], [0, 1], [0, 1], [0, 1], [0, 0], [0, 0], [1, 0], [1, 0]]
    with pytest.raises(ValueError, match="'z' is not among"):
        ev.frame_targets([Event("z", 0, 1)], t, ("a", "b"))


def test_postprocessing_median_filter_threshold_and_min_duration():
    t = np.arange(10) * 0.1  # frames every 100 ms
    p = np.zeros((10, 2))
    p[1:6, 0] = 0.9   # a: frames 1..5
    p[3, 0] = 0.2     # ... with one dropout at frame 3, which a 3-frame median fills
    p[8, 0] = 0.9     # a lone frame: removed by the median filter
    p[7:9, 1] = 0.6   # b: frames 7..8, 100 ms from first to last timestamp
    p[9, 1] = 0.5     # exactly the threshold: not active (p > 0.5)
    raw = ev.events_from_probabilities(p, t, ("a", "b"), Postprocessing(0.0, 0.0))
    assert [(e.label, round(e.start, 6), round(e.end, 6)) for e in raw] == [
        ("a", 0.1, 0.2), ("a", 0.4, 0.5), ("b", 0.7, 0.8), ("a", 0.8, 0.8)]
    # 300 ms / 100 ms = a 3-frame median: a becomes frames 1..5 (0.1-0.5 s); b's two frames
    # (0.6 at 7 and 8, 0 at 6, 0.5 at 9) keep frame 7 and 8 (medians 0.6, 0.6)
    smooth = ev.events_from_probabilities(p, t, ("a", "b"), Postprocessing(300.0, 0.0))
    assert [(e.label, round(e.start, 6), round(e.end, 6)) for e in smooth] == [
        ("a", 0.1, 0.5), ("b", 0.7, 0.8)]
    # minimum duration 150 ms drops b (100 ms); 400 ms keeps a (exactly 400 ms)
    assert [e.label for e in ev.events_from_probabilities(
        p, t, ("a", "b"), Postprocessing(300.0, 150.0))] == ["a"]
    assert [e.label for e in ev.events_from_probabilities(
        p, t, ("a", "b"), Postprocessing(300.0, 400.0))] == ["a"]
    assert ev.events_from_probabilities(p, t, ("a", "b"), Postprocessing(300.0, 401.0)) == []


def test_hear_grid():
    assert ev.postprocessing_grid() == [Postprocessing(250.0, 125.0),
                                        Postprocessing(250.0, 250.0)]
    assert ev.postprocessing_grid({"median_filter_ms": [150], "min_duration": [50]}) == [
        Postprocessing(150.0, 50.0)]


# The hand-counted case (seconds). Clip x: a@1.0 found at 1.1 (onset 100 ms off), b@0.0 found
# at 0.03 (30 ms; its offset .45 vs .5 within max(50 ms, 20 % of .5 s) = 100 ms), a@3.0 found
# at 3.3 (300 ms: a miss and a false alarm). Clip y: c@0.5 found at 0.52 (20 ms) but ending
# 1 s late (offset collar max(50 ms, 20 % of 1 s) = 200 ms), d@3.2 not found, b found at 3.4
# where there is no b.
REFERENCES = {
    "x": [Event("a", 1.0, 2.0), Event("b", 0.0, 0.5), Event("a", 3.0, 3.5)],
    "y": [Event("c", 0.5, 1.5), Event("d", 3.2, 3.8)],
}
ESTIMATES = {
    "x": [Event("a", 1.1, 2.5), Event("b", 0.03, 0.45), Event("a", 3.3, 3.5)],
    "y": [Event("c", 0.52, 2.5), Event("b", 3.4, 3.6)],
}


@needs_sed_eval
def test_event_metrics_equal_the_hand_count():
    scores = ev.event_scores(REFERENCES, ESTIMATES, CLASSES)
    # 5 reference events, 5 estimated.
    # 200 ms onset collar: x-a@1.0, x-b, y-c match -> TP 3, FP 5-3 = 2, FN 5-3 = 2,
    #   F = 2*3 / (2*3 + 2 + 2) = 0.6
    # 50 ms: x-b (30 ms) and y-c (20 ms) -> TP 2, FP 3, FN 3, F = 4 / 10 = 0.4
    # onset+offset: only x-b (y-c's offset is 1 s late) -> TP 1, FP 4, FN 4, F = 2 / 10 = 0.2
    assert scores.counts["event_onset_200ms_fms"] == (3, 2, 2)
    assert scores.counts["event_onset_50ms_fms"] == (2, 3, 3)
    assert scores.counts["event_onset_offset_50ms_20perc_fms"] == (1, 4, 4)
    # 1 s segments (an event covers floor(onset)..ceil(offset)), each clip to its last offset:
    #   x: seg0 b|b, seg1 a|a, seg2 -|a (insertion: the estimate runs to 2.5), seg3 a|a
    #   y: seg0 c|c, seg1 c|c, seg2 -|c (insertion), seg3 d|b (substitution)
    #   reference active 3 + 3 = 6; ER = (S 1 + D 0 + I 2) / 6 = 0.5
    assert scores.counts["segment_1s_er"] == (1, 0, 2, 6)
    assert scores.values == pytest.approx({
        "event_onset_200ms_fms": 0.6, "event_onset_50ms_fms": 0.4,
        "event_onset_offset_50ms_20perc_fms": 0.2, "segment_1s_er": 0.5})


@needs_sed_eval
def test_nothing_detected_scores_zero_and_the_grid_choice():
    empty = ev.event_scores(REFERENCES, {}, CLASSES)
    assert empty.values["event_onset_200ms_fms"] == 0.0
    assert empty.values["segment_1s_er"] == 1.0  # every reference segment deleted
    # clip x at 50 ms frames: a on 1.0-1.95 s, and a 100 ms blip at 3.0 s (a false alarm)
    t = np.arange(80) * 0.05
    p = np.zeros((80, 4))
    p[20:40, 0] = 0.9
    p[60:63, 0] = 0.9  # 3.0-3.1 s: 100 ms from first to last frame
    refs = {"x": [Event("a", 1.0, 2.0)]}
    grid = {"median_filter_ms": [0.0], "min_duration": [0.0, 150.0]}
    # without a minimum duration: TP 1, FP 1, F = 2/3, and the blip's segment 3 an insertion
    # (ER 1/1); 150 ms removes it: F 1, ER 0
    assert ev.choose_postprocessing({"x": p}, {"x": t}, refs, CLASSES, "event_onset_200ms_fms",
                                    grid) == (Postprocessing(0.0, 150.0), 1.0)
    assert ev.choose_postprocessing({"x": p}, {"x": t}, refs, CLASSES, "segment_1s_er",
                                    grid) == (Postprocessing(0.0, 150.0), 0.0)
    # HEAR's grid: a 5-frame median keeps the blip (3 of 5 frames), both minimum durations
    # remove it: a tie, and the first point wins
    assert ev.choose_postprocessing({"x": p}, {"x": t}, refs, CLASSES,
                                    "event_onset_200ms_fms") == (Postprocessing(250.0, 125.0),
                                                                 1.0)


def test_missing_library_is_one_clear_error(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_sed_eval(name, *args, **kwargs):
        if name.split(".")[0] in ("sed_eval", "dcase_util"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sed_eval)
    with pytest.raises(ConfigError, match="event metrics need sed_eval") as err:
        ev.event_scores(REFERENCES, ESTIMATES, CLASSES)
    assert "pip install 'bench-audio-embeddings[events]'" in err.value.hint

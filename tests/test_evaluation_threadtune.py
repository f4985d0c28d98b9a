"""The grid trainer's thread chooser: it picks the faster setting from the times it measures,
probes again when the chosen one slows down or after a while, and switching threads in the
middle of training never changes a number."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bench.evaluation import stacked as grid_module
from bench.evaluation.stacked import GridMLP, MLPSettings, Standardizer
from bench.evaluation.threadtune import ThreadChooser
from test_spine_classify import GRID, _problem


def _epoch(chooser: ThreadChooser, per_batch: dict[int, float], blocks: int = 6,
           batches: int = 8, changed: bool = False) -> list[int]:
    """One epoch of ``blocks`` blocks where a batch on ``k`` threads takes ``per_batch[k]`` s."""
    used = []
    for block in range(blocks):
        k = chooser.threads_for_block(block)
        used.append(k)
        chooser.record_block(k, per_batch[k] * batches, batches, block)
    chooser.end_epoch(sum(per_batch[k] * batches for k in used), blocks * batches, changed)
    return used


def test_probes_first_and_keeps_the_faster_setting():
    quiet = {2: 0.001, 1: 0.0016}
    c = ThreadChooser(2)
    assert c.probing
    used = _epoch(c, quiet)
    assert used == [2, 2, 1, 2, 1, 2]  # a warm-up block, then alternating
    assert c.chosen == 2 and not c.probing
    assert _epoch(c, quiet) == [2] * 6

    loaded = {2: 0.004, 1: 0.002}
    c = ThreadChooser(2)
    _epoch(c, loaded)
    assert c.chosen == 1 and _epoch(c, loaded) == [1] * 6


def test_a_near_tie_leaves_a_core_to_the_neighbours():
    c = ThreadChooser(2)
    _epoch(c, {2: 0.00095, 1: 0.001})  # 5 % faster on two threads: not worth a second core
    assert c.chosen == 1


def test_a_slowdown_or_time_makes_it_probe_again():
    c = ThreadChooser(2, reprobe_every=4)
    _epoch(c, {2: 0.001, 1: 0.0016})
    _epoch(c, {2: 0.001, 1: 0.0016})  # the chosen setting's reference time
    _epoch(c, {2: 0.0012, 1: 0.0016})  # within the slack
    assert not c.probing
    _epoch(c, {2: 0.004, 1: 0.002})  # a neighbour started
    assert c.probing
    _epoch(c, {2: 0.004, 1: 0.002})
    assert c.chosen == 1
    # later the neighbour leaves; only the periodic probe can tell
    for _ in range(4):
        assert not c.probing
        _epoch(c, {2: 0.001, 1: 0.0016})
    assert c.probing
    _epoch(c, {2: 0.001, 1: 0.0016})
    assert c.chosen == 2
    assert c.history == [2, 2, 2, 2, 1, 1, 1, 1, 1, 2]


def test_a_shrunk_stack_is_measured_anew_not_taken_for_a_slowdown():
    c = ThreadChooser(2)
    _epoch(c, {2: 0.001, 1: 0.0016})
    _epoch(c, {2: 0.001, 1: 0.0016}, changed=True)  # grid points stopped after this epoch
    _epoch(c, {2: 0.0005, 1: 0.0008})  # the smaller stack sets the new reference
    _epoch(c, {2: 0.0006, 1: 0.0008})
    assert not c.probing


def test_one_thread_has_nothing_to_choose():
    c = ThreadChooser(1)
    assert not c.probing and _epoch(c, {1: 0.001}) == [1] * 6 and c.history == [1]


class _Flipping(ThreadChooser):
    """Switches between 2 and 1 threads at every block, whatever the times."""

    def threads_for_block(self, block):
        return 2 if block % 2 else 1


@pytest.mark.parametrize("adam_impl", ["stacked", "fused"])
def test_switching_threads_while_training_changes_no_number(monkeypatch, adam_impl):
    import torch

    X, train, val, _, C = _problem(1.0, dim=64, n_clips=160)
    scaler = Standardizer.fit(X, train.rows)
    s = MLPSettings(n_classes=C, grid=GRID, max_epochs=6, patience=3, adam_impl=adam_impl,
                    random_state=3)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        monkeypatch.setattr(grid_module, "TINY_NETWORK_PARAMS", 0)  # let the chooser run
        monkeypatch.setattr(grid_module, "ThreadChooser", _Flipping)
        switching = GridMLP(s).fit(train, val, scaler)
        fixed = GridMLP(dataclasses.replace(s, threads=1)).fit(train, val, scaler)
    finally:
        torch.set_num_threads(before)
    assert switching.threads_chosen_ and fixed.threads_chosen_ == []
    assert [dataclasses.astuple(p) for p in switching.points_] == \
           [dataclasses.astuple(p) for p in fixed.points_]
    for (Wa, ba), (Wb, bb) in zip(switching.params_, fixed.params_):
        np.testing.assert_array_equal(Wa, Wb)
        np.testing.assert_array_equal(ba, bb)


def test_the_thread_count_is_given_back_after_training(monkeypatch):
    """A fit that ended on one thread must not leave the process (the next fold's chooser, the
    next run's embedder) on one thread."""
    import torch

    class _EndsOnOne(ThreadChooser):
        def end_epoch(self, *args, **kwargs):
            super().end_epoch(*args, **kwargs)
            self.chosen = 1  # as after a probe that found one thread faster

    X, train, val, _, C = _problem(1.0, dim=64, n_clips=60)
    s = MLPSettings(n_classes=C, grid=GRID[:2], max_epochs=2, patience=3)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        monkeypatch.setattr(grid_module, "TINY_NETWORK_PARAMS", 0)
        monkeypatch.setattr(grid_module, "ThreadChooser", _EndsOnOne)
        GridMLP(s).fit(train, val, Standardizer.fit(X, train.rows))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)

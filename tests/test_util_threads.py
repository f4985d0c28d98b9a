"""bench.util.threads: the one place torch's thread count is set, and given back."""

from __future__ import annotations

import pytest

from bench.util import cpus, threads


def test_the_count_is_set_and_given_back():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    try:
        assert threads.set_torch_threads(2) == 2 and torch.get_num_threads() == 2
        with threads.torch_threads(1):
            assert torch.get_num_threads() == 1
            threads.set_torch_threads(3)  # what the block does with it is undone too
        assert torch.get_num_threads() == 2
        with threads.torch_threads(None):  # None: left as it is
            assert torch.get_num_threads() == 2
        with pytest.raises(RuntimeError), threads.torch_threads(1):
            raise RuntimeError("a failing block")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_the_default_is_the_cpus_this_process_may_use(monkeypatch):
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    try:
        assert threads.use_default_threads(None) == cpus.default_threads(None) == 1
        assert torch.get_num_threads() == 1
        assert threads.use_default_threads(2) == 2 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)

"""torch's thread count: the one place bench sets it.

How many threads a run uses is decided elsewhere (``--threads``, else :func:`bench.util.cpus.
default_threads`; the grid trainer's chooser, :mod:`bench.evaluation.threadtune`, switches
between all and one while training); setting and restoring torch's count happens here, so that
every caller gives the count back the same way. torch is imported inside the functions, as
everywhere in bench.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from bench.util.cpus import default_threads


def set_torch_threads(n: int) -> int:
    """Give torch ``n`` threads (a no-op when it has them, which is cheap to call per batch);
    returns ``n``."""
    import torch

    if n != torch.get_num_threads():
        torch.set_num_threads(n)
    return n


def use_default_threads(threads: int | None) -> int:
    """Give torch ``--threads`` threads, or by default one per CPU this process may use
    (affinity mask and cgroup quota; torch's own default counts the machine's cores); returns
    the count."""
    return set_torch_threads(default_threads(threads))


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """torch's thread count set to ``n`` (``None``: left as it is) inside the block, and put
    back afterwards whatever the block did with it (the grid trainer's choice switches it)."""
    import torch

    before = torch.get_num_threads()
    if n is not None:
        set_torch_threads(n)
    try:
        yield
    finally:
        set_torch_threads(before)

"""Decode and resample in worker processes, a bounded number of clips ahead, in order.

Resampling (resampy's ``kaiser_best``: 75-235 ms per 5 s clip on one core) is the costliest
step of reading a clip, and on a GPU box it is nearly the whole embedding cost, so it has to
scale with the cores. Worker processes do, whatever of the decoding still holds the GIL
(soundfile's Python side, downmixing, the checks), and leave the main process's GIL to the code
feeding the network. The pool is sized from the CPUs this process may use
(:func:`bench.util.cpus.usable_cpus`), keeps at most ``ahead`` clips decoded or in flight (so
memory stays bounded whatever the dataset's size), and hands the clips back in the order they
were asked for while the caller runs the network on the previous ones.

Workers are forked where the platform allows it (Linux): they inherit the imported modules and
resampy's compiled kernel (compiled once in the parent first), so a pool starts in milliseconds
instead of the ~2 s a fresh interpreter needs to import numba and compile. They never touch
torch, so forking after torch has started its threads is safe, as for torch's own DataLoader.
"""

from __future__ import annotations

import os
import signal
import sys
import warnings
from collections import deque
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from bench.audio.decode import load_resampled, resample
from bench.errors import AudioError, BenchError


def decoded(paths: Iterable[Path], sample_rate: int, method: str, *, workers: int,
            ahead: int | None = None) -> Iterator[np.ndarray | AudioError]:
    """Each file decoded, downmixed and resampled to ``sample_rate``, in the order given.

    Parameters
    ----------
    paths : iterable of Path
        Audio files; read lazily, so a generator of many clips is fine.
    sample_rate : int
        Target rate.
    method : str
        Resampler (see :data:`bench.audio.decode.RESAMPLERS`).
    workers : int
        Worker processes; ``0`` decodes in the calling process (no pool).
    ahead : int, optional
        Clips decoded or in flight at most (default ``2 * workers + 2``).

    Yields
    ------
    ndarray or AudioError
        The mono float32 waveform, or the error that made the file unusable (returned, not
        raised, so the caller can skip the file and go on).
    """
    paths = iter(paths)
    if workers > 0 and _daemonic():
        # a daemonic process (a Dask worker, a multiprocessing pool's worker) may not start
        # children: it decodes in-process; its siblings already share the machine's cores
        workers = 0
    if workers <= 0:
        for path in paths:
            yield _work(path, sample_rate, method)
        return
    ahead = max(1, ahead if ahead is not None else 2 * workers + 2)
    _warm_up(method)
    pool = _make_pool(workers)
    pending: deque = deque()
    try:
        for path in paths:
            pending.append(pool.submit(_work, path, sample_rate, method))
            if len(pending) >= ahead:
                break
        while pending:
            future = pending.popleft()
            following = next(paths, None)
            if following is not None:
                pending.append(pool.submit(_work, following, sample_rate, method))
            yield _result(future)
    finally:
        # wait for the workers (a clip or two in flight, under a second): a pool left to shut
        # down by itself races the interpreter's exit in a multiprocessing child, whose exit
        # closes the pool's call queue before the pool sends its workers the order to stop;
        # the workers then wait for ever and the child never exits (seen 2 in 15 under load)
        pool.shutdown(wait=True, cancel_futures=True)


def _work(path: Path, sample_rate: int, method: str) -> np.ndarray | AudioError:
    try:
        return load_resampled(path, sample_rate, method)
    except AudioError as exc:
        return exc
    except Exception as exc:  # a decoder bug must reach the caller, not vanish in a worker
        return AudioError(f"cannot decode audio file {path}: {type(exc).__name__}: {exc}")


def _result(future) -> np.ndarray | AudioError:
    from concurrent.futures.process import BrokenProcessPool

    try:
        return future.result()
    except BrokenProcessPool as exc:
        raise BenchError("a decoding worker process died (out of memory, or killed)",
                         hint="run the same command again (finished clips are stored); pass "
                              "--threads 1 to decode in one process") from exc


def _daemonic() -> bool:
    import multiprocessing

    return bool(multiprocessing.current_process().daemon)


def _make_pool(workers: int):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with warnings.catch_warnings():
        # Python 3.12+ warns on fork() in a process with threads; the workers only decode
        warnings.filterwarnings("ignore", message=".*fork.*", category=DeprecationWarning)
        return ProcessPoolExecutor(max_workers=workers, mp_context=context,
                                   initializer=_init_worker, initargs=(os.getpid(),))


def _init_worker(parent: int) -> None:
    # Ctrl-C reaches the whole process group: the parent stops the pool; a worker that raised
    # KeyboardInterrupt itself would only add tracebacks
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A parent killed outright (SIGKILL, the OOM killer) cannot stop its pool: a worker left
    # behind would block for ever writing a result nobody reads, holding the parent's stdout and
    # stderr open (a caller waiting for them to close would hang). Linux can end the worker
    # with its parent; elsewhere the pool's own broken-pipe handling is all there is.
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _die_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    try:
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


_WARM: set[str] = set()


def _warm_up(method: str) -> None:
    """Compile resampy's kernel and load its filter in this process once, so that forked
    workers inherit them instead of each spending a second or two on it."""
    if method.startswith("soxr") or method in _WARM:
        return
    resample(np.zeros(441, dtype=np.float32), 44100, 48000, method)
    _WARM.add(method)

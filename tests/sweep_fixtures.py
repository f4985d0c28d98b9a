"""Tiny embedders that count their work, and a driver that runs ``bench`` in a subprocess and
can kill itself at a chosen point, for the sweep tests.

The embedders are used through their import path (``sweep_fixtures:TinyA``) with this folder
on PYTHONPATH. Every finished embedder call appends ``embed <name> <n_windows>`` to the file in
``BENCH_TEST_LOG``, every finished (fold, repeat) ``fold <name> <test_fold> <repeat>``.
``BENCH_TEST_KILL=embed:<name>:<k>`` (or ``fold:<name>:<k>``) sends SIGKILL to the process at
the start of the k-th such call in this process: a hard kill, no cleanup;
``BENCH_TEST_SIGINT=<kind>:<name>:<k>:<n>`` sends Ctrl-C there instead (SIGINT to the process
group, ``n`` times 100 ms apart). Several such specs
may be given, separated by commas; ``*`` as the name matches any. With
``BENCH_TEST_KILL_ONCE=<folder>`` each spec kills one process only, whichever gets there first
(a marker file in the folder says it happened): Dask restarts a killed worker, which must not
die again. ``BENCH_TEST_FOLD_NAME=data`` names (fold, repeat) log lines after the embeddings
and seed they used instead of the last embedder prepared in the process (Dask workers classify
without preparing an embedder). In a Dask worker, this module is loaded as a preload
(``dask_setup``), which counts the folds there too.
"""

from __future__ import annotations

import os
import signal
import time
import zlib

import numpy as np

from bench.embedders.base import Embedder, EmbedderSpec

_STARTED: dict[tuple[str, str], int] = {}
_CURRENT = ["?"]
#: in-process counters (tests that run the sweep in this process read them)
WINDOWS: dict[str, int] = {}


def _start(kind: str, name: str) -> None:
    key = (kind, name)
    _STARTED[key] = _STARTED.get(key, 0) + 1
    for spec in filter(None, os.environ.get("BENCH_TEST_KILL", "").split(",")):
        if _due(spec, kind, name, key, ".killed"):
            os.kill(os.getpid(), signal.SIGKILL)
    for spec in filter(None, os.environ.get("BENCH_TEST_SIGINT", "").split(",")):
        k_kind, k_name, k_at, times = spec.split(":")
        if _due(":".join((k_kind, k_name, k_at)), kind, name, key, ".interrupted"):
            # Ctrl-C as a terminal sends it: to the whole process group (the command, its
            # decoding pool, its Dask workers); a second one 100 ms later if asked
            for i in range(int(times)):
                if i:
                    time.sleep(0.1)
                os.killpg(os.getpgrp(), signal.SIGINT)


def _due(spec: str, kind: str, name: str, key: tuple[str, str], marker: str) -> bool:
    """Whether ``kind:name:k`` fires now (once per study with ``BENCH_TEST_KILL_ONCE``)."""
    k_kind, k_name, k_at = spec.split(":")
    if not (k_kind == kind and k_name in (name, "*") and _STARTED[key] == int(k_at)):
        return False
    once = os.environ.get("BENCH_TEST_KILL_ONCE")
    if once:
        try:
            os.close(os.open(os.path.join(once, spec.replace(":", "_").replace("*", "any")
                                          + marker), os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return False
    return True


def _log(line: str) -> None:
    path = os.environ.get("BENCH_TEST_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())


class _Tiny(Embedder):
    """8 log band energies of each 1 s window at 8 kHz (hop 0.5 s): cheap, deterministic."""

    spec = EmbedderSpec(name="tiny", sample_rate=8000, dim=8, window_s=1.0, hop_s=0.5,
                        version="1")
    default_batch_size = 8
    gflop_per_window = 1e-5

    def prepare(self) -> EmbedderSpec:
        _CURRENT[0] = self.spec.name
        return self.spec

    def features(self, windows: np.ndarray) -> np.ndarray:
        x = windows.reshape(len(windows), 8, -1)
        return np.log(np.mean(x ** 2, axis=2) + 1e-8)

    def embed_windows(self, windows: np.ndarray) -> np.ndarray:
        name = self.spec.name
        _start("embed", name)
        out = self.features(np.asarray(windows, dtype=np.float32)).astype(np.float32)
        WINDOWS[name] = WINDOWS.get(name, 0) + len(windows)
        _log(f"embed {name} {len(windows)}")
        return out


class TinyA(_Tiny):
    spec = _Tiny.spec.replace(name="tiny-a")


class TinyB(_Tiny):
    """Energies of the first difference (a high-pass view)."""

    spec = _Tiny.spec.replace(name="tiny-b")

    def features(self, windows: np.ndarray) -> np.ndarray:
        d = np.diff(windows, axis=1, prepend=0.0)
        return super().features(d)


class Broken(_Tiny):
    spec = _Tiny.spec.replace(name="broken")

    def embed_windows(self, windows: np.ndarray) -> np.ndarray:
        raise RuntimeError("tiny broken on purpose")


def count_folds() -> None:
    """Wrap the protocol's run_fold so every (fold, repeat) is counted (and can be killed)."""
    import bench.runs.steps as protocol  # the run's steps call run_fold by this name

    if getattr(protocol.run_fold, "_counted", False):
        return
    original = protocol.run_fold

    def run_fold(data, split, split_index, repeat, *args, **kwargs):
        name = _CURRENT[0]
        if os.environ.get("BENCH_TEST_FOLD_NAME") == "data":
            name = f"x{zlib.crc32(data.X.tobytes()):08x}-s{args[1]}"
        _start("fold", name)
        out = original(data, split, split_index, repeat, *args, **kwargs)
        _log(f"fold {name} {split.test_fold} {repeat}")
        return out

    run_fold._counted = True
    protocol.run_fold = run_fold


def read_log(path) -> dict:
    """``{"embed": {name: windows}, "fold": {name: [(fold, repeat), ...]}}`` from a log file."""
    out: dict = {"embed": {}, "fold": {}}
    if not os.path.exists(path):
        return out
    for line in open(path, encoding="utf-8"):
        kind, name, *rest = line.split()
        if kind == "embed":
            out["embed"][name] = out["embed"].get(name, 0) + int(rest[0])
        else:
            out["fold"].setdefault(name, []).append((int(rest[0]), int(rest[1])))
    return out


def drive(args: list[str]) -> None:
    """``bench ARGS`` with (fold, repeat) counting; run as
    ``python -c "import sys, sweep_fixtures; sweep_fixtures.drive(sys.argv[1:])" ARGS``
    (imported by name, so the embedders and the fold counter share this module's state)."""
    count_folds()
    from bench.cli import main

    main(args, prog_name="bench")


def dask_setup(worker) -> None:
    """Dask's preload hook (``DASK_DISTRIBUTED__WORKER__PRELOAD='["sweep_fixtures"]'``)."""
    count_folds()


#: record fields that differ between two computations of the same numbers
_TIMING = ("created", "timings", "environment")


def record_numbers(record: dict, config_ignored: tuple[str, ...] = ("out_dir", "cache_dir")
                   ) -> dict:
    """A ``results.json`` record less its timings and host fields, and less the ``config``
    entries named (folders, tracking) that differ between the two runs compared."""
    out = {k: v for k, v in record.items() if k not in _TIMING}
    out["folds"] = [{k: v for k, v in f.items() if k != "classify_s"} for f in record["folds"]]
    out["embedding"] = {k: v for k, v in record["embedding"].items()
                        if k not in ("seconds", "windows_per_s")}
    out["config"] = {k: v for k, v in record["config"].items() if k not in config_ignored}
    return out

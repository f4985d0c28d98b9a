"""Where a study's runs execute:
``--executor local|processes[:N]|dask[:N]|tcp://HOST:PORT|slurm|pbs``.

``local`` is the sequential sweep in this process (the default). ``processes:N`` runs the
study graph's units on a pool of N processes here (``bench.studies.processes``, no extra
dependency). The others run them as Dask tasks
(``bench.studies.dask_run``; needs ``pip install bench-audio-embeddings[dask]``):
``dask:N`` starts N worker processes on this machine (one per GPU when the device is cuda),
an address joins a running scheduler, ``slurm``/``pbs`` submit batch jobs that become workers
through dask-jobqueue, configured by the study file's ``dask:`` section (docs/cluster.md).
This module parses and checks those settings and imports nothing heavy.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from bench.errors import ConfigError
from bench.evaluation.ranges import RANGES

KINDS = ("local", "processes", "dask", "address", "slurm", "pbs")
#: clips per embed task unless the study says (a shard of ESC-50 with an L3 model is ~8k
#: windows: minutes on a CPU core, seconds on a GPU; small enough to spread, big enough that
#: the scheduler's ~ms per task does not matter)
DEFAULT_SHARD_CLIPS = 200
_SECTION_KEYS = {"workers", "shard_clips", "threads_per_worker", "retries", "startup_timeout",
                 "slurm", "pbs"}
#: seconds to wait for the first worker, per kind, unless the study or --startup-timeout says:
#: local processes start in seconds (a minute on a busy machine), a running scheduler has its
#: workers already, batch jobs may wait in the queue
STARTUP_TIMEOUT_S = {"dask": 120.0, "address": 60.0, "slurm": 1800.0, "pbs": 1800.0}


@dataclass(frozen=True)
class Executor:
    """A parsed ``--executor`` value.

    Attributes
    ----------
    kind : str
        One of :data:`KINDS`.
    workers : int or None
        Worker processes (``processes:N``, ``dask:N``) or batch jobs (``slurm``/``pbs``);
        ``None``: the study's ``dask.workers``, else the CPU count (local) or 1 job.
    address : str or None
        The scheduler of ``kind == "address"``.
    startup_timeout : float or None
        ``--startup-timeout``: seconds to wait for the first worker (wins over the study's).
    """

    kind: str
    workers: int | None = None
    address: str | None = None
    startup_timeout: float | None = None

    @property
    def distributed(self) -> bool:
        return self.kind != "local"

    def describe(self) -> str:
        if self.kind == "address":
            return f"the Dask scheduler at {self.address}"
        if self.kind == "local":
            return "this process, one run after another"
        n = f"{self.workers} " if self.workers else ""
        what = {"dask": "local worker processes", "processes": "processes of a local pool"}.get(
            self.kind, f"{self.kind} jobs")
        return f"{n}{what}"


def parse_executor(text: str | None, startup_timeout: float | None = None) -> Executor:
    """``local``, ``processes[:N]``, ``dask``, ``dask:N``, ``tcp://HOST:PORT`` (or ``tls://``),
    ``slurm[:N]``, ``pbs[:N]``; anything else is a :class:`ConfigError` that lists these.
    ``startup_timeout``: seconds to wait for the first worker (``None``: the study's, else the
    kind's default)."""
    text = (text or "local").strip()
    if startup_timeout is not None:
        startup_timeout = RANGES["startup_timeout"].check("startup timeout", startup_timeout)
    if re.fullmatch(r"(tcp|tls|ucx)://[^\s/]+:\d+", text):
        return Executor("address", address=text, startup_timeout=startup_timeout)
    m = re.fullmatch(r"(local|processes|dask|slurm|pbs)(?::(\d+))?", text)
    if m is None or (m[1] == "local" and m[2]):
        raise ConfigError(f"--executor must be local, processes[:N], dask[:N], tcp://HOST:PORT, "
                          f"slurm[:N] or pbs[:N], found {text!r}",
                          hint="e.g. --executor processes:4 for 4 worker processes on this "
                               "machine")
    workers = int(m[2]) if m[2] else None
    if workers is not None and workers < 1:
        raise ConfigError(f"--executor {text}: the number of workers must be at least 1")
    return Executor(m[1], workers, startup_timeout=startup_timeout)


@dataclass(frozen=True)
class DaskSettings:
    """The study file's ``dask:`` section (all optional).

    Attributes
    ----------
    workers : int or None
        Worker processes for ``dask`` and ``processes`` (default: CPU count, or GPU count with
        cuda), jobs for ``slurm``/``pbs`` (default 1).
    shard_clips : int
        Clips per embed task.
    threads_per_worker : int
        Torch threads (and Dask task slots: always 1) of each worker process.
    retries : int
        Extra attempts of a task that raised (a worker that died is handled by Dask itself).
    startup_timeout : float or None
        Seconds to wait for the first worker before failing with a line that names what is
        missing (default: :data:`STARTUP_TIMEOUT_S` of the executor's kind).
    slurm, pbs : dict
        Keyword arguments of dask-jobqueue's ``SLURMCluster`` / ``PBSCluster`` (cores, memory,
        walltime, account, queue, job_extra_directives, ...), plus ``gpus``: GPUs per job
        (Slurm: adds ``--gres=gpu:N``; each job then runs one worker per GPU).
    """

    workers: int | None = None
    shard_clips: int = DEFAULT_SHARD_CLIPS
    threads_per_worker: int = 1
    retries: int = 1
    startup_timeout: float | None = None
    slurm: dict[str, Any] = field(default_factory=dict)
    pbs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any, source: str = "study") -> "DaskSettings":
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: 'dask' must be a mapping, found {data!r}")
        unknown = set(data) - _SECTION_KEYS
        if unknown:
            raise ConfigError(f"{source}: unknown key(s) in 'dask': {sorted(unknown)}; known: "
                              f"{sorted(_SECTION_KEYS)}")
        for k in ("workers", "shard_clips", "threads_per_worker"):
            v = data.get(k)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
                raise ConfigError(f"{source}: dask.{k} must be a positive integer, found {v!r}")
        retries = data.get("retries", 1)
        if not isinstance(retries, int) or retries < 0:
            raise ConfigError(f"{source}: dask.retries must be 0 or more, found {retries!r}")
        timeout = data.get("startup_timeout")
        if timeout is not None:
            timeout = RANGES["startup_timeout"].check(f"{source}: dask.startup_timeout", timeout)
        for k in ("slurm", "pbs"):
            if not isinstance(data.get(k) or {}, dict):
                raise ConfigError(f"{source}: dask.{k} must be a mapping of dask-jobqueue "
                                  f"settings, found {data[k]!r}")
        return cls(workers=data.get("workers"), shard_clips=data.get("shard_clips") or
                   DEFAULT_SHARD_CLIPS, threads_per_worker=data.get("threads_per_worker") or 1,
                   retries=retries, startup_timeout=timeout,
                   slurm=dict(data.get("slurm") or {}),
                   pbs=dict(data.get("pbs") or {}))

    def worker_count(self, executor: Executor, gpus: int = 0) -> int:
        """How many workers (local) or jobs (batch) to start."""
        if executor.workers is not None:
            return executor.workers
        if self.workers is not None:
            return self.workers
        if executor.kind in ("dask", "processes"):
            return gpus or max(1, (os.cpu_count() or 1) // self.threads_per_worker)
        return 1


    def startup_wait(self, executor: Executor) -> float:
        """Seconds to wait for the first worker: ``--startup-timeout``, else the study's
        ``dask.startup_timeout``, else the default of the executor's kind."""
        for value in (executor.startup_timeout, self.startup_timeout):
            if value is not None:
                return float(value)
        return STARTUP_TIMEOUT_S[executor.kind]

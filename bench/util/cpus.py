"""The CPUs this process may use, and OpenMP threads that wait without spinning.

Two things make a torch job collapse on a shared machine, and both are settled here, once for
every torch/OpenMP user in the process:

* **Spinning.** OpenMP worker threads (libgomp in torch's Linux wheels, libiomp/libomp in other
  builds) busy-wait after each parallel region, for up to about 300 000 spins (~3 ms) in libgomp
  (or 200 ms in libiomp) before they sleep. On a machine whose cores are busy with other work,
  the spinning threads take the cores from the thread that has real work: the grid trainer went
  from 2 s to 28 s per epoch on a busy shared machine. Sleeping at once is no cure either: every
  parallel region then pays a futex wake-up, which made the small D=80 MLP 2.5x slower on a quiet
  machine. So bench shortens the spin to ``GOMP_SPINCOUNT=3000`` (about 30 µs: long enough to
  bridge the gap between two small operations, too short to matter to a neighbour) and keeps
  ``OMP_WAIT_POLICY=PASSIVE`` / ``KMP_BLOCKTIME=0`` for the other runtimes (libgomp lets an
  explicit spin count win over the policy). The runtime reads them when it loads, so
  :func:`configure_openmp` runs when ``bench`` is imported (the CLI and the Python API import it
  before torch); a value the user set is kept. Whether two threads or one train faster is then
  measured while training (:mod:`bench.evaluation.threadtune`).
* **Too many threads.** torch starts one thread per physical core of the machine, whatever share
  of it the process may use: a Slurm job given 4 CPUs of a 64-core node, or a container with a CPU
  quota, runs 32-64 threads on 4 CPUs' worth of time. :func:`usable_cpus` counts the CPUs of the
  affinity mask, capped by the cgroup's CPU quota (v2 ``cpu.max``, v1 ``cpu.cfs_quota_us``), and
  is the default thread count (``OMP_NUM_THREADS``, torch's threads, the decode workers).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import MutableMapping

#: environment variables set (when the user has not set them) before OpenMP loads
OPENMP_DEFAULTS = {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "3000", "KMP_BLOCKTIME": "0"}


def affinity_cpus() -> int:
    """CPUs in this process's affinity mask (``os.cpu_count()`` where there is no mask)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def cgroup_cpu_limit(proc: Path = Path("/proc/self"), root: Path = Path("/")) -> float | None:
    """The CPU quota of this process's cgroups in CPUs (``1.5`` = 150 ms per 100 ms), or ``None``.

    Reads cgroup v2 ``cpu.max`` and cgroup v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` of the
    process's cgroup and of every cgroup above it (a parent's quota binds too) and returns the
    smallest. ``proc`` and ``root`` are parameters so that tests can point at a made-up tree.

    Parameters
    ----------
    proc : Path
        The ``/proc/<pid>`` folder (``cgroup`` and ``mountinfo`` are read from it).
    root : Path
        Prefix joined to mount points (``/`` on a real system).

    Returns
    -------
    float or None
        ``None`` when no quota is set or the files cannot be read.
    """
    try:
        memberships = (proc / "cgroup").read_text().splitlines()
        mounts = (proc / "mountinfo").read_text().splitlines()
    except OSError:
        return None
    limits: list[float] = []
    for line in memberships:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        version = 2 if controllers == "" else 1
        if version == 1 and "cpu" not in controllers.split(","):
            continue
        for mount_root, mount_point in _cgroup_mounts(mounts, version):
            base = root / mount_point.lstrip("/")
            rel = os.path.relpath(path, mount_root) if path.startswith(mount_root) else "."
            folder = (base / rel).resolve() if rel != "." else base
            if not folder.is_dir():
                folder = base  # a cgroup namespace: the mount's root is our cgroup
            limit = _walk_up(folder, base, version)
            if limit is not None:
                limits.append(limit)
    return min(limits) if limits else None


def _cgroup_mounts(mountinfo: list[str], version: int) -> list[tuple[str, str]]:
    """(root inside the hierarchy, mount point) of each cgroup mount of a version (v1: the one
    carrying the ``cpu`` controller)."""
    out = []
    for line in mountinfo:
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or not tail:
            continue
        fstype = tail[0]
        if version == 2 and fstype == "cgroup2":
            out.append((fields[3], fields[4]))
        elif version == 1 and fstype == "cgroup":
            options = tail[2].split(",") if len(tail) > 2 else []
            if "cpu" in options:
                out.append((fields[3], fields[4]))
    return out


def _walk_up(folder: Path, stop: Path, version: int) -> float | None:
    """The smallest quota from ``folder`` up to ``stop`` (inclusive)."""
    best: float | None = None
    current = folder
    while True:
        limit = _read_limit(current, version)
        if limit is not None:
            best = limit if best is None else min(best, limit)
        if current == stop or current.parent == current or stop not in current.parents:
            return best
        current = current.parent


def _read_limit(folder: Path, version: int) -> float | None:
    try:
        if version == 2:
            quota, _, period = (folder / "cpu.max").read_text().strip().partition(" ")
            if quota == "max":
                return None
            q, p = int(quota), int(period or 100000)
        else:
            q = int((folder / "cpu.cfs_quota_us").read_text().strip())
            p = int((folder / "cpu.cfs_period_us").read_text().strip())
    except (OSError, ValueError):
        return None
    if q <= 0 or p <= 0:  # v1 writes -1 for "no quota"
        return None
    return q / p


def usable_cpus() -> int:
    """CPUs this process may use: the affinity mask, capped by the cgroup quota (rounded up,
    so a 1.5-CPU quota gives 2 threads), at least 1."""
    n = affinity_cpus()
    limit = cgroup_cpu_limit()
    if limit is not None:
        n = min(n, max(1, math.ceil(limit - 1e-9)))
    return max(1, n)


def configure_openmp(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Set the OpenMP wait policy and default thread count where the user has not.

    Call before torch (or anything else that loads an OpenMP runtime) is imported; ``bench``'s
    ``__init__`` does. Values already in the environment win.

    Parameters
    ----------
    environ : mapping, optional
        Where to set them (default ``os.environ``).

    Returns
    -------
    dict
        The variables this call set.
    """
    env = os.environ if environ is None else environ
    wanted = dict(OPENMP_DEFAULTS)
    if "OMP_WAIT_POLICY" in env:  # libgomp lets a spin count win over the user's own policy
        del wanted["GOMP_SPINCOUNT"]
    wanted["OMP_NUM_THREADS"] = str(usable_cpus())
    done = {}
    for key, value in wanted.items():
        if key not in env:
            env[key] = value
            done[key] = value
    return done


def default_threads(threads: int | None = None) -> int:
    """The thread count to use: ``threads`` when given (``--threads``), else
    ``OMP_NUM_THREADS`` (the user's, or the one :func:`configure_openmp` set), else
    :func:`usable_cpus`."""
    if threads is not None:
        return threads
    first = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if first.isdigit() and int(first) > 0:
        return int(first)
    return usable_cpus()

"""The CPUs a process may use (affinity, cgroup v1/v2 quotas) and the OpenMP settings made
before torch loads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.util import cpus


def _fake_system(tmp: Path, cgroup: str, mountinfo: list[str], files: dict[str, str]) -> Path:
    proc = tmp / "proc"
    proc.mkdir()
    (proc / "cgroup").write_text(cgroup)
    (proc / "mountinfo").write_text("\n".join(mountinfo) + "\n")
    for rel, text in files.items():
        f = tmp / rel.lstrip("/")
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
    return proc


V2_MOUNT = "30 25 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate"


def test_cgroup_v2_quota_of_the_process_and_of_its_parents(tmp_path):
    proc = _fake_system(tmp_path, "0::/user.slice/job42/step0\n", [V2_MOUNT], {
        "/sys/fs/cgroup/cpu.max": "max 100000\n",
        "/sys/fs/cgroup/user.slice/job42/cpu.max": "250000 100000\n",   # 2.5 CPUs binds
        "/sys/fs/cgroup/user.slice/job42/step0/cpu.max": "max 100000\n",
    })
    assert cpus.cgroup_cpu_limit(proc, tmp_path) == pytest.approx(2.5)


def test_cgroup_v2_without_quota_and_inside_a_namespace(tmp_path):
    proc = _fake_system(tmp_path, "0::/\n", [V2_MOUNT], {"/sys/fs/cgroup/cpu.max": "max 100000"})
    assert cpus.cgroup_cpu_limit(proc, tmp_path) is None
    # a container sees its own cgroup as "/" and the quota at the mount point
    other = tmp_path / "ns"
    other.mkdir()
    proc = _fake_system(other, "0::/\n", [V2_MOUNT], {"/sys/fs/cgroup/cpu.max": "50000 100000"})
    assert cpus.cgroup_cpu_limit(proc, other) == pytest.approx(0.5)


def test_cgroup_v1_cfs_quota(tmp_path):
    mounts = ["33 25 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct",
              "34 25 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory"]
    proc = _fake_system(tmp_path, "4:memory:/slurm/job7\n3:cpu,cpuacct:/slurm/job7\n", mounts, {
        "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "-1",
        "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000",
        "/sys/fs/cgroup/cpu,cpuacct/slurm/job7/cpu.cfs_quota_us": "300000",
        "/sys/fs/cgroup/cpu,cpuacct/slurm/job7/cpu.cfs_period_us": "100000",
        "/sys/fs/cgroup/memory/slurm/job7/cpu.cfs_quota_us": "100000",  # not the cpu controller
    })
    assert cpus.cgroup_cpu_limit(proc, tmp_path) == pytest.approx(3.0)


def test_unreadable_cgroup_files_mean_no_limit(tmp_path):
    assert cpus.cgroup_cpu_limit(tmp_path / "nothing", tmp_path) is None


def test_usable_cpus_is_the_affinity_capped_by_the_quota_rounded_up(monkeypatch):
    monkeypatch.setattr(cpus, "affinity_cpus", lambda: 16)
    monkeypatch.setattr(cpus, "cgroup_cpu_limit", lambda: 2.5)
    assert cpus.usable_cpus() == 3
    monkeypatch.setattr(cpus, "cgroup_cpu_limit", lambda: 0.2)
    assert cpus.usable_cpus() == 1
    monkeypatch.setattr(cpus, "cgroup_cpu_limit", lambda: None)
    assert cpus.usable_cpus() == 16
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert cpus.default_threads(5) == 5 and cpus.default_threads(None) == 16
    monkeypatch.setenv("OMP_NUM_THREADS", "3,1")  # the user's (outer level of a nested list)
    assert cpus.default_threads(None) == 3 and cpus.default_threads(2) == 2


def test_configure_openmp_keeps_what_the_user_set(monkeypatch):
    monkeypatch.setattr(cpus, "usable_cpus", lambda: 3)
    env = {"OMP_WAIT_POLICY": "ACTIVE"}
    done = cpus.configure_openmp(env)
    # no spin count either: libgomp would let it win over the user's policy
    assert env == {"OMP_WAIT_POLICY": "ACTIVE", "KMP_BLOCKTIME": "0", "OMP_NUM_THREADS": "3"}
    assert done == {"KMP_BLOCKTIME": "0", "OMP_NUM_THREADS": "3"}
    env = {"GOMP_SPINCOUNT": "10"}
    assert cpus.configure_openmp(env) == {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0",
                                          "OMP_NUM_THREADS": "3"}
    assert env["GOMP_SPINCOUNT"] == "10"
    env = {}
    cpus.configure_openmp(env)
    assert env == {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "3000", "KMP_BLOCKTIME": "0",
                   "OMP_NUM_THREADS": "3"}


def _child(code: str, env: dict[str, str], affinity: set[int] | None = None) -> str:
    clean = {k: v for k, v in os.environ.items()
             if k not in (*cpus.OPENMP_DEFAULTS, "OMP_NUM_THREADS")}
    clean.update(env)
    pre = (lambda: os.sched_setaffinity(0, affinity)) if affinity else None
    return subprocess.run([sys.executable, "-c", code], env=clean, capture_output=True, text=True,
                          check=True, preexec_fn=pre).stdout.strip()


CHILD = ("import bench, os, torch; print(os.environ['OMP_WAIT_POLICY'], "
         "os.environ.get('GOMP_SPINCOUNT'), os.environ['OMP_NUM_THREADS'], "
         "torch.get_num_threads())")


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no affinity masks here")
def test_importing_bench_sets_the_wait_policy_and_threads_before_torch():
    first = sorted(os.sched_getaffinity(0))[0]
    assert _child(CHILD, {}, affinity={first}) == "PASSIVE 3000 1 1"
    # the user's choice wins
    assert _child(CHILD, {"OMP_WAIT_POLICY": "ACTIVE", "OMP_NUM_THREADS": "2"},
                  affinity={first}) == "ACTIVE None 2 2"

"""The Dask clusters ``bench sweep --executor`` starts: worker processes here, or batch jobs.

``dask:N``: N worker processes under nannies (a worker that dies is restarted), one task at a
time each. With a cuda device each worker sees one GPU (``CUDA_VISIBLE_DEVICES``, round robin)
and declares a ``GPU`` resource, so a multi-GPU workstation runs one worker per GPU.

``slurm``/``pbs``: dask-jobqueue's ``SLURMCluster``/``PBSCluster`` from the study file's
``dask.slurm``/``dask.pbs`` mapping (its keyword arguments: cores, memory, walltime, account,
queue, job_extra_directives, ...; anything left out comes from Dask's own jobqueue config),
scaled to ``workers`` jobs. ``gpus: 1`` asks each job for a GPU (Slurm: ``--gres=gpu:1``; PBS:
write the site's resource line in ``resource_spec``) and tags its worker with it.

Start-up: a batch executor needs its submit command (``sbatch``, ``qsub``) on this machine's
PATH, checked before anything is planned; and every executor waits for its first worker at most
``startup_timeout`` seconds (``--startup-timeout``, the study's ``dask.startup_timeout``, else
:data:`bench.studies.executor.STARTUP_TIMEOUT_S`), then fails with one line that names what did
not arrive, instead of a progress bar at 0 for ever.
"""

from __future__ import annotations

import logging
import shutil
from typing import Any, Callable

from bench.errors import ClusterError, ConfigError
from bench.studies.executor import Executor
from bench.studies.study import Study
from bench.studies.worker_setup import PRELOAD, quiet_resource_tracker

#: the command each batch system submits jobs with (what dask-jobqueue runs)
SUBMIT_COMMANDS = {"slurm": "sbatch", "pbs": "qsub"}


def check_submit_command(executor: Executor) -> None:
    """A :class:`ClusterError` at once when ``executor`` submits batch jobs with a command this
    machine lacks (``--executor slurm`` where Slurm is not installed)."""
    command = SUBMIT_COMMANDS.get(executor.kind)
    if command is not None and shutil.which(command) is None:
        raise ClusterError(f"--executor {executor.kind}: {command} not found on PATH, so no "
                           f"{executor.kind.upper() if executor.kind == 'pbs' else 'Slurm'} "
                           "job can be submitted from this machine",
                           hint=f"run the sweep on a login node of the cluster (where {command} "
                                "works), or here with --executor dask:N")


def start_client(executor: Executor, study: Study, log: Callable[[str], None] | None = None):
    """A Dask client for ``executor`` with at least one worker, and the cluster it started
    (``None`` for a scheduler's address); everything started is closed again on failure.

    Raises
    ------
    ClusterError
        The submit command is missing, the scheduler does not answer, or no worker arrived
        within the start-up timeout.
    """
    from distributed import Client

    check_submit_command(executor)
    timeout = study.dask.startup_wait(executor)
    client = cluster = None
    try:
        if executor.kind == "address":
            try:
                client = Client(executor.address, timeout=f"{timeout}s")
            except (OSError, TimeoutError) as exc:
                raise ClusterError(f"no Dask scheduler answered at {executor.address} within "
                                   f"{timeout:g} s ({type(exc).__name__})",
                                   hint="start it (dask scheduler), check the address and "
                                        "port, or raise --startup-timeout") from None
        else:
            cluster = make_cluster(executor, study)
            client = Client(cluster)
        if not client.scheduler_info().get("workers"):
            (log or (lambda m: None))(f"waiting up to {timeout:g} s for the first worker of "
                                      f"{executor.describe()}")
        wait_for_worker(client, executor, timeout)
    except BaseException:
        for thing in (client, cluster):
            if thing is not None:
                try:
                    thing.close()
                except Exception:  # noqa: BLE001 - the first error is the one to report
                    pass
        raise
    return client, cluster


def wait_for_worker(client: Any, executor: Executor, timeout: float) -> None:
    """Return when the scheduler has a worker; a :class:`ClusterError` naming what did not
    arrive after ``timeout`` seconds."""
    try:
        client.wait_for_workers(1, timeout=timeout)
        return
    except (TimeoutError, OSError):
        pass
    knob = "raise dask.startup_timeout in the study file (or --startup-timeout)"
    if executor.kind == "address":
        raise ClusterError(f"the Dask scheduler at {executor.address} has no worker: none "
                           f"joined within {timeout:g} s",
                           hint=f"start workers with `dask worker {executor.address}`, or {knob}")
    if executor.kind == "dask":
        raise ClusterError(f"no local Dask worker process started within {timeout:g} s",
                           hint=f"see the workers' messages above; on a busy machine {knob}")
    command = SUBMIT_COMMANDS[executor.kind]
    status = "squeue -u $USER" if executor.kind == "slurm" else "qstat -u $USER"
    raise ClusterError(f"no {executor.kind} job became a Dask worker within {timeout:g} s "
                       f"(jobs were submitted with {command}; none started, or their workers "
                       "could not reach this scheduler)",
                       hint=f"check {status} and the jobs' output files (the Python environment "
                            f"on the compute nodes, job_script_prologue, interface); for a busy "
                            f"queue {knob}; the jobs were cancelled")


def make_cluster(executor: Executor, study: Study):
    """Start the cluster of ``executor`` (``dask`` or a batch kind) for ``study``."""
    settings = study.dask
    cuda = study.plan()[0].device.startswith("cuda")
    if executor.kind == "dask":
        gpus = gpu_count() if cuda else 0
        if cuda and not gpus:
            raise ConfigError("device cuda was asked for, but this machine has no usable GPU",
                              hint="use --device cpu, or run the workers on GPU hosts")
        return local_cluster(settings.worker_count(executor, gpus),
                             settings.threads_per_worker, gpus)
    cluster = jobqueue_cluster(executor.kind, settings.slurm if executor.kind == "slurm"
                               else settings.pbs, cuda)
    cluster.scale(jobs=settings.worker_count(executor))
    return cluster


def local_cluster(n_workers: int, threads: int, gpus: int = 0):
    """``n_workers`` processes on this machine; worker ``i`` sees GPU ``i % gpus`` if any."""
    import dask
    from distributed import Nanny, Scheduler, SpecCluster

    quiet_resource_tracker()

    # the workers ignore a terminal's Ctrl-C (the client stops them), besides the user's preloads
    preload = [*(dask.config.get("distributed.worker.preload") or []), PRELOAD]
    workers = {}
    for i in range(n_workers):
        env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        # warnings (a worker lost, a task rescheduled) still show; the start-up chatter not
        options: dict[str, Any] = {"nthreads": 1, "env": env, "silence_logs": logging.WARNING,
                                   "preload": preload}
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = str(i % gpus)
            options["resources"] = {"GPU": 1}
        workers[f"bench-{i}"] = {"cls": Nanny, "options": options}
    return SpecCluster(workers=workers, scheduler={"cls": Scheduler,
                                                   "options": {"dashboard_address": None}},
                       silence_logs=logging.WARNING, name="bench")


def jobqueue_cluster(kind: str, options: dict[str, Any], cuda: bool):
    """A dask-jobqueue cluster of ``kind`` (no job submitted until it is scaled)."""
    try:
        from dask_jobqueue import PBSCluster, SLURMCluster
    except ImportError as exc:
        raise ConfigError(f"--executor {kind} needs dask-jobqueue ({exc})",
                          hint="pip install 'bench-audio-embeddings[dask]'") from exc
    opts = dict(options)
    gpus = opts.pop("gpus", 1 if cuda else 0)
    if gpus not in (0, 1):
        raise ConfigError(f"dask.{kind}.gpus must be 0 or 1 (one worker per GPU, one GPU per "
                          f"job), found {gpus!r}", hint="ask for more jobs instead")
    opts.setdefault("processes", 1)
    if opts["processes"] != 1 and gpus:
        raise ConfigError(f"dask.{kind}: with gpus, each job runs one worker (processes: 1)")
    if gpus:
        if kind == "slurm":
            opts["job_extra_directives"] = [*opts.get("job_extra_directives", []),
                                            "--gres=gpu:1"]
        opts["worker_extra_args"] = [*opts.get("worker_extra_args", []), "--resources", "GPU=1"]
    cls = SLURMCluster if kind == "slurm" else PBSCluster
    try:
        return cls(**opts)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"dask.{kind}: {exc}",
                          hint="set cores and memory (and walltime, account, queue as your "
                               "site needs) under dask: " + kind + ": in the study file; see "
                               "docs/cluster.md") from exc


def gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0

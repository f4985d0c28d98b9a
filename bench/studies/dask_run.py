"""``bench sweep --executor dask:N|tcp://HOST:PORT|slurm|pbs``: the study graph as Dask futures.

The client plans the study and builds its graph (``bench.studies.dispatch``); here every unit
becomes one Dask task, submitted at once with the futures of the units it depends on as its
arguments, so the scheduler starts each when they are done. Task keys are the units' keys
(run ids and store keys), so a second client of the same scheduler shares the work instead of
repeating it.

Faults: a worker that dies (SIGKILL, a lost node) has its tasks run elsewhere by Dask; what it
had stored (embeddings, ``partial/`` records) is kept and not computed again, because each
unit starts by looking. A task that raises is retried ``dask.retries`` times. A killed client
is restarted by running the same command: everything finished is found on disk.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

from bench.errors import ConfigError
from bench.runs.graph import FINISH, Unit
from bench.runs.units import RunTicket, perform
from bench.studies.clusters import check_submit_command, start_client
from bench.studies.dispatch import Ended, run_sweep_units
from bench.studies.executor import Executor
from bench.studies.state import SweepResult
from bench.studies.study import Study
from bench.studies.worker_setup import quiet


class DaskUnits:
    """The units on a Dask client (:class:`~bench.studies.dispatch.UnitExecutor`)."""

    def __init__(self, executor: Executor, study: Study,
                 log: Callable[[str], None] | None = None):
        self.session = DaskSession(executor, study, log)
        self.retries = study.dask.retries
        self.client: Any = None
        self.threads = 1
        self.futures: dict[str, Any] = {}

    def __enter__(self) -> "DaskUnits":
        self.client, self.threads = self.session.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.session.__exit__(*exc)

    def run(self, units: list[Unit], tickets: list[RunTicket]) -> Iterator[Ended]:
        from distributed import as_completed

        by_key = {u.key: u for u in units}
        for u in units:
            ticket = tickets[u.run]
            self.futures[u.key] = self.client.submit(
                perform, u, ticket, [self.futures[d] for d in u.deps], self.threads, key=u.key,
                resources=None if u.kind == FINISH else _resources(ticket),
                retries=self.retries)
        for future in as_completed(list(self.futures.values())):
            if future.status == "finished":
                yield by_key[future.key], future.result(), None
            elif future.status != "cancelled":
                yield by_key[future.key], None, future.exception()

    def cancel(self) -> None:
        self.client.cancel(list(self.futures.values()))

    def status(self) -> str:
        try:
            processing = self.client.processing()
            return str(sum(1 for keys in processing.values() for k in keys
                           if k in self.futures))
        except Exception:  # noqa: BLE001 - a status line must never stop the sweep
            return "?"


def run_sweep_dask(study: Study, executor: Executor, **options: Any) -> SweepResult:
    """Run ``study`` on Dask workers; the same results as :func:`bench.studies.sweep.run_sweep`
    (options: those of :func:`bench.studies.dispatch.run_sweep_units`)."""
    require_dask(executor)
    return run_sweep_units(study, executor, DaskUnits, **options)


def _resources(ticket: RunTicket) -> dict[str, float] | None:
    """A GPU tag for units of a cuda run: a worker runs one such unit per GPU it declares."""
    return {"GPU": 1} if ticket.config.device.startswith("cuda") else None


class DaskSession:
    """A Dask client for ``executor`` (and the cluster it starts, closed on exit); yields
    ``(client, threads per worker)``."""

    def __init__(self, executor: Executor, study: Study,
                 log: Callable[[str], None] | None = None):
        self.executor, self.study, self.log = executor, study, log
        self.cluster = self.client = None

    def __enter__(self):
        require_dask(self.executor)
        self.client, self.cluster = start_client(self.executor, self.study, self.log)
        return self.client, self.study.dask.threads_per_worker

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
            # Ctrl-C: the cancelled tasks and the busy workers being stopped are the point
            # now; Dask's warnings about them would bury the one line that says what happened
            import logging

            quiet()
            if self.client is not None:
                try:
                    self.client.run(quiet)
                except Exception:  # noqa: BLE001 - only log levels: the close goes on
                    logging.getLogger(__name__).debug("workers not quietened", exc_info=True)
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()



def require_dask(executor: Executor) -> None:
    """Fail at once, saying what to install, when the dask extra is missing."""
    try:
        import distributed  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"--executor {executor.kind} needs Dask, which is not installed "
                          f"({exc})", hint="pip install 'bench-audio-embeddings[dask]'") from exc
    check_submit_command(executor)  # `slurm` without sbatch: now, not after the planning

"""MLflow tracking: log a finished run (its ``results.json``) as an MLflow parent run with one
nested run per (fold, repeat).

The results on disk are the record of truth; MLflow is a view of them for comparing runs side
by side. So logging happens after ``results.json`` is written, a tracking failure never loses a
run (it warns and names ``bench track RUN_DIR``), and logging the same run twice changes
nothing: the parent run carries bench's ``run_id`` and a digest of the results file as tags, and
an already-complete, identical record is found and left alone.

Store: ``--tracking-uri``, else ``MLFLOW_TRACKING_URI``, else a SQLite database in the results
directory (``<results dir>/mlflow.db``, artifacts in ``<results dir>/mlartifacts``), created on
first use. mlflow is imported only inside the functions that talk to it (it takes about a
second to import). See docs/tracking.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import tempfile
import time
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from bench.errors import BenchError, TrackingError
from bench.runs.record import STUDY_TAG  # a run tagged study=NAME goes to experiment NAME
from bench.runs.record import (PREDICTIONS_FILE, RESULTS_FILE, RunRecord, find_results,
                               read_results)
from bench.tracking.record import DIGEST_TAG, RUN_ID_TAG, RunPlan, confusion_figure, key, plan_runs
from bench.tracking.session import (artifact_root, check_server, is_server, mlflow_session,
                                    resolve_tracking_uri, sqlite_path)
from bench.tracking.sqlite_store import ensure_store, store_lock

#: set last, once everything (children, artifacts) is logged: an interrupted log is redone
COMPLETE_TAG = "bench.logged"

# MLflow 3's UI opens an experiment of unknown kind on its GenAI (traces) overview; this kind
# opens the runs table with params and metrics
_KIND_TAG, _KIND = "mlflow.experimentKind", "custom_model_development"
_MAX_PARAMS_PER_BATCH = 100
_MAX_METRICS_PER_BATCH = 1000


@dataclass(frozen=True)
class Logged:
    """Where a run went.

    Attributes
    ----------
    tracking_uri, experiment, experiment_id, mlflow_run_id : str
        The store, the experiment (name and id) and the parent MLflow run.
    status : {"logged", "unchanged", "replaced"}
        Newly logged; already there and identical (nothing done); or an earlier, different or
        incomplete copy was deleted and the run logged again.
    n_children : int
        Nested (fold, repeat) runs.
    seconds : float
        Wall time of the call.
    """

    tracking_uri: str
    experiment: str
    experiment_id: str
    mlflow_run_id: str
    status: str
    n_children: int
    seconds: float


def experiment_name(record: RunRecord, experiment: str | None = None) -> str:
    """``experiment`` if given, else the run's ``study`` tag, else ``bench-<dataset>``."""
    if experiment:
        return experiment
    study = record.run_tags.get(STUDY_TAG)
    if study:
        return str(study)
    return f"bench-{record.dataset_name}"


# -- how ----------------------------------------------------------------------------------------

def log_run(record: RunRecord, run_dir: Path, tracking_uri: str | None = None,
            experiment: str | None = None, *, strict: bool = False,
            results_dir: Path | None = None, log: Callable[[str], None] | None = None
            ) -> Logged | None:
    """Log one finished run to MLflow (idempotent).

    Parameters
    ----------
    record : RunRecord
        The run's results record, as written to ``run_dir/results.json``.
    run_dir : Path
        The run directory; its ``results.json`` and ``predictions.csv`` become artifacts.
    tracking_uri : str, optional
        The store; default ``MLFLOW_TRACKING_URI`` or SQLite in ``results_dir``.
    experiment : str, optional
        Experiment name; default the run's ``study`` tag, else ``bench-<dataset>``.
    strict : bool
        Raise :class:`TrackingError` on failure. Otherwise (a run's use) warn, naming
        ``bench track RUN_DIR``, and return ``None``: the results are on disk already.
    results_dir : Path, optional
        Where the default store lives; default the directory holding ``run_dir``.
    log : callable, optional
        Receives the warning of a failure when not ``strict``; without it the warning is a
        :class:`UserWarning` (:mod:`warnings`).

    Returns
    -------
    Logged or None
    """
    run_dir = Path(run_dir)
    uri = tracking_uri or "MLFLOW_TRACKING_URI"
    try:
        uri = resolve_tracking_uri(tracking_uri, results_dir if results_dir is not None
                                   else run_dir.resolve().parent)
        return _log_run(record, run_dir, uri, experiment_name(record, experiment), log)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - any tracking failure is reported the same way
        err = exc if isinstance(exc, TrackingError) else TrackingError(
            f"logging {run_dir} to MLflow at {uri} failed: {type(exc).__name__}: {exc}")
        if strict:
            raise err from exc
        msg = (f"the run is saved in {run_dir}, but MLflow tracking failed: {err.message}\n"
               f"  log it later with: bench track {run_dir}"
               + (f" --tracking-uri {uri}" if tracking_uri else ""))
        if log is not None:
            log(f"warning: {msg}")
        else:
            warnings.warn(msg, stacklevel=2)
        return None


def _log_run(record: RunRecord, run_dir: Path, uri: str, experiment: str,
             log: Callable[[str], None] | None = None) -> Logged:
    t0 = time.perf_counter()
    if is_server(uri):
        check_server(uri)  # fail in seconds, before paying for the mlflow import
    results_path = run_dir / RESULTS_FILE
    digest = _digest(record, results_path)
    with mlflow_session(uri):
        from mlflow.tracking import MlflowClient

        db = sqlite_path(uri)
        # one process at a time creates a SQLite store and logs a run into it
        with store_lock(db) if db is not None else contextlib.nullcontext():
            if db is not None:  # made whole in a temporary file, never half-made in place
                note = ensure_store(db, artifact_root(uri))
                if note:
                    if log is not None:
                        log(f"warning: {note}")
                    else:
                        warnings.warn(note, stacklevel=3)
            return _log_into(MlflowClient(tracking_uri=uri), record, run_dir, uri, experiment,
                             digest, t0)


def _log_into(client: Any, record: RunRecord, run_dir: Path, uri: str, experiment: str,
              digest: str, t0: float) -> Logged:
    """Log ``record`` through ``client`` unless an identical, complete copy is there."""
    from mlflow.entities import ViewType

    exp_id = _experiment_id(client, experiment, uri)
    found = client.search_runs(
        [exp_id], filter_string=f"tags.`{RUN_ID_TAG}` = '{_quote(record.run_id)}'",
        run_view_type=ViewType.ACTIVE_ONLY, max_results=50)
    for run in found:
        t = run.data.tags
        if t.get(DIGEST_TAG) == digest and t.get(COMPLETE_TAG) == "complete":
            return Logged(uri, experiment, exp_id, run.info.run_id, "unchanged",
                          int(t.get("bench.n_children", 0)), time.perf_counter() - t0)
    for run in found:  # an incomplete or outdated copy: replace it, children included
        _delete_with_children(client, exp_id, run.info.run_id)

    parent_plan, child_plans = plan_runs(record, digest, run_dir=str(run_dir.resolve()))
    start_ms = _created_ms(record)
    parent = client.create_run(exp_id, start_time=start_ms, tags=parent_plan.tags,
                               run_name=parent_plan.name)
    pid = parent.info.run_id
    try:
        _log_plan(client, pid, parent_plan)
        for cp in child_plans:
            child = client.create_run(exp_id, start_time=start_ms, run_name=cp.name,
                                      tags={**cp.tags, "mlflow.parentRunId": pid})
            _log_plan(client, child.info.run_id, cp)
            client.set_terminated(child.info.run_id, "FINISHED")
        _log_artifacts(client, pid, record, run_dir)
        client.set_tag(pid, "bench.n_children", str(len(child_plans)))
        client.set_tag(pid, COMPLETE_TAG, "complete")
        total_ms = int(1000 * float(record.timings.total_s or 0))
        client.set_terminated(pid, "FINISHED",
                              end_time=start_ms + total_ms if start_ms else None)
    except BaseException:
        with contextlib.suppress(Exception):
            client.set_terminated(pid, "FAILED")
        raise
    return Logged(uri, experiment, exp_id, pid, "replaced" if found else "logged",
                  len(child_plans), time.perf_counter() - t0)


def _experiment_id(client: Any, name: str, uri: str) -> str:
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        if exp.lifecycle_stage == "deleted":
            client.restore_experiment(exp.experiment_id)
        if exp.tags.get("bench.created_by") == "bench" and _KIND_TAG not in exp.tags:
            client.set_experiment_tag(exp.experiment_id, _KIND_TAG, _KIND)
        return exp.experiment_id
    root = artifact_root(uri)
    location = None
    if root is not None:
        root.mkdir(parents=True, exist_ok=True)
        location = (root / key(name).replace(" ", "_").replace("/", "_")).as_uri()
    try:
        return client.create_experiment(name, artifact_location=location,
                                        tags={"bench.created_by": "bench", _KIND_TAG: _KIND})
    except Exception:
        exp = client.get_experiment_by_name(name)  # another process created it meanwhile
        if exp is None:
            raise
        return exp.experiment_id


def _delete_with_children(client: Any, exp_id: str, run_id: str) -> None:
    from mlflow.entities import ViewType

    children = client.search_runs([exp_id], filter_string=f"tags.mlflow.parentRunId = '{run_id}'",
                                  run_view_type=ViewType.ACTIVE_ONLY, max_results=10000)
    for c in children:
        client.delete_run(c.info.run_id)
    client.delete_run(run_id)


def _log_plan(client: Any, run_id: str, plan: RunPlan) -> None:
    from mlflow.entities import Metric, Param

    ts = int(time.time() * 1000)
    metrics = [Metric(k, v, ts, 0) for k, v in plan.metrics.items()]
    for k, values in plan.series.items():
        metrics += [Metric(key(k), float(v), ts, i) for i, v in enumerate(values)
                    if isinstance(v, (int, float)) and math.isfinite(v)]
    params = [Param(k, v) for k, v in plan.params.items()]
    # one request per batch: MLflow caps a batch at 100 params and 1000 metrics
    while metrics or params:
        p, params = params[:_MAX_PARAMS_PER_BATCH], params[_MAX_PARAMS_PER_BATCH:]
        room = _MAX_METRICS_PER_BATCH - len(p)  # the cap counts params and metrics together
        m, metrics = metrics[:room], metrics[room:]
        client.log_batch(run_id, metrics=m, params=p)


def _log_artifacts(client: Any, run_id: str, record: RunRecord, run_dir: Path) -> None:
    for name in (RESULTS_FILE, PREDICTIONS_FILE):
        if (run_dir / name).is_file():
            client.log_artifact(run_id, str(run_dir / name))
    with tempfile.TemporaryDirectory(prefix="bench-track-") as tmp:
        fig = confusion_figure(record, Path(tmp) / "confusion_matrix.png")
        if fig is not None:
            client.log_artifact(run_id, str(fig))


def _digest(record: RunRecord, results_path: Path) -> str:
    if results_path.is_file():
        return hashlib.sha256(results_path.read_bytes()).hexdigest()
    return hashlib.sha256(json.dumps(record.to_dict(), sort_keys=True, default=str).encode()
                          ).hexdigest()


def _created_ms(record: RunRecord) -> int | None:
    try:
        return int(datetime.fromisoformat(str(record.created)).timestamp() * 1000)
    except ValueError:
        return None


def _quote(s: Any) -> str:
    return str(s).replace("\\", "\\\\").replace("'", "\\'")


def track_paths(paths: list[Path], tracking_uri: str | None = None,
                experiment: str | None = None) -> list[tuple[Path, Logged | TrackingError]]:
    """Log every finished run under ``paths`` (run directories, results files, or folders of
    runs); one failure does not stop the others. Returns ``(run_dir, Logged or error)`` pairs."""
    if tracking_uri or os.environ.get("MLFLOW_TRACKING_URI"):
        resolve_tracking_uri(tracking_uri)  # an unusable store fails once, before any run
    out: list[tuple[Path, Logged | TrackingError]] = []
    for results_path in find_results(paths):
        run_dir = results_path.parent
        try:
            record = read_results(results_path)
            logged = log_run(record, run_dir, tracking_uri, experiment, strict=True)
        except BenchError as exc:
            err = exc if isinstance(exc, TrackingError) else TrackingError(str(exc))
            out.append((run_dir, err))
            continue
        out.append((run_dir, logged))
    return out

"""``bench track`` (log finished runs to MLflow) and ``bench ui`` (serve the MLflow UI)."""

from __future__ import annotations

from pathlib import Path

import click

from bench.cli.options import Number
from bench.errors import TrackingError
from bench.tracking.logger import track_paths
from bench.tracking.session import resolve_tracking_uri
from bench.tracking.ui import serve

_URI_HELP = ("MLflow tracking URI (a server http://HOST:PORT or a database such as "
             "sqlite:///PATH); default MLFLOW_TRACKING_URI, else SQLite in the results directory")


@click.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--tracking-uri", default=None, help=_URI_HELP)
@click.option("--experiment", default=None,
              help="Experiment name; default the run's study tag, else bench-<dataset>.")
def track(results: tuple[Path, ...], tracking_uri: str | None, experiment: str | None) -> None:
    """Log finished runs (run directories, results.json files, or folders of runs) to MLflow.

    Logging is idempotent: a run already logged with the same results is left alone, a rerun
    replaces its older copy. Without --tracking-uri each run goes to the default store of the
    results directory that holds it.
    """
    outcome = track_paths(list(results), tracking_uri, experiment)
    failed = 0
    for run_dir, res in outcome:
        if isinstance(res, TrackingError):
            failed += 1
            click.secho(f"failed     {run_dir}: {res}", fg="red", err=True)
        else:
            click.echo(f"{res.status:<10} {run_dir} -> {res.experiment} / {res.mlflow_run_id} "
                       f"({res.n_children} nested runs, {res.seconds:.1f} s)")
    if outcome and not failed:
        click.echo(f"store: {outcome[0][1].tracking_uri}")
    if failed:
        raise TrackingError(f"{failed} of {len(outcome)} run(s) could not be logged",
                            hint="check that the store answers, then run the same command again")


@click.command()
@click.option("--port", default=5000, show_default=True, type=Number("port"),
              help="Port on 127.0.0.1 (0 picks a free one).")
@click.option("--tracking-uri", default=None, help=_URI_HELP)
@click.option("--results-dir", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="Results directory whose default store to serve (default BENCH_RESULTS_DIR "
                   "or ./results/runs).")
def ui(port: int, tracking_uri: str | None, results_dir: Path | None) -> None:
    """Serve the MLflow UI for the tracking store on 127.0.0.1 (Ctrl-C stops it)."""
    raise SystemExit(serve(resolve_tracking_uri(tracking_uri, results_dir), port=port,
                           log=click.echo))

"""`bench run` and `bench embed`: :func:`bench.api.evaluate` and :func:`bench.api.embed`."""

from __future__ import annotations

from pathlib import Path

import click

from bench import api
from bench.cli.options import echo_err, pass_opts, protocol_options, run_options, run_settings
from bench.runs.config import parse_tags
from bench.runs.record import format_summary


@click.command()
@run_options
@protocol_options
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Results root; the run gets its own directory in it "
                   "[env BENCH_RESULTS_DIR; default results/runs].")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE",
              help="Label stored with the result (repeatable), e.g. train_samples=13e6.")
@click.option("--rerun", is_flag=True, help="Recompute even if this run's results exist.")
@click.option("--tracking-uri", default=None, envvar="MLFLOW_TRACKING_URI",
              help="MLflow tracking store [default: SQLite under the results root].")
@click.option("--no-tracking", is_flag=True, help="Do not log to MLflow.")
@pass_opts
def run(opts: dict) -> None:
    """Evaluate one embedder on one dataset with the paper's protocol.

    \b
    Examples:
        bench run --embedder mfcc --dataset synth
        bench run -e l3-m256-music -d esc50 --protocol l3embedding --repeats 5
    """
    record = api.evaluate(opts["embedder"], opts["dataset"], protocol=opts["protocol"],
                          progress=not opts["quiet"], log=echo_err, **run_settings(opts),
                          tags=parse_tags(opts["tags"]), rerun=opts["rerun"],
                          tracking=not opts["no_tracking"], tracking_uri=opts["tracking_uri"])
    click.echo(format_summary(record))
    click.echo(f"results: {record.path}")


@click.command()
@run_options
@pass_opts
def embed(opts: dict) -> None:
    """Compute embeddings into the store only (what `bench run` would reuse)."""
    report = api.embed(opts["embedder"], opts["dataset"], progress=not opts["quiet"],
                       **run_settings(opts))
    click.echo(f"{report.n_clips} clips: {report.n_cached} already stored, {report.n_computed} "
               f"computed" + (f" at {report.windows_per_s:.1f} windows/s" if report.n_computed
                              else "") + (f", {len(report.skipped)} skipped" if report.skipped
                                          else ""))
    for s in report.skipped:
        click.echo(f"  skipped {s['path']}: {s['reason']}")

"""``bench sweep``: a whole study (embedders x datasets x protocols x seeds), resumable."""

from __future__ import annotations

from pathlib import Path

import click

from bench.cli.options import Number, dir_option, precision_option
from bench.errors import BenchError, ConfigError
from bench.studies.estimate import estimate, format_estimate
from bench.studies.executor import STARTUP_TIMEOUT_S, parse_executor
from bench.studies.launch import run_study
from bench.studies.study import load_study, study_preset
from bench.studies.sweep import format_study_summary
from bench.studies.walltime import format_dask_estimate


@click.command()
@click.argument("study_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--preset", type=click.Choice(["paper"]), default=None,
              help="A built-in study: paper = the 6 L3 variants, VGGish and SoundNet on ESC-50, "
                   "UrbanSound8K and DCASE 2013 with each dataset's repeats.")
@click.option("--dry-run", is_flag=True,
              help="Print the plan, what is done, and the compute it needs; run nothing.")
@click.option("--keep-going", is_flag=True,
              help="Record a failing run and go on with the others (exit 2 at the end).")
@click.option("--gflops", type=Number("gflops"), default=None,
              help="Per-core (or, with --device cuda, per-GPU) GFLOP/s for the --dry-run "
                   "estimate [default: measured on this CPU].")
@click.option("--executor", default="local", show_default=True,
              help="local (one run after another, here), processes:N (a pool of N processes "
                   "here), dask:N (N Dask worker processes here), tcp://HOST:PORT (a running "
                   "Dask scheduler), slurm[:N] or pbs[:N] (N batch jobs; settings: the study's "
                   "dask: section; these need the dask extra). docs/cluster.md")
@click.option("--startup-timeout", type=Number("startup_timeout"), default=None,
              metavar="SECONDS",
              help="Wait at most this long for the first Dask worker, then fail naming what "
                   "did not arrive [study's dask.startup_timeout, else "
                   + ", ".join(f"{k} {v:g}" for k, v in STARTUP_TIMEOUT_S.items()) + "].")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Results root [study out_dir, env BENCH_RESULTS_DIR, results/runs].")
@dir_option("data", default="the study's, else a user cache dir")
@dir_option("embeddings", default="the study's, else a user cache dir")
@dir_option("weights", default="the study's, else a user cache dir")
@click.option("--device", default=None, help="cpu, cuda or cuda:N [study's, else cpu].")
@precision_option(default=None)
@click.option("--tracking-uri", default=None, envvar="MLFLOW_TRACKING_URI",
              help="MLflow store [default: SQLite under the results root].")
@click.option("--no-tracking", is_flag=True, help="Do not log to MLflow.")
@click.option("--no-report", is_flag=True, help="Skip the study report at the end.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def sweep(study_file, preset, dry_run, keep_going, gflops, executor, startup_timeout, out,
          data_dir, cache_dir, weights_dir, device, precision, tracking_uri, no_tracking,
          no_report, quiet) -> None:
    """Run every run of a study (STUDY_FILE, YAML) or of --preset paper.

    A finished run is not redone and a killed sweep continues where it stopped: run the same
    command again. The study's summary, state (sweep.json) and report go to
    <results root>/studies/<name>/. YAML format: docs/tracking.md.

    \b
    Examples:
        bench sweep examples/study-small.yaml --dry-run
        bench sweep --preset paper --dry-run
        bench sweep examples/study-small.yaml --keep-going
        bench sweep examples/study-small.yaml --executor dask:4
    """
    if (study_file is None) == (preset is None):
        raise ConfigError("give a study file or --preset, not both and not neither",
                          hint="e.g. bench sweep examples/study-small.yaml, or "
                               "bench sweep --preset paper")
    where = parse_executor(executor, startup_timeout)
    study = load_study(study_file) if study_file else study_preset(preset)
    study = study.with_run(out_dir=out, data_dir=data_dir, cache_dir=cache_dir,
                           weights_dir=weights_dir, device=device, precision=precision,
                           tracking_uri=tracking_uri,
                           tracking=False if no_tracking else None)
    if dry_run:
        study.check_names()
        est = estimate(study, gflops)
        click.echo(format_estimate(study, est))
        if where.distributed:
            click.echo("\n" + format_dask_estimate(study, est, where))
        return
    result = run_study(study, where, keep_going=keep_going, progress=not quiet,
                       report=not no_report,
                       log=lambda m: click.echo(m, err=True))
    click.echo(format_study_summary(result))
    if result.failed:
        raise BenchError(f"{len(result.failed)} of {len(result.outcomes)} runs failed "
                         "(see the table above and sweep.json)",
                         hint="fix the cause and run the same command again: finished runs "
                              "are kept")

"""``bench stats``, ``bench plot``, ``bench report``, ``bench check``: analysis across runs.

Options are parsed here into one config object each; runs are loaded and compared through the
Python API (:func:`bench.api.load_runs`, :func:`bench.api.compare`), and figures, reports,
checks and explanations come from bench.analysis.plots, report, check and explain. This module
loads only when one of these commands runs (``bench --help`` does not import it); the heavy
libraries load inside the functions that use them. The comparison settings, their choices and
defaults come from bench.analysis.factors.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bench import api
from bench.analysis.against import check_against
from bench.analysis.check import format_check, load_reference
from bench.analysis.check import check as run_check
from bench.analysis.check_metrics import parse_tolerances
from bench.analysis.ci_report import format_against, write_outputs
from bench.analysis.explain import format_explanations, write_explain
from bench.analysis.factors import (COMPARE_MODES, FACTOR_NAMES, PAPER_L3_VARIANT,
                                    WILCOXON_METHODS, StatsConfig)
from bench.analysis.plots import plot as make
from bench.analysis.report import ReportConfig, write_report
from bench.analysis.stats_format import format_result
from bench.cli.options import Number
from bench.errors import ConfigError, ProtocolError
from bench.io.fileio import atomic_write_text
from bench.util.paths import default_dir

_DEFAULTS = StatsConfig()
RESULTS_ARG = click.argument("results", nargs=-1, required=True,
                             type=click.Path(exists=True, path_type=Path))
L3_VARIANT = click.option("--l3-variant", default=PAPER_L3_VARIANT, show_default=True,
                          help="The L3 variant that stands for L3 in the embedding-type "
                               "comparison and Figure 5; 'all' keeps every variant.")


def _stats_options(f):
    f = click.option("--seed", default=_DEFAULTS.seed, show_default=True, type=Number("seed"),
                     help="Seed of the bootstrap CIs.")(f)
    f = click.option("--n-boot", default=_DEFAULTS.n_boot, show_default=True,
                     type=Number("n_boot"),
                     help="Bootstrap resamples per CI.")(f)
    f = click.option("--ci", "ci_level", default=_DEFAULTS.ci_level, show_default=True,
                     type=Number("ci_level"), help="Coverage of the bootstrap CIs.")(f)
    f = click.option("--method", type=click.Choice(WILCOXON_METHODS), default=_DEFAULTS.method,
                     show_default=True,
                     help="scipy's Wilcoxon method; 'approx' = the normal approximation the "
                          "paper's scipy used.")(f)
    f = click.option("--alpha", default=_DEFAULTS.alpha, show_default=True,
                     type=Number("alpha"),
                     help="Significance level.")(f)
    f = L3_VARIANT(f)
    return f


def _reference(spec: str | None):
    if spec is None or spec == "none":
        return None
    return load_reference(spec)


def _load(paths):
    return api.load_runs(paths)


def _variant(name: str) -> str | None:
    return None if name == "all" else name


@click.command()
@RESULTS_ARG
@click.option("--compare", type=click.Choice(COMPARE_MODES), default=_DEFAULTS.compare,
              show_default=True,
              help="factors: the paper's design-factor comparisons (pooled over the other "
                   "factors); runs: every pair of runs on one dataset.")
@click.option("--factor", "factors", multiple=True,
              type=click.Choice(FACTOR_NAMES),
              help="Factor(s) to test (repeatable; default: all that the runs vary).")
@_stats_options
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of stdout.")
def stats(results, compare, factors, l3_variant, alpha, method, ci_level, n_boot, seed, fmt,
          output):
    """Paired Wilcoxon tests between runs (RESULTS: run directories or results.json files).

    \b
    bench stats results/runs/                      the paper's factor comparisons
    bench stats RUN_A RUN_B --compare runs         one run against another
    bench stats results/runs/ --format csv -o stats.csv
    """
    cfg = StatsConfig(compare=compare, factors=tuple(factors) or FACTOR_NAMES,
                      l3_variant=_variant(l3_variant), alpha=alpha, method=method,
                      n_boot=n_boot, ci_level=ci_level, seed=seed)
    result = api.compare(_load(results), cfg)  # the option `compare` shadows the name
    if not result.comparisons:
        why = "; ".join(result.skipped) or ("each dataset needs runs of at least two embedders "
                                           "(or two levels of an L3 design factor)")
        raise ProtocolError(f"no comparison could be made: {why}",
                            hint="pass more runs, or --compare runs for run-vs-run tests")
    text = format_result(result, fmt)
    if output:
        atomic_write_text(output, text if text.endswith("\n") else text + "\n")
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text.rstrip("\n"))


@click.command()
@click.option("--figure", "figures", multiple=True, required=True,
              type=click.Choice(["2", "3", "4", "5", "all"]),
              help="Figure number (repeatable) or 'all'.")
@RESULTS_ARG
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (default: <results dir>/figures).")
@click.option("--reference", default="paper", show_default=True,
              help="Reference values to mark: 'paper', a CSV, a results file, or 'none'.")
@L3_VARIANT
@click.option("--format", "formats", multiple=True, type=click.Choice(["png", "pdf", "svg"]),
              help="File format(s) (repeatable; default png and pdf).")
def plot(figures, results, out_dir, reference, l3_variant, formats):
    """Figure 2-5 style plots: one panel per dataset, (fold, repeat) points, box and mean.

    \b
    2: accuracy vs input representation     3: vs training subset
    4: vs samples used to train the embedding (runs tagged train_samples=N)
    5: embedding type (L3 vs VGGish vs SoundNet; other embedders as their own category)
    """
    numbers = [2, 3, 4, 5] if "all" in figures else sorted({int(f) for f in figures})
    out_dir = out_dir or default_dir("results") / "figures"
    records = _load(results)
    ref = _reference(reference)
    made = 0
    for n in numbers:
        try:
            paths, fd = make(records, n, out_dir, reference=ref, l3_variant=_variant(l3_variant),
                             formats=formats or ("png", "pdf"))
        except ProtocolError as exc:
            if len(numbers) == 1:
                raise
            click.echo(f"figure {n}: not drawn: {exc.message}", err=True)
            continue
        made += 1
        for note in fd.notes:
            click.echo(f"figure {n}: note: {note}", err=True)
        for p in paths:
            click.echo(str(p))
    if not made:
        raise ProtocolError("none of the figures asked for could be drawn from these runs")


@click.command()
@RESULTS_ARG
@click.option("--reference", default="paper", show_default=True,
              help="'paper', a CSV like the paper's reference.csv, a results file, or 'none'.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (default: <results dir>/report).")
@click.option("--title", default="bench report", show_default=True)
@click.option("--figure", "figures", multiple=True, type=click.Choice(["2", "3", "4", "5"]),
              help="Figures to include (repeatable; default: every one the runs allow).")
@click.option("--explain", "explain_only", is_flag=True,
              help="Instead: one embedder under several protocols, why the numbers differ "
                   "(as `bench explain`).")
@_stats_options
def report(results, reference, out_dir, title, figures, explain_only, l3_variant, alpha, method,
           ci_level, n_boot, seed):
    """Markdown and self-contained HTML report: Table 2 vs the reference, paired tests, figures,
    and the protocol and environment of each run."""
    if explain_only:
        _explain(results, out_dir or default_dir("results") / "explain", method)
        return
    cfg = ReportConfig(out_dir=out_dir or default_dir("results") / "report",
                       figures=tuple(sorted({int(f) for f in figures})) or (2, 3, 4, 5),
                       stats=StatsConfig(l3_variant=_variant(l3_variant), alpha=alpha,
                                         method=method, n_boot=n_boot, ci_level=ci_level,
                                         seed=seed),
                       title=title)
    paths = write_report(_load(results), _reference(reference), cfg)
    for kind, p in paths.items():
        click.echo(f"{kind}: {p}")


@click.command()
@RESULTS_ARG
@click.option("--reference", default=None,
              help="'paper', a CSV like the paper's reference.csv (percent), or a results.json "
                   "/ run directory (then per-fold values are checked too).")
@click.option("--against", "against", default=None,
              type=click.Path(exists=True, path_type=Path),
              help="A previous results folder (e.g. main's): runs are paired by protocol "
                   "fingerprint, embedder identity, dataset content and seed; a run whose "
                   "identity changed is 'not comparable'.")
@click.option("--tolerance", default=None,
              help="Allowed change per metric: a number (accuracy points), or "
                   "'acc=1.0,acc.fold=3'; with --against also 'acc=2sd' (standard deviations "
                   "of the old run over (fold, repeat)) [default: acc=2, acc.fold=3 x acc].")
@click.option("--fold-tolerance", default=None, type=Number("tolerance"),
              help="Allowed mean |ours - reference| over (fold, repeat), in points, for a "
                   "results reference [default: 3 x --tolerance]; the same as acc.fold=...")
@click.option("--one-sided", is_flag=True,
              help="With --against: only drops fail; a mean that rose beyond the tolerance "
                   "passes.")
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path),
              help="With --against: write JUnit XML here (one test case per dataset, "
                   "embedder and metric).")
@click.option("--markdown", type=click.Path(dir_okay=False, path_type=Path),
              help="With --against: write a Markdown table for a pull-request comment here.")
def check(results, reference, against, tolerance, fold_tolerance, one_sided, junit, markdown):
    """Compare runs with reference accuracies (--reference) or with a previous results folder
    (--against). Exit 0: all within tolerance; 1: some outside (table printed); 2: not
    comparable (--against: a run's protocol, embedder, data or seed changed; or nothing could be
    compared), or bad usage.

    \b
    bench check results/runs --reference paper
    bench check results/pr --against results/main --tolerance acc=1.0,acc.fold=3 \\
        --junit check.xml --markdown check.md
    """
    if (reference is None) == (against is None):
        raise click.UsageError("give --reference or --against (one of them)")
    tolerances = parse_tolerances(tolerance, fold_tolerance)
    if against is not None:
        _check_against(results, against, tolerances, one_sided, junit, markdown)
        return
    if one_sided or junit or markdown:
        raise click.UsageError("--one-sided, --junit and --markdown go with --against")
    if any(t.in_sd for t in tolerances.values()):
        raise ConfigError("tolerances in standard deviations ('2sd') need --against",
                          hint="give --reference tolerances in points, e.g. --tolerance 2")
    ref = load_reference(reference)
    result = run_check(_load(results), ref, tolerance=tolerances["acc"].value,
                       fold_tolerance=tolerances["acc.fold"].value)
    click.echo(format_check(result, ref))
    sys.exit(result.exit_code)


def _check_against(results, against, tolerances, one_sided, junit, markdown) -> None:
    result = check_against(_load(results), _load([against]), tolerances, against=str(against),
                           one_sided=one_sided)
    click.echo(format_against(result))
    for path in write_outputs(result, junit, markdown):
        click.echo(f"wrote {path}", err=True)
    sys.exit(result.exit_code)


@click.command()
@RESULTS_ARG
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (default: <results dir>/explain).")
@click.option("--method", type=click.Choice(WILCOXON_METHODS), default=_DEFAULTS.method,
              show_default=True, help="scipy's Wilcoxon method.")
def explain(results, out_dir, method):
    """One embedder run under several protocol presets on the same data and folds: accuracy
    per preset (with its fingerprint), paired differences, Wilcoxon p and the settings that
    differ between each pair; a figure.

    \b
    bench run -e mfcc -d synth --protocol paper      (and hear, linear, fewshot:8)
    bench explain results/runs/synth-mfcc-*
    """
    _explain(results, out_dir or default_dir("results") / "explain", method)


def _explain(results, out_dir: Path, method: str) -> None:
    exps, paths = write_explain(_load(results), out_dir, method)
    click.echo(format_explanations(exps))
    for kind, p in paths.items():
        click.echo(f"{kind}: {p}")

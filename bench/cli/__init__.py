"""The ``bench`` command line: a click group whose subcommands load on use.

Each subcommand lives in its own module under ``bench.cli``; this file only names them, so
``bench --help`` imports neither torch nor anything else heavy (nor any command module). Commands
parse options, build one config object and call the Python API (:mod:`bench.api`) or the stage
that owns the work (docs/architecture.md, "The command line"); they hold no logic of their own.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

import click

from bench._version import __version__
from bench.errors import BenchError, storage_error
from bench.util import interrupt

# name -> ("module:function", one-line help). A module that is not there yet is simply not
# listed, so parts of the command line can land one at a time.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("bench.cli.run:run", "Evaluate one embedder on one dataset (the paper's protocol)."),
    "embed": ("bench.cli.run:embed", "Fill the embedding store only."),
    "sweep": ("bench.cli.sweep:sweep", "Run a whole study (many runs), resumable."),
    "stats": ("bench.cli.analysis:stats", "Paired Wilcoxon tests between runs."),
    "plot": ("bench.cli.analysis:plot", "Figure 2-5 style plots."),
    "report": ("bench.cli.analysis:report", "Markdown/HTML report against the paper."),
    "explain": ("bench.cli.analysis:explain", "Why one embedder's numbers differ between "
                                              "protocol presets."),
    "check": ("bench.cli.analysis:check", "Exit 1 when accuracies leave a reference's tolerance "
                                         "or regress against earlier results."),
    "data": ("bench.cli.data:data", "List, download and verify datasets."),
    "weights": ("bench.cli.weights:weights", "List, fetch and import model weights."),
    "cache": ("bench.cli.cache:cache", "List, verify and clear the embedding store."),
    "track": ("bench.cli.tracking:track", "Log finished runs to MLflow."),
    "ui": ("bench.cli.tracking:ui", "Serve the MLflow UI on localhost."),
}


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name, (target, _) in COMMANDS.items()
                if importlib.util.find_spec(target.partition(":")[0]) is not None]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        target, _ = COMMANDS[name]
        module_name, _, attr = target.partition(":")
        if importlib.util.find_spec(module_name) is None:
            return None
        return getattr(importlib.import_module(module_name), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context):
        # the first Ctrl-C stops at the next safe point, a second at once (bench.util.interrupt)
        with interrupt.handling():
            return self._invoke(ctx)

    def _invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except BenchError as exc:
            click.secho(f"error: {exc}", err=True, fg="red")
            sys.exit(exc.exit_code)
        except OSError as exc:  # a disk fault the core did not name: still one line, no traceback
            err = storage_error(exc, "a file", doing="use",
                                option="--out, --data-dir, --cache-dir or --weights-dir")
            click.secho(f"error: {err}", err=True, fg="red")
            sys.exit(err.exit_code)
        except KeyboardInterrupt:
            interrupt.report()
            sys.exit(interrupt.EXIT_CODE)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"],
                                              "max_content_width": 100})
@click.version_option(__version__, prog_name="bench")
def main() -> None:
    """bench: evaluate deep audio embeddings with the protocol of Cramer et al. (ICASSP 2019).

    \b
    Start with the embedded default (no download):
        bench run --embedder mfcc --dataset synth
    """
    import warnings

    # a warning meant for the user is one line, not a Python source location
    warnings.formatwarning = lambda message, category, *args, **kwargs: f"warning: {message}\n"

"""Options shared by several commands, and the settings a RunConfig is built from
(:func:`run_settings`)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable

import click

from bench.audio.decode import RESAMPLERS
from bench.embedders.torch_util import PRECISIONS
from bench.evaluation.ranges import RANGES, Range
from bench.evaluation.settings import PRESET_NAMES
from bench.runs.config import parse_options


class Number(click.ParamType):
    """A numeric option checked as every numeric setting is (:mod:`bench.evaluation.ranges`):
    NaN, infinities and values outside the range are one line each (``error: --gflops must be
    a finite number > 0, found nan``), never accepted and never a traceback.

    Parameters
    ----------
    bounds : Range or str
        The allowed values, or the name of a run or protocol setting in
        :data:`bench.evaluation.ranges.RANGES` whose bounds the option shares.
    label : str, optional
        How the message names the option (default: its longest flag, ``--gflops``).
    """

    def __init__(self, bounds: Range | str, label: str | None = None):
        self.bounds = RANGES[bounds] if isinstance(bounds, str) else bounds
        self.label = label
        self.name = "integer" if self.bounds.integer else "float"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None
                ) -> Any:
        label = self.label or (max(param.opts, key=len) if param is not None else "value")
        return self.bounds.check(label, _as_number(value))


def _as_number(value: Any) -> Any:
    """Text as an int or a float where it spells one (so a message says ``found -1``, not
    ``found '-1'``); anything else unchanged, for the range check to refuse."""
    if not isinstance(value, str):
        return value
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


_DIRS = {  # option name, environment variable, help, per kind of directory
    "data": ("--data-dir", "BENCH_DATA_DIR", "Where datasets live."),
    "embeddings": ("--cache-dir", "BENCH_CACHE_DIR", "The embedding store."),
    "weights": ("--weights-dir", "BENCH_WEIGHTS_DIR", "Where weights live."),
}


def dir_option(kind: str, help_: str | None = None, default: str = "a user cache dir"
               ) -> Callable:
    """``--data-dir``, ``--cache-dir`` or ``--weights-dir``; ``None`` when not given, so that
    :func:`bench.util.paths.default_dir` (or a study file) supplies the environment variable's
    value or the default."""
    name, env, standard = _DIRS[kind]
    return click.option(name, type=click.Path(file_okay=False, path_type=Path), default=None,
                        help=f"{help_ or standard} [env {env}; default {default}]")


def run_options(func: Callable) -> Callable:
    """Options that pick the embedder, dataset and where things live (run, embed)."""
    decorators = [
        click.option("--embedder", "-e", required=True,
                     help="Embedder name (see `bench weights list`), 'package.module:Class', or "
                          "hear:MODULE[#scene] for an installed HEAR-API package."),
        click.option("--embedder-option", "embedder_options", multiple=True,
                     metavar="KEY=VALUE",
                     help="Option of a hear:MODULE embedder (repeatable): passed to the "
                          "package's load_model (model_file_path=ckpt.pt), except bench's own "
                          "trained_on, frame_hop and allow_network (docs/embedders.md)."),
        click.option("--dataset", "-d", required=True,
                     help="Dataset name (see `bench data list`) or a manifest CSV path."),
        dir_option("data"),
        dir_option("embeddings"),
        dir_option("weights"),
        click.option("--device", default="cpu", show_default=True,
                     help="cpu, cuda or cuda:N (embedding and classifier)."),
        click.option("--resampler", type=click.Choice(RESAMPLERS), default="kaiser_best",
                     show_default=True,
                     help="Filter used to reach the embedder's rate (soxr_vhq: much faster, "
                          "slightly different numbers; docs/performance.md)."),
        precision_option(),
        click.option("--embed-batch-size", type=Number("embed_batch_size"), default=None,
                     help="Windows per embedder call, clips for hear: embedders (default: "
                          "the embedder's)."),
        click.option("--skip-bad", is_flag=True,
                     help="Skip unreadable audio files (listed in the results) instead of stopping."),
        click.option("--no-download", is_flag=True,
                     help="Never download; fail with instructions when something is missing."),
        click.option("--threads", type=Number("threads"), default=None,
                     help="CPU threads for torch and decoding processes [default: the CPUs this "
                          "process may use (affinity, cgroup quota)]; the numbers do not "
                          "depend on it."),
        click.option("--quiet", "-q", is_flag=True, help="No progress bars."),
    ]
    for dec in reversed(decorators):
        func = dec(func)
    return func


def precision_option(default: str | None = "float32") -> Callable:
    """``--precision``: the embedder network's precision (recorded in its spec and the store
    key)."""
    return click.option("--precision", type=click.Choice(PRECISIONS), default=default,
                        show_default=default is not None,
                        help="Embedder network precision (bfloat16: faster on CPUs with "
                             "AVX-512 BF16 or AMX, float16: CUDA only; docs/performance.md).")


def protocol_options(func: Callable) -> Callable:
    """The protocol preset and an override for each of its fields."""
    decorators = [
        click.option("--protocol", "-p", default="paper", show_default=True,
                     metavar="|".join(PRESET_NAMES),
                     help="paper: the text, clip-level validation, no leaks; l3embedding: what "
                          "the authors' code did; hear, linear (EVAR), fewshot:K (MTEB): other "
                          "harnesses' protocols (docs/protocol.md)."),
        click.option("--repeats", type=Number("repeats"), default=None,
                     help="Trials per fold (default: the dataset's: ESC-50 5, US8K 2, DCASE 1)."),
        click.option("--seed", type=Number("seed"), default=0, show_default=True,
                     help="Root seed."),
        click.option("--val-fraction", type=Number("val_fraction"), default=None,
                     help="Override: validation share of the training data."),
        click.option("--val-unit", type=click.Choice(["clip", "frame"]), default=None,
                     help="Override: split validation by clips or frames."),
        click.option("--scaler-fit", type=click.Choice(["train", "train+val"]), default=None,
                     help="Override: frames the standardisation is fitted on."),
        click.option("--selection-unit", type=click.Choice(["clip", "frame"]), default=None,
                     help="Override: validation accuracy that picks the grid point."),
        click.option("--max-epochs", type=Number("max_epochs"), default=None, help="Override."),
        click.option("--patience", type=Number("patience"), default=None, help="Override."),
        click.option("--batch-size", type=Number("batch_size"), default=None, help="Override."),
        click.option("--lr", "learning_rates", multiple=True,
                     type=Number("learning_rates", "learning rate (--lr)"),
                     help="Override the learning-rate grid (repeat the option)."),
        click.option("--wd", "weight_decays", multiple=True,
                     type=Number("weight_decays", "weight decay (--wd)"),
                     help="Override the weight-decay grid (repeat the option)."),
    ]
    for dec in reversed(decorators):
        func = dec(func)
    return func


def run_settings(opts: dict[str, Any]) -> dict[str, Any]:
    """The keyword settings of :meth:`bench.runs.config.RunConfig.build` (and so of
    :func:`bench.evaluate`) for parsed options; ``None`` keeps the default."""
    settings = {k: opts.get(k) for k in (
        "repeats", "val_fraction", "val_unit", "scaler_fit", "selection_unit", "max_epochs",
        "patience", "batch_size", "seed", "device", "resampler", "embed_batch_size", "skip_bad",
        "threads", "data_dir", "cache_dir", "weights_dir", "precision")}
    for k in ("learning_rates", "weight_decays"):
        settings[k] = tuple(opts[k]) if opts.get(k) else None
    settings["out_dir"] = opts.get("out")
    settings["download"] = not opts["no_download"]
    settings["embedder_options"] = parse_options(opts.get("embedder_options") or ())
    return settings


def echo_err(msg: str) -> None:
    """A status line on stderr that does not tear an active progress bar."""
    import sys

    from tqdm import tqdm

    tqdm.write(msg, file=sys.stderr)


def pass_opts(func: Callable) -> Callable:
    """Collect all keyword options into one dict argument."""
    @functools.wraps(func)
    def wrapper(**opts: Any) -> Any:
        return func(opts)
    return wrapper

"""The run and protocol configuration: frozen dataclasses, the named presets, validation.

One :class:`RunConfig` flows from the command line to the core. Every resolved value in it is
written with every result, so a result file says exactly how it was made.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import ConfigError, UnknownNameError

PAPER_GRID = (1e-5, 1e-4, 1e-3)


def _check_choice(field_name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{field_name} must be one of {list(choices)}, found {value!r}")


@dataclass(frozen=True)
class ProtocolConfig:
    """Every choice of the downstream evaluation protocol (DESIGN.md section 3).

    Attributes
    ----------
    preset : str
        Name of the preset the values came from (``paper`` or ``l3embedding``); overrides keep it.
    val_fraction : float
        Share of the training split held out for validation.
    val_unit : {"clip", "frame"}
        Split validation by whole clips (no clip on both sides) or by single frames (the authors'
        code; frames of one clip fall on both sides).
    scaler_fit : {"train", "train+val"}
        Which frames the standardisation statistics are fitted on.
    selection_unit : {"clip", "frame"}
        Validation accuracy used to pick the grid point: clip-level (summed likelihoods, as at test
        time) or frame-level (Keras ``val_acc``, the authors' code).
    tie_break : {"val_loss", "first"}
        Among grid points with equal validation accuracy: the lower validation loss, or the first
        in grid order (the authors' code used a strict ``>``).
    hidden_sizes : tuple of int
        Hidden layer widths of the MLP.
    learning_rates, weight_decays : tuple of float
        The grid. Weight decay is the Keras ``l2(wd)`` penalty ``wd * sum(W**2)`` on kernels only.
    batch_size, max_epochs, patience : int
        Mini-batch size; epoch cap; early-stopping patience on validation loss.
    adam_beta1, adam_beta2, adam_eps : float
        Adam parameters.
    repeats : int or None
        Trials per fold; ``None`` takes the dataset's default (ESC-50 5, UrbanSound8K 2, DCASE 1).
    min_val_per_class : int
        With a clip-level split, each class with at least two training clips gets at least this
        many validation clips, so no class is missing from validation.
    """

    preset: str = "paper"
    val_fraction: float = 0.10
    val_unit: str = "clip"
    scaler_fit: str = "train"
    selection_unit: str = "clip"
    tie_break: str = "val_loss"
    hidden_sizes: tuple[int, ...] = (512, 128)
    learning_rates: tuple[float, ...] = PAPER_GRID
    weight_decays: tuple[float, ...] = PAPER_GRID
    batch_size: int = 32
    max_epochs: int = 50
    patience: int = 20
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    repeats: int | None = None
    min_val_per_class: int = 1

    def __post_init__(self) -> None:
        _check_choice("val_unit", self.val_unit, ("clip", "frame"))
        _check_choice("scaler_fit", self.scaler_fit, ("train", "train+val"))
        _check_choice("selection_unit", self.selection_unit, ("clip", "frame"))
        _check_choice("tie_break", self.tie_break, ("val_loss", "first"))
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(f"val_fraction must be in (0, 1), found {self.val_fraction}")
        for name in ("batch_size", "max_epochs", "patience"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be a positive integer, found {getattr(self, name)}")
        if self.repeats is not None and self.repeats < 1:
            raise ConfigError(f"repeats must be at least 1, found {self.repeats}")
        if not self.learning_rates or not self.weight_decays:
            raise ConfigError("the learning-rate and weight-decay grids must not be empty")
        if any(h < 1 for h in self.hidden_sizes):
            raise ConfigError(f"hidden sizes must be positive, found {self.hidden_sizes}")
        # tuples, not lists, so the config stays hashable and frozen
        object.__setattr__(self, "hidden_sizes", tuple(int(h) for h in self.hidden_sizes))
        object.__setattr__(self, "learning_rates", tuple(float(x) for x in self.learning_rates))
        object.__setattr__(self, "weight_decays", tuple(float(x) for x in self.weight_decays))

    @property
    def grid(self) -> list[tuple[float, float]]:
        """Grid points as ``(learning_rate, weight_decay)``, learning rate varying slowest."""
        return [(lr, wd) for lr in self.learning_rates for wd in self.weight_decays]

    def replace(self, **overrides: Any) -> "ProtocolConfig":
        """A copy with some fields changed (validated); unknown field names are an error."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise ConfigError(f"unknown protocol field(s) {sorted(unknown)}; known: {sorted(known)}")
        return dataclasses.replace(self, **overrides)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for k in ("hidden_sizes", "learning_rates", "weight_decays"):
            d[k] = list(d[k])
        return d


PROTOCOL_PRESETS: dict[str, ProtocolConfig] = {
    # The paper's text, with the validation split made at clip level so nothing leaks, and the
    # scaler fitted on the training split only.
    "paper": ProtocolConfig(preset="paper"),
    # What marl/l3embedding did: 15 % of frames for validation, scaler fitted on train+val
    # frames, the grid chosen on frame-level validation accuracy, first point wins ties.
    "l3embedding": ProtocolConfig(preset="l3embedding", val_fraction=0.15, val_unit="frame",
                                  scaler_fit="train+val", selection_unit="frame",
                                  tie_break="first"),
}


def protocol_preset(name: str) -> ProtocolConfig:
    """The named protocol preset."""
    try:
        return PROTOCOL_PRESETS[name]
    except KeyError:
        raise UnknownNameError("protocol", name, list(PROTOCOL_PRESETS)) from None


def _user_cache_root() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("bench", appauthor=False))


def default_dir(kind: str) -> Path:
    """Default location of ``data``, ``embeddings``, ``weights`` or ``results``.

    Environment variables ``BENCH_DATA_DIR``, ``BENCH_CACHE_DIR``, ``BENCH_WEIGHTS_DIR`` and
    ``BENCH_RESULTS_DIR`` override; otherwise data, embeddings and weights live in the user cache
    directory and results in ``./results/runs``.
    """
    env = {"data": "BENCH_DATA_DIR", "embeddings": "BENCH_CACHE_DIR",
           "weights": "BENCH_WEIGHTS_DIR", "results": "BENCH_RESULTS_DIR"}[kind]
    if os.environ.get(env):
        return Path(os.environ[env]).expanduser()
    if kind == "results":
        return Path("results") / "runs"
    return _user_cache_root() / kind


@dataclass(frozen=True)
class RunConfig:
    """Everything one ``bench run`` needs, resolved; built once by the command line.

    Attributes
    ----------
    embedder, dataset : str
        Registry names, import paths (``pkg.mod:Class``) or, for datasets, a CSV manifest path.
    protocol : ProtocolConfig
        The protocol, preset plus overrides.
    seed : int
        Root seed; splits, initialisation and shuffling of every (fold, repeat) derive from it.
    data_dir, cache_dir, weights_dir, out_dir : Path
        Where datasets, the embedding store, weights and run directories live.
    device : str
        ``cpu``, ``cuda`` or ``cuda:N``; for embedding and for the classifier.
    resampler : str
        Resampling filter (``kaiser_best`` as the reference pipelines, or ``kaiser_fast``).
    embed_batch_size : int or None
        Windows per embedder call; ``None`` lets the embedder choose.
    tags : tuple of (str, str)
        Free-form labels stored with the result (``train_samples=13e6``).
    download : bool
        Fetch a missing dataset or weights file when the network allows.
    skip_bad : bool
        Skip unreadable audio files (recorded in the result) instead of stopping.
    rerun : bool
        Recompute a run whose results already exist instead of reporting them.
    tracking, tracking_uri : bool, str or None
        Experiment tracking switch and store.
    threads : int or None
        CPU threads for torch (embedding and training); ``None`` keeps torch's default (all
        cores). Use 1 when several jobs share a machine.
    """

    embedder: str
    dataset: str
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    seed: int = 0
    data_dir: Path = field(default_factory=lambda: default_dir("data"))
    cache_dir: Path = field(default_factory=lambda: default_dir("embeddings"))
    weights_dir: Path = field(default_factory=lambda: default_dir("weights"))
    out_dir: Path = field(default_factory=lambda: default_dir("results"))
    device: str = "cpu"
    resampler: str = "kaiser_best"
    embed_batch_size: int | None = None
    tags: tuple[tuple[str, str], ...] = ()
    download: bool = True
    skip_bad: bool = False
    rerun: bool = False
    tracking: bool = True
    tracking_uri: str | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ConfigError(f"device must be 'cpu', 'cuda' or 'cuda:N', found {self.device!r}")
        _check_choice("resampler", self.resampler, RESAMPLERS)
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"threads must be at least 1, found {self.threads}")
        if self.embed_batch_size is not None and self.embed_batch_size < 1:
            raise ConfigError(f"embed batch size must be positive, found {self.embed_batch_size}")
        for name in ("data_dir", "cache_dir", "weights_dir", "out_dir"):
            object.__setattr__(self, name, Path(getattr(self, name)).expanduser())

    def replace(self, **overrides: Any) -> "RunConfig":
        return dataclasses.replace(self, **overrides)

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-ready (paths as strings, protocol nested)."""
        d: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, Path):
                v = str(v)
            elif isinstance(v, ProtocolConfig):
                v = v.to_dict()
            elif f.name == "tags":
                v = dict(v)
            d[f.name] = v
        return d


RESAMPLERS = ("kaiser_best", "kaiser_fast")


def parse_tags(items: tuple[str, ...] | list[str]) -> tuple[tuple[str, str], ...]:
    """``["a=1", "b=x"]`` -> ``(("a", "1"), ("b", "x"))``; an item without ``=`` is an error."""
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"a tag must look like KEY=VALUE, found {item!r}")
        out.append((key.strip(), value.strip()))
    return tuple(out)

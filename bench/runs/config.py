"""The run configuration: one frozen dataclass from the command line to the core.

One :class:`RunConfig` flows from the command line to the core. Every resolved value in it is
written with every result, so a result file says exactly how it was made.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from bench.audio.decode import RESAMPLERS
from bench.embedders.torch_util import PRECISIONS
from bench.errors import ConfigError
from bench.evaluation.ranges import RANGES
from bench.evaluation.settings import ProtocolConfig, check_choice, protocol_preset
from bench.util.paths import default_dir


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
        Resampling filter: ``kaiser_best`` (as the reference pipelines; default),
        ``kaiser_fast`` or ``soxr_vhq`` (docs/performance.md).
    precision : str
        Network precision of the embedder: ``float32`` (default), ``bfloat16`` or ``float16``
        (CUDA only); recorded in the embedder spec, so it is part of the store's key.
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
        CPU threads for torch (embedding and training) and decoding worker processes;
        ``None``: ``OMP_NUM_THREADS`` when the user set it, else the CPUs this process may
        use (affinity mask and cgroup quota, :func:`bench.util.cpus.usable_cpus`). The numbers
        do not depend on it.
    embedder_options : tuple of (str, object)
        ``--embedder-option KEY=VALUE`` pairs for embedders that take options (``hear:MODULE``:
        the package's ``load_model`` arguments and bench's own, docs/embedders.md). Their
        effect on the numbers is in the prepared embedder spec, hence in the run's identity.
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
    precision: str = "float32"
    embed_batch_size: int | None = None
    tags: tuple[tuple[str, str], ...] = ()
    download: bool = True
    skip_bad: bool = False
    rerun: bool = False
    tracking: bool = True
    tracking_uri: str | None = None
    threads: int | None = None
    embedder_options: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        for name in ("seed", "threads", "embed_batch_size"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, RANGES[name].check(name, getattr(self, name)))
        check_unique("tag", self.tags)
        if self.tracking and self.tracking_uri is not None:
            check_tracking_uri(self.tracking_uri)
        for name in ("embedder", "dataset", "device", "resampler"):
            if not isinstance(getattr(self, name), str):
                raise ConfigError(f"{name} must be a name (text), found {getattr(self, name)!r}")
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ConfigError(f"device must be 'cpu', 'cuda' or 'cuda:N', found {self.device!r}")
        check_choice("resampler", self.resampler, RESAMPLERS)
        check_choice("precision", self.precision, PRECISIONS)
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"threads must be at least 1, found {self.threads}")
        if self.embed_batch_size is not None and self.embed_batch_size < 1:
            raise ConfigError(f"embed batch size must be positive, found {self.embed_batch_size}")
        for name in ("data_dir", "cache_dir", "weights_dir", "out_dir"):
            object.__setattr__(self, name, Path(getattr(self, name)).expanduser())

    @classmethod
    def build(cls, embedder: str, dataset: str, *, protocol: str | ProtocolConfig = "paper",
              **settings: Any) -> "RunConfig":
        """The configuration of ``bench run`` and :func:`bench.evaluate`: a protocol preset (or
        a ProtocolConfig) and keyword settings.

        Parameters
        ----------
        embedder, dataset : str
        protocol : str or ProtocolConfig
            A preset name (``paper``, ``l3embedding``) or a protocol.
        **settings
            A :class:`ProtocolConfig` field overrides the protocol (``max_epochs=5``,
            ``learning_rates=(1e-3,)``); any other field of this class sets the run
            (``seed=1``, ``out_dir=...``, ``tags={"k": "v"}``, ``embedder_options={"hop": 50}``).
            ``None`` keeps the default.

        Raises
        ------
        ConfigError
            For a name that is neither.
        """
        base = protocol if isinstance(protocol, ProtocolConfig) else protocol_preset(protocol)
        protocol_fields = {f.name for f in dataclasses.fields(ProtocolConfig)}
        run_fields = {f.name for f in dataclasses.fields(cls)} - {"embedder", "dataset",
                                                                  "protocol"}
        settings = {k: v for k, v in settings.items() if v is not None}
        unknown = sorted(set(settings) - protocol_fields - run_fields)
        if unknown:
            raise ConfigError(f"unknown setting(s) {unknown}: expected a protocol field "
                              f"{sorted(protocol_fields)} or a run setting {sorted(run_fields)}")
        overrides = {k: v for k, v in settings.items() if k in protocol_fields}
        run = {k: v for k, v in settings.items() if k in run_fields}
        if isinstance(run.get("tags"), Mapping):
            run["tags"] = tuple((str(k), str(v)) for k, v in run["tags"].items())
        if isinstance(run.get("embedder_options"), Mapping):
            run["embedder_options"] = tuple((str(k), v) for k, v in run["embedder_options"].items())
        return cls(embedder=embedder, dataset=dataset,
                   protocol=base.replace(**overrides) if overrides else base, **run)

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
            elif f.name in ("tags", "embedder_options"):
                v = dict(v)
            d[f.name] = v
        return d


def parse_tags(items: tuple[str, ...] | list[str]) -> tuple[tuple[str, str], ...]:
    """``["a=1", "b=x"]`` -> ``(("a", "1"), ("b", "x"))``; an item without ``=`` is an error."""
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"a tag must look like KEY=VALUE, found {item!r}")
        out.append((key.strip(), value.strip()))
    check_unique("tag", out)
    return tuple(out)


def check_unique(what: str, pairs: Any) -> None:
    """A :class:`ConfigError` when a key of ``(key, value)`` pairs comes twice: ``--tag a=1
    --tag a=2`` would otherwise keep one value and drop the other without a word."""
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ConfigError(f"{what} {key!r} given twice ({key}={seen[key]} and "
                              f"{key}={value}): one value would be dropped",
                              hint=f"give each {what} once")
        seen[key] = value


def check_tracking_uri(uri: str) -> str:
    """``uri`` unless it names an in-memory SQLite store (``sqlite://``, ``sqlite:///:memory:``),
    where every run logged vanishes when the command ends: that is a :class:`ConfigError`."""
    text = str(uri).strip()
    scheme, sep, rest = text.partition("://")
    if sep and scheme.lower().split("+")[0] == "sqlite" and (
            not rest.strip("/") or rest.lstrip("/").split("?")[0] in (":memory:", "")):
        raise ConfigError(f"the tracking store {text!r} is an in-memory SQLite database: every "
                          "run logged there would vanish when the command ends",
                          hint="give a file (sqlite:///PATH/mlflow.db), a server "
                               "(http://HOST:PORT), or pass --no-tracking")
    return uri


def parse_options(items: tuple[str, ...] | list[str]) -> tuple[tuple[str, Any], ...]:
    """``["model_file_path=m.pt", "hop=50"]`` -> ``(("model_file_path", "m.pt"), ("hop", 50))``.

    Values that read as an integer, a float, ``true``/``false`` or ``none`` become that (as
    YAML would read them from a study file); everything else stays a string. A key given twice
    is an error.
    """
    out: list[tuple[str, Any]] = []
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"an embedder option must look like KEY=VALUE, found {item!r}")
        out.append((key, option_value(value.strip())))
    check_unique("embedder option", out)
    return tuple(out)


def option_value(text: str) -> Any:
    """One option value from text: int, float, bool, ``None`` or the string itself."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text

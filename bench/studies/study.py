"""A study: embedders x datasets x protocols x seeds, plus tags, read from YAML or a preset.

A study expands into one :class:`~bench.runs.config.RunConfig` per (dataset, embedder, protocol,
seed); ``bench sweep`` runs them. The YAML format is documented in docs/tracking.md and
shown in examples/study-small.yaml::

    name: my-study                 # required: experiment name in MLflow, tag study=<name>
    embedders: [mfcc, l3-m256-music]   # an item may also be {name: hear:MODULE, options: {...}}
    datasets: [synth, esc50]
    protocol: paper                # a preset, a mapping {preset: paper, max_epochs: 30}, or a list
    repeats: 2                     # optional: trials per fold for every protocol
    seeds: [0]                     # optional (default [0]); `seed: 0` also works
    tags: {note: baseline}         # optional: stored with every run

Optional keys: ``reference`` (for the study report: ``paper``, a CSV, or results), ``out_dir``,
``data_dir``, ``cache_dir``, ``weights_dir`` (relative paths are relative to the YAML file),
``device``, ``resampler``, ``precision``, ``embed_batch_size``, ``skip_bad``, ``download``,
``tracking``, ``tracking_uri``, and ``dask`` (how ``--executor`` runs the study on Dask
workers or a batch cluster: docs/cluster.md).
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import datasets, embedders
from bench.errors import ConfigError, UnknownNameError
from bench.evaluation.settings import PROTOCOL_PRESETS, ProtocolConfig, protocol_preset
from bench.runs.config import RunConfig
#: the tag that names a run's study (and its MLflow experiment, see bench.tracking.logger)
from bench.runs.record import STUDY_TAG  # noqa: F401  (re-exported)
from bench.studies.executor import DaskSettings

#: the paper's embedders, as the families' tables mark them (every 6144-d L3 variant, VGGish,
#: SoundNet)
PAPER_EMBEDDERS = embedders.catalog.paper_embedders()
#: the paper's datasets, as the datasets' table marks them
PAPER_DATASETS = datasets.meta.paper_datasets()


@dataclass(frozen=True)
class Study:
    """Everything ``bench sweep`` needs; see the module docstring for the YAML keys.

    Attributes
    ----------
    name : str
        Names the MLflow experiment and the study's folder; every run gets the tag
        ``study=<name>``.
    embedders, datasets : tuple of str
        Registry names or import paths.
    protocols : tuple of ProtocolConfig
        Each protocol is run on every (embedder, dataset); ``repeats=None`` takes the dataset's.
    seeds : tuple of int
    tags : tuple of (str, str)
    reference : str or None
        Reference of the study report (``paper``, a CSV, results); ``None``: no comparison.
    embedder_options : tuple of (str, tuple of (str, object))
        Per embedder name, its ``--embedder-option`` pairs (``hear:MODULE`` embedders).
    run : dict
        The remaining RunConfig fields (paths, device, tracking, ...), passed through.
    dask : DaskSettings
        How ``--executor`` other than ``local`` runs it (the ``dask:`` section).
    """

    name: str
    embedders: tuple[str, ...]
    datasets: tuple[str, ...]
    protocols: tuple[ProtocolConfig, ...] = (PROTOCOL_PRESETS["paper"],)
    seeds: tuple[int, ...] = (0,)
    tags: tuple[tuple[str, str], ...] = ()
    reference: str | None = None
    run: dict[str, Any] = field(default_factory=dict)
    embedder_options: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()
    dask: DaskSettings = field(default_factory=DaskSettings)

    def __post_init__(self) -> None:
        if not self.name or not str(self.name).strip():
            raise ConfigError("a study needs a name")
        for kind in ("embedders", "datasets", "protocols", "seeds"):
            if not getattr(self, kind):
                raise ConfigError(f"study {self.name!r} has no {kind}")
            dup = [x for x in set(getattr(self, kind)) if getattr(self, kind).count(x) > 1]
            if dup:
                raise ConfigError(f"study {self.name!r} lists {kind} more than once: {dup}")
        unknown = set(self.run) - _RUN_FIELDS
        if unknown:
            raise ConfigError(f"study {self.name!r}: unknown run setting(s) {sorted(unknown)}")

    def replace(self, **changes: Any) -> "Study":
        return dataclasses.replace(self, **changes)

    def with_run(self, **settings: Any) -> "Study":
        """A copy with run settings changed; ``None`` values leave a setting as it is."""
        return self.replace(run={**self.run, **{k: v for k, v in settings.items()
                                                if v is not None}})

    def plan(self) -> list[RunConfig]:
        """One RunConfig per (dataset, embedder, protocol, seed), datasets outermost (a dataset's
        comparisons finish together), each tagged ``study=<name>``."""
        tags = tuple(t for t in self.tags if t[0] != STUDY_TAG) + ((STUDY_TAG, self.name),)
        options = dict(self.embedder_options)
        return [RunConfig(embedder=e, dataset=d, protocol=p, seed=s, tags=tags,
                          embedder_options=options.get(e, ()), **self.run)
                for d, e, p, s in itertools.product(self.datasets, self.embedders,
                                                    self.protocols, self.seeds)]

    def check_names(self) -> None:
        """Fail early on a misspelt embedder or dataset (before hours of compute)."""
        for e in self.embedders:
            embedders.REGISTRY.entry(e)
        for d in self.datasets:
            if not d.endswith(".csv"):
                datasets.REGISTRY.entry(d)


_RUN_FIELDS = {f.name for f in dataclasses.fields(RunConfig)} - {
    "embedder", "dataset", "protocol", "seed", "tags"}
_PATH_KEYS = ("out_dir", "data_dir", "cache_dir", "weights_dir")
_RUN_KEYS = ("out_dir", "data_dir", "cache_dir", "weights_dir", "device", "resampler",
             "precision", "embed_batch_size", "skip_bad", "download", "tracking", "tracking_uri")
_KEYS = {"name", "embedders", "datasets", "protocol", "protocols", "repeats", "seed", "seeds",
         "tags", "reference", "description", "dask", *_RUN_KEYS}


def paper_study() -> Study:
    """The paper's design: every 6144-d L3 variant, VGGish and SoundNet on ESC-50,
    UrbanSound8K and DCASE 2013, protocol ``paper`` with each dataset's repeats (5, 2, 1)."""
    return Study(name="paper", embedders=PAPER_EMBEDDERS, datasets=PAPER_DATASETS,
                 reference="paper")


PRESETS = {"paper": paper_study}


def study_preset(name: str) -> Study:
    try:
        return PRESETS[name]()
    except KeyError:
        raise UnknownNameError("study preset", name, list(PRESETS)) from None


def load_study(path: Path) -> Study:
    """Read a study YAML file (format: module docstring, docs/tracking.md)."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"no study file at {path}") from None
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read study file {path}: {exc}") from exc
    return study_from_dict(data, base=path.parent, source=str(path))


def study_from_dict(data: Any, base: Path = Path("."), source: str = "study") -> Study:
    """Build and validate a :class:`Study` from parsed YAML; relative paths join ``base``."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of study settings, found "
                          f"{type(data).__name__}")
    unknown = set(data) - _KEYS
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {sorted(unknown)}; known: {sorted(_KEYS)}")
    for a, b in (("protocol", "protocols"), ("seed", "seeds")):
        if a in data and b in data:
            raise ConfigError(f"{source}: give either {a!r} or {b!r}, not both")
    if "name" not in data:
        raise ConfigError(f"{source}: a study needs a name (it names the MLflow experiment)")
    repeats = data.get("repeats")
    if repeats is not None and (not isinstance(repeats, int) or repeats < 1):
        raise ConfigError(f"{source}: repeats must be a positive integer, found {repeats!r}")
    protocols = tuple(_protocol(p, repeats, source)
                      for p in _list(data.get("protocols", data.get("protocol", "paper")),
                                     "protocol", source))
    seeds = _list(data.get("seeds", data.get("seed", 0)), "seed", source)
    if not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise ConfigError(f"{source}: seeds must be integers, found {seeds!r}")
    tags = data.get("tags") or {}
    if not isinstance(tags, dict):
        raise ConfigError(f"{source}: tags must be a mapping KEY: VALUE, found {tags!r}")
    run = {k: data[k] for k in _RUN_KEYS if k in data and data[k] is not None}
    for k in _PATH_KEYS:
        if k in run:
            p = Path(str(run[k])).expanduser()
            run[k] = p if p.is_absolute() else (Path(base) / p)
    embedders = [_embedder(x, source) for x in _list(data.get("embedders"), "embedders", source)]
    return Study(name=str(data["name"]),
                 embedders=tuple(name for name, _ in embedders),
                 embedder_options=tuple((name, opts) for name, opts in embedders if opts),
                 datasets=tuple(str(x) for x in _list(data.get("datasets"), "datasets", source)),
                 protocols=protocols, seeds=tuple(seeds),
                 tags=tuple((str(k), str(v)) for k, v in tags.items()),
                 reference=None if data.get("reference") in (None, "none") else
                 str(data["reference"]), run=run,
                 dask=DaskSettings.from_dict(data.get("dask"), source))


def _embedder(item: Any, source: str) -> tuple[str, tuple[tuple[str, Any], ...]]:
    """An ``embedders`` item: a name, or ``{name: ..., options: {KEY: VALUE}}``."""
    if not isinstance(item, dict):
        return str(item), ()
    unknown = set(item) - {"name", "options"}
    if "name" not in item or unknown:
        raise ConfigError(f"{source}: an embedder given as a mapping takes 'name' and "
                          f"'options', found {sorted(item)}")
    options = item.get("options") or {}
    if not isinstance(options, dict):
        raise ConfigError(f"{source}: options of embedder {item['name']!r} must be a mapping "
                          f"KEY: VALUE, found {options!r}")
    return str(item["name"]), tuple((str(k), tuple(v) if isinstance(v, list) else v)
                                    for k, v in options.items())


def _list(value: Any, what: str, source: str) -> list[Any]:
    if value is None:
        raise ConfigError(f"{source}: no {what} given")
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _protocol(spec: Any, repeats: int | None, source: str) -> ProtocolConfig:
    if isinstance(spec, str):
        proto = protocol_preset(spec)
    elif isinstance(spec, dict):
        spec = dict(spec)
        proto = protocol_preset(str(spec.pop("preset", "paper")))
        if spec:
            proto = proto.replace(**{k: tuple(v) if isinstance(v, list) else v
                                     for k, v in spec.items()})
    else:
        raise ConfigError(f"{source}: a protocol is a preset name or a mapping, found {spec!r}")
    if repeats is not None:
        proto = proto.replace(repeats=repeats)
    return proto

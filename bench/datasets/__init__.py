"""The dataset registry, read from the datasets' table (:mod:`bench.datasets.meta`). Names resolve
lazily; a path ending in ``.csv`` is a user's manifest, a folder holding ``task_metadata.json`` a
HEAR task."""

from __future__ import annotations

import inspect
from pathlib import Path

from bench.datasets import meta
from bench.datasets.base import Clip, Dataset, Split, VerifyReport
from bench.datasets.hear_task import is_task_folder
from bench.errors import ConfigError
from bench.util.registry import Registry, RegistryEntry

__all__ = ["Clip", "Dataset", "Split", "VerifyReport", "REGISTRY", "create", "names", "is_path"]


def _declared() -> list[RegistryEntry]:
    """The registry's names from the datasets' table (:mod:`bench.datasets.meta`): each row's
    name, then its aliases."""
    out = []
    for row in meta.rows():
        out.append(RegistryEntry(row.name, row.target, dict(row.kwargs), row.summary))
        out += [RegistryEntry(a, row.target, dict(row.kwargs), f"alias of {row.name}")
                for a in row.aliases]
    return out


REGISTRY = Registry("dataset", "bench.datasets", declared=_declared)


def names() -> list[str]:
    """Every known dataset name."""
    return REGISTRY.names()


def is_path(name: str) -> bool:
    """Whether ``name`` is a dataset given by its files (a manifest CSV or a HEAR task folder)
    rather than a registry name."""
    return name.endswith(".csv") or is_task_folder(name)


def create(name: str, *, data_dir: Path, download: bool = True) -> Dataset:
    """Build the dataset called ``name``; a path to a ``.csv`` file is read as a manifest, a
    folder holding ``task_metadata.json`` (or that file) as a HEAR task."""
    if name.endswith(".csv"):
        cls, kwargs = REGISTRY.resolve("bench.datasets.manifest:ManifestDataset")
        kwargs["manifest"] = Path(name)
    elif is_task_folder(name):
        cls, kwargs = REGISTRY.resolve("bench.datasets.hear_task:HearTaskDataset")
        kwargs["task_dir"] = Path(name)
    else:
        cls, kwargs = REGISTRY.resolve(name)
    if not (isinstance(cls, type) and issubclass(cls, Dataset)):
        raise ConfigError(f"{name!r} resolves to {cls!r}, which is not a bench Dataset subclass")
    if inspect.isabstract(cls):
        raise ConfigError(f"not a dataset class: {name!r} is abstract / missing "
                          f"{', '.join(sorted(cls.__abstractmethods__))}",
                          hint="give a Dataset subclass that implements prepare and load_clips "
                               "(or a manifest CSV); see docs/datasets.md")
    return cls(data_dir, download=download, **kwargs)

"""The dataset registry. Names resolve lazily; a path ending in ``.csv`` is a user's manifest, a
folder holding ``task_metadata.json`` a HEAR task."""

from __future__ import annotations

from pathlib import Path

from bench.datasets.base import Clip, Dataset, Split, VerifyReport
from bench.errors import ConfigError
from bench.util.registry import Registry

__all__ = ["Clip", "Dataset", "Split", "VerifyReport", "REGISTRY", "create", "names", "is_path"]

REGISTRY = Registry("dataset", "bench.datasets")

REGISTRY.register("synth", "bench.datasets.synth:SynthDataset",
                  "procedural environmental sounds, 12 classes x 40 clips, 5 folds (no download)",
                  clips_per_class=40, dataset_name="synth")
REGISTRY.register("synth-mini", "bench.datasets.synth:SynthDataset",
                  "synth at 12 classes x 10 clips (tests, quick checks)", clips_per_class=10,
                  dataset_name="synth-mini")
REGISTRY.register("synth-large", "bench.datasets.synth:SynthDataset",
                  "synth at 12 classes x 100 clips", clips_per_class=100,
                  dataset_name="synth-large")
REGISTRY.register("esc50", "bench.datasets.esc50:ESC50",
                  "ESC-50: 2000 clips of 5 s, 50 classes, 5 official folds")
REGISTRY.register("us8k", "bench.datasets.us8k:UrbanSound8K",
                  "UrbanSound8K: 8732 clips up to 4 s, 10 classes, 10 official folds")
REGISTRY.register("urbansound8k", "bench.datasets.us8k:UrbanSound8K", "alias of us8k")
REGISTRY.register("dcase2013", "bench.datasets.dcase2013:DCASE2013",
                  "DCASE 2013 scenes: 10 classes, train = development set, test = evaluation set")


def names() -> list[str]:
    """Every known dataset name."""
    return REGISTRY.names()


def is_path(name: str) -> bool:
    """Whether ``name`` is a dataset given by its files (a manifest CSV or a HEAR task folder)
    rather than a registry name."""
    from bench.datasets.hear_task import is_task_folder

    return name.endswith(".csv") or is_task_folder(name)


def create(name: str, *, data_dir: Path, download: bool = True) -> Dataset:
    """Build the dataset called ``name``; a path to a ``.csv`` file is read as a manifest, a
    folder holding ``task_metadata.json`` (or that file) as a HEAR task."""
    from bench.datasets.hear_task import is_task_folder

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
    return cls(data_dir, download=download, **kwargs)

"""The embedder registry. Names resolve lazily to classes; see :mod:`bench.embedders.base`."""

from __future__ import annotations

from pathlib import Path

from bench.embedders.base import Embedder, EmbedderSpec, frame_count
from bench.registry import Registry

__all__ = ["Embedder", "EmbedderSpec", "frame_count", "REGISTRY", "create", "names"]

REGISTRY = Registry("embedder", "bench.embedders")

REGISTRY.register("mfcc", "bench.embedders.mfcc:MFCCEmbedder",
                  "MFCC statistics per 1 s window (non-learned baseline, no weights)")


def names() -> list[str]:
    """Every known embedder name."""
    return REGISTRY.names()


def create(name: str, *, device: str = "cpu", weights_dir: Path | None = None,
           download: bool = True) -> Embedder:
    """Build the embedder called ``name`` (registry name or ``pkg.mod:Class``), not yet prepared."""
    from bench.errors import ConfigError

    cls, kwargs = REGISTRY.resolve(name)
    if not (isinstance(cls, type) and issubclass(cls, Embedder)):
        raise ConfigError(f"{name!r} resolves to {cls!r}, which is not a bench Embedder subclass",
                          hint="subclass bench.embedders.Embedder and set its spec")
    return cls(device=device, weights_dir=weights_dir, download=download, **kwargs)

"""The embedder registry. Names resolve lazily to classes; see :mod:`bench.embedders.base`.

The names, and what each is built with, are the rows of the families' tables
(:mod:`bench.embedders.catalog`); importing this package loads no numpy, torch or network code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.embedders import catalog
from bench.embedders.base import Embedder, EmbedderSpec
from bench.errors import ConfigError
from bench.util.registry import Registry

__all__ = ["Embedder", "EmbedderSpec", "REGISTRY", "catalog", "create", "names"]

REGISTRY = Registry("embedder", "bench.embedders")

# every name comes from its family's table (bench/embedders/<family>_meta.py)
for _row in catalog.rows():
    REGISTRY.register(_row.name, _row.target, _row.summary, **dict(_row.kwargs))

REGISTRY.register_scheme("hear", "bench.embedders.hear:HearEmbedder",
                         "any installed HEAR-API package: hear:MODULE (timestamp embeddings as "
                         "frames) or hear:MODULE#scene (one frame per clip)")


def names() -> list[str]:
    """Every known embedder name."""
    return REGISTRY.names()


def create(name: str, *, device: str = "cpu", weights_dir: Path | None = None,
           download: bool = True, options: tuple[tuple[str, Any], ...] = (),
           precision: str = "float32") -> Embedder:
    """Build the embedder called ``name`` (registry name, ``pkg.mod:Class`` or
    ``hear:MODULE``), not yet prepared.

    Parameters
    ----------
    options : tuple of (str, object)
        ``--embedder-option`` pairs; only embedders with ``accepts_options`` (``hear:``) take
        them.
    precision : {"float32", "bfloat16", "float16"}
        Network precision. Passed to embedders whose constructor takes ``precision`` (the
        torch families); any other embedder computes in float32 only, and asking it for less
        is an error rather than a silent float32 run.
    """
    import inspect

    cls, kwargs = REGISTRY.resolve(name)
    if not (isinstance(cls, type) and issubclass(cls, Embedder)):
        raise ConfigError(f"{name!r} resolves to {cls!r}, which is not a bench Embedder subclass",
                          hint="subclass bench.embedders.Embedder and set its spec")
    if options:
        if not cls.accepts_options:
            raise ConfigError(f"embedder {name!r} takes no options, found "
                              f"{', '.join(k for k, _ in options)}",
                              hint="--embedder-option is for hear:MODULE embedders (passed to "
                                   "the package's load_model)")
        kwargs["options"] = tuple(options)
    if "precision" in inspect.signature(cls.__init__).parameters:
        kwargs = {**kwargs, "precision": precision}
    elif precision != "float32":
        raise ConfigError(f"embedder {name!r} computes in float32 only; --precision {precision} "
                          "applies to the network embedders (L3, VGGish, SoundNet)",
                          hint="leave --precision at float32 for this embedder")
    if cls is Embedder or inspect.isabstract(cls):
        raise ConfigError(f"not an embedder class: {name!r} is abstract (a base class to "
                          "subclass, not an embedder)", hint=_HOW)
    embedder = cls(device=device, weights_dir=weights_dir, download=download, **kwargs)
    missing = _missing(embedder)
    if missing:
        raise ConfigError(f"not an embedder class: {name!r} is missing {missing}", hint=_HOW)
    return embedder


_HOW = ("give an Embedder subclass that sets spec (an EmbedderSpec) and implements "
        "embed_windows (spec.window_s set) or embed_sequence; see docs/embedders.md")


def _missing(embedder: Embedder) -> str:
    """What a built embedder lacks to be used ("" when nothing): a spec, and the embed method
    its spec calls for."""
    spec = getattr(embedder, "spec", None)
    if not isinstance(spec, EmbedderSpec):
        return ("its spec (an EmbedderSpec, as a class attribute or set in __init__), found "
                f"{type(spec).__name__ if spec is not None else 'none'}")
    kind = type(embedder)
    if spec.window_s is not None and kind.embed_windows is Embedder.embed_windows:
        return "embed_windows (its spec has window_s set: a windowed embedder)"
    if spec.window_s is None and kind.embed_sequence is Embedder.embed_sequence and \
            kind.embed_sequences is Embedder.embed_sequences:
        return "embed_sequence (its spec has no window_s: a sequence embedder)"
    return ""

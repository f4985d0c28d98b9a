"""The embedder registry. Names resolve lazily to classes; see :mod:`bench.embedders.base`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.audio.frames import frame_count
from bench.embedders.base import Embedder, EmbedderSpec
from bench.errors import ConfigError
from bench.util.registry import Registry

__all__ = ["Embedder", "EmbedderSpec", "frame_count", "REGISTRY", "create", "names"]

REGISTRY = Registry("embedder", "bench.embedders")

REGISTRY.register("mfcc", "bench.embedders.mfcc:MFCCEmbedder",
                  "MFCC statistics per 1 s window (non-learned baseline, no weights)")
REGISTRY.register("lowlevel", "bench.embedders.mfcc:LowLevelEmbedder",
                  "six low-level descriptors per 1 s window (a deliberately weak baseline)")

for _repr, _short in (("linear", "linear"), ("mel128", "m128"), ("mel256", "m256")):
    for _content in ("music", "env"):
        for _dim, _suffix in ((6144, ""), (512, "-512")):
            REGISTRY.register(f"l3-{_short}-{_content}{_suffix}", "bench.embedders.l3:L3Embedder",
                              f"L3-Net audio ({_repr}, trained on {_content}), {_dim}-d, 1 s "
                              f"windows at 48 kHz", input_repr=_repr, content_type=_content,
                              dim=_dim)
REGISTRY.register("vggish", "bench.embedders.vggish:VGGishEmbedder",
                  "VGGish 128-d, PCA-whitened and 8-bit quantised as in the paper",
                  postprocess=True)
REGISTRY.register("vggish-raw", "bench.embedders.vggish:VGGishEmbedder",
                  "VGGish 128-d embedding layer before PCA", postprocess=False)
REGISTRY.register("soundnet", "bench.embedders.soundnet:SoundNetEmbedder",
                  "SoundNet-8 conv6, 512-d, 1.35 frames/s (the paper's frame rate)",
                  layer="conv6", spec_name="soundnet")
for _layer, _dim in (("conv5", 256), ("pool5", 256), ("conv6", 512), ("conv7", 1024)):
    REGISTRY.register(f"soundnet-{_layer}", "bench.embedders.soundnet:SoundNetEmbedder",
                      f"SoundNet-8 {_layer}, {_dim}-d", layer=_layer)

REGISTRY.register_scheme("hear", "bench.embedders.hear:HearEmbedder",
                         "any installed HEAR-API package: hear:MODULE (timestamp embeddings as "
                         "frames) or hear:MODULE#scene (one frame per clip)")


def names() -> list[str]:
    """Every known embedder name."""
    return REGISTRY.names()


def create(name: str, *, device: str = "cpu", weights_dir: Path | None = None,
           download: bool = True, options: tuple[tuple[str, Any], ...] = ()) -> Embedder:
    """Build the embedder called ``name`` (registry name, ``pkg.mod:Class`` or
    ``hear:MODULE``), not yet prepared.

    Parameters
    ----------
    options : tuple of (str, object)
        ``--embedder-option`` pairs; only embedders with ``accepts_options`` (``hear:``) take
        them.
    """
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
    return cls(device=device, weights_dir=weights_dir, download=download, **kwargs)

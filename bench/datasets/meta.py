"""Every dataset's facts in one table (the datasets' counterpart of the embedders' ``*_meta``).

Each dataset file declares its row(s) as a module-level ``DATASET_META`` (one
:class:`DatasetMeta`, or a tuple of them when one class serves several names, as ``synth.py``
does). The registry (:mod:`bench.datasets`), the name normaliser
(:func:`bench.datasets.names.dataset_key`), the cost estimate, the paper preset, the reference
look-up and the figures all read these rows; a new dataset is one file in this package (its
class and its ``DATASET_META``) plus its test, found here by scanning the package.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import UnknownNameError


@dataclass(frozen=True)
class DatasetMeta:
    """One registry name of a dataset.

    Attributes
    ----------
    name : str
        Registry name (``esc50``); also how results.json, the paper's reference CSV and the
        analysis write it.
    target : str
        ``"module:Class"`` that builds it.
    summary : str
        One line for listings (``bench data list``).
    title : str
        The release's own title (``ESC-50``); messages name the dataset by it.
    short_title : str
        How a figure labels its panel (``DCASE 2013 SCD``); defaults to ``title``.
    aliases : tuple of str
        Other registry names that build the same dataset (``urbansound8k``).
    spellings : tuple of str
        Other ways papers and tools write it (``UrbanSound``, ``DCASE2013-task1``); only the
        name normaliser reads them. Compared after dropping case, spaces and punctuation.
    n_splits : int or None
        Official evaluation splits: folds, or 1 for a fixed train/test split.
    default_repeats : int
        Trials per split when the protocol does not say.
    n_clips, n_classes : int or None
        Of the published release; ``None`` where it depends on the options (generated data).
    clip_s : float or None
        Published clip length in seconds (an upper bound where clips vary); the cost estimate
        uses it before the files are on disk. ``None``: unknown until the files exist.
    size_note : str
        What the estimate says when it counts from the published size.
    paper : bool
        One of the paper's datasets (Cramer et al. 2019), i.e. of ``bench sweep --preset paper``.
    plot_order : int or None
        Position of its panel in a figure (the paper's order); ``None``: after those, by name.
    kwargs : tuple of (str, object)
        Keyword arguments the registry builds ``target`` with.
    """

    name: str
    target: str
    summary: str
    title: str = ""
    short_title: str = ""
    aliases: tuple[str, ...] = ()
    spellings: tuple[str, ...] = ()
    n_splits: int | None = None
    default_repeats: int = 1
    n_clips: int | None = None
    n_classes: int | None = None
    clip_s: float | None = None
    size_note: str = ""
    paper: bool = False
    plot_order: int | None = None
    kwargs: tuple[tuple[str, Any], ...] = ()

    @property
    def label(self) -> str:
        """The panel label of a figure: the short title, else the title, else the name."""
        return self.short_title or self.title or self.name


_ROWS: dict[str, DatasetMeta] | None = None


def rows() -> list[DatasetMeta]:
    """Every dataset's row, in the order the package's files declare them (sorted by file name,
    except that a file listed in ``_FIRST`` comes first: the order ``bench data list`` shows)."""
    global _ROWS
    if _ROWS is None:
        _ROWS = {r.name: r for r in _scan()}
    return list(_ROWS.values())


#: files scanned first, so that listings keep the order bench has always shown
_FIRST = ("synth", "esc50", "us8k", "dcase2013")


def _scan() -> list[DatasetMeta]:
    """The ``DATASET_META`` of every module of this package (the one lazy import point of the table:
    the dataset files import this module, so it reads them only when a row is first asked for)."""
    names = sorted((m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)])),
                   key=lambda n: (_FIRST.index(n) if n in _FIRST else len(_FIRST), n))
    out: list[DatasetMeta] = []
    for name in names:
        meta = getattr(importlib.import_module(f"bench.datasets.{name}"), "DATASET_META", None)
        if isinstance(meta, DatasetMeta):
            out.append(meta)
        elif isinstance(meta, tuple):
            out.extend(m for m in meta if isinstance(m, DatasetMeta))
    return out


def find(name: str) -> DatasetMeta | None:
    """The row called ``name`` (registry name or alias); ``None`` for a name no file declares
    (a manifest, a plugin, an import path)."""
    for r in rows():
        if name == r.name or name in r.aliases:
            return r
    return None


def get(name: str) -> DatasetMeta:
    """The row called ``name``, which must exist."""
    row = find(name)
    if row is None:
        raise UnknownNameError("dataset", name, [r.name for r in rows()])
    return row


def paper_datasets() -> tuple[str, ...]:
    """The datasets of the paper's design, in table order."""
    return tuple(r.name for r in rows() if r.paper)


def plot_sort_key(name: str) -> tuple[int, str]:
    """Figures show the paper's datasets in the paper's order, then the others by name."""
    row = find(name)
    order = row.plot_order if row is not None and row.plot_order is not None else 1 << 30
    return (order, name)

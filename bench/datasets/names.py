"""Dataset names as people write them, folded to one spelling (bench's one name normaliser:
the reference look-up, the report, the estimate and the figures read it too), and the
training-data overlap check that uses it.

An embedder may declare the datasets it was trained or fine-tuned on
(:attr:`bench.embedders.base.EmbedderSpec.trained_on`, or ``--embedder-option trained_on=...``
for a HEAR package). Evaluating it on one of them measures memory as much as representation, so
the run is marked (results.json ``training_overlap``, a warning on the terminal, a mark in the
report).
"""

from __future__ import annotations

import re
from typing import Iterable

from bench.datasets import meta


def _squash(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", str(name).lower())


def _known() -> dict[str, str]:
    """Every name, alias and spelling of the table, squashed -> the dataset's name."""
    return {_squash(n): row.name for row in meta.rows()
            for n in (row.name, *row.aliases, *row.spellings)}


def dataset_key(name: str) -> str:
    """``"ESC-50"`` -> ``"esc50"``, ``"UrbanSound8K"`` -> ``"us8k"``, ``"synth-mini"`` ->
    ``"synth-mini"``: a name, alias or spelling of a dataset in the table (case, spaces and
    punctuation aside) is that dataset's name; any other name is lowercased with spaces and
    punctuation dropped, so two spellings of one unknown dataset still meet."""
    key = _squash(name)
    return _known().get(key, key)


def training_overlap(trained_on: Iterable[str], dataset_names: Iterable[str]) -> list[str]:
    """The declared training datasets that are the evaluated dataset.

    Parameters
    ----------
    trained_on : iterable of str
        What the embedder declares, as written.
    dataset_names : iterable of str
        Names of the evaluated dataset (its registry name, its own name).

    Returns
    -------
    list of str
        The entries of ``trained_on`` (as written) that match, in order; empty when none.
    """
    evaluated = {dataset_key(n) for n in dataset_names if n}
    return [t for t in trained_on if dataset_key(t) in evaluated]

"""Dataset names as people write them, folded to one spelling, and the training-data overlap
check that uses them.

An embedder may declare the datasets it was trained or fine-tuned on
(:attr:`bench.embedders.base.EmbedderSpec.trained_on`, or ``--embedder-option trained_on=...``
for a HEAR package). Evaluating it on one of them measures memory as much as representation, so
the run is marked (results.json ``training_overlap``, a warning on the terminal, a mark in the
report).
"""

from __future__ import annotations

import re
from typing import Iterable

#: other spellings of the datasets bench knows, after :func:`fold` (lowercase, only a-z0-9)
ALIASES = {"urbansound8k": "us8k", "urbansound": "us8k", "urban8k": "us8k",
           "dcase2013scd": "dcase2013", "dcase2013task1": "dcase2013",
           "dcase2013scenes": "dcase2013"}


def fold(name: str) -> str:
    """``"ESC-50"`` -> ``"esc50"``, ``"UrbanSound8K"`` -> ``"us8k"``: case, punctuation and
    spaces dropped, known aliases mapped to bench's dataset names."""
    key = re.sub(r"[^a-z0-9]+", "", str(name).lower())
    return ALIASES.get(key, key)


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
    evaluated = {fold(n) for n in dataset_names if n}
    return [t for t in trained_on if fold(t) in evaluated]

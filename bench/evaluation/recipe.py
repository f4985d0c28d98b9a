"""The training recipe every trainer shares, derived from the protocol's settings once.

A trainer's settings class extends :class:`Recipe` with what only it offers; every field whose
name is a protocol field takes the protocol's value in :meth:`Recipe.from_protocol`, so a new
protocol field reaches a trainer by being declared on its settings, not by being copied.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, TypeVar

from bench.evaluation.settings import ProtocolConfig

R = TypeVar("R", bound="Recipe")


@dataclass(kw_only=True)
class Recipe:
    """What training needs besides the grid point.

    ``multilabel``: sigmoid outputs and binary cross-entropy over the classes (targets are 0/1
    rows); validation scores then are mAP, not accuracy.
    """

    n_classes: int
    batch_size: int = 32
    max_epochs: int = 50
    patience: int = 20
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    selection_unit: str = "clip"
    tie_break: str = "val_loss"
    device: str = "cpu"
    random_state: int = 0
    multilabel: bool = False

    @classmethod
    def from_protocol(cls: type[R], protocol: ProtocolConfig, **given: Any) -> R:
        """The settings of ``cls`` with every field named like a protocol field taken from
        ``protocol`` (Adam's ``betas``/``eps`` from ``adam_beta1/2``/``adam_eps``); ``given``
        supplies the rest (``n_classes``, the device, the seed, ...) and wins."""
        mine = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {f.name: getattr(protocol, f.name)
                                  for f in dataclasses.fields(ProtocolConfig) if f.name in mine}
        values["betas"] = (protocol.adam_beta1, protocol.adam_beta2)
        values["eps"] = protocol.adam_eps
        values.update(given)
        return cls(**values)

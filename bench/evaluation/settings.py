"""The evaluation protocol's settings: one frozen dataclass, the named presets, validation.

Every resolved value is written with every result (``results.json``'s ``protocol``), so a
result file says exactly how it was evaluated.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from bench.errors import ConfigError, UnknownNameError

PAPER_GRID = (1e-5, 1e-4, 1e-3)


def check_choice(field_name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{field_name} must be one of {list(choices)}, found {value!r}")


@dataclass(frozen=True)
class ProtocolConfig:
    """Every choice of the downstream evaluation protocol (DESIGN.md section 3).

    Attributes
    ----------
    preset : str
        Name of the preset the values came from (``paper`` or ``l3embedding``); overrides keep it.
    val_fraction : float
        Share of the training split held out for validation.
    val_unit : {"clip", "frame"}
        Split validation by whole clips (no clip on both sides) or by single frames (the authors'
        code; frames of one clip fall on both sides).
    scaler_fit : {"train", "train+val"}
        Which frames the standardisation statistics are fitted on.
    selection_unit : {"clip", "frame"}
        Validation accuracy used to pick the grid point: clip-level (summed likelihoods, as at test
        time) or frame-level (Keras ``val_acc``, the authors' code).
    tie_break : {"val_loss", "first"}
        Among grid points with equal validation accuracy: the lower validation loss, or the first
        in grid order (the authors' code used a strict ``>``).
    hidden_sizes : tuple of int
        Hidden layer widths of the MLP.
    learning_rates, weight_decays : tuple of float
        The grid. Weight decay is the Keras ``l2(wd)`` penalty ``wd * sum(W**2)`` on kernels only.
    batch_size, max_epochs, patience : int
        Mini-batch size; epoch cap; early-stopping patience on validation loss.
    adam_beta1, adam_beta2, adam_eps : float
        Adam parameters.
    repeats : int or None
        Trials per fold; ``None`` takes the dataset's default (ESC-50 5, UrbanSound8K 2, DCASE 1).
    min_val_per_class : int
        With a clip-level split, each class with at least two training clips gets at least this
        many validation clips, so no class is missing from validation.
    """

    preset: str = "paper"
    val_fraction: float = 0.10
    val_unit: str = "clip"
    scaler_fit: str = "train"
    selection_unit: str = "clip"
    tie_break: str = "val_loss"
    hidden_sizes: tuple[int, ...] = (512, 128)
    learning_rates: tuple[float, ...] = PAPER_GRID
    weight_decays: tuple[float, ...] = PAPER_GRID
    batch_size: int = 32
    max_epochs: int = 50
    patience: int = 20
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    repeats: int | None = None
    min_val_per_class: int = 1

    def __post_init__(self) -> None:
        check_choice("val_unit", self.val_unit, ("clip", "frame"))
        check_choice("scaler_fit", self.scaler_fit, ("train", "train+val"))
        check_choice("selection_unit", self.selection_unit, ("clip", "frame"))
        check_choice("tie_break", self.tie_break, ("val_loss", "first"))
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(f"val_fraction must be in (0, 1), found {self.val_fraction}")
        for name in ("batch_size", "max_epochs", "patience"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be a positive integer, found {getattr(self, name)}")
        if self.repeats is not None and self.repeats < 1:
            raise ConfigError(f"repeats must be at least 1, found {self.repeats}")
        if not self.learning_rates or not self.weight_decays:
            raise ConfigError("the learning-rate and weight-decay grids must not be empty")
        if any(h < 1 for h in self.hidden_sizes):
            raise ConfigError(f"hidden sizes must be positive, found {self.hidden_sizes}")
        # tuples, not lists, so the config stays hashable and frozen
        object.__setattr__(self, "hidden_sizes", tuple(int(h) for h in self.hidden_sizes))
        object.__setattr__(self, "learning_rates", tuple(float(x) for x in self.learning_rates))
        object.__setattr__(self, "weight_decays", tuple(float(x) for x in self.weight_decays))

    @property
    def grid(self) -> list[tuple[float, float]]:
        """Grid points as ``(learning_rate, weight_decay)``, learning rate varying slowest."""
        return [(lr, wd) for lr in self.learning_rates for wd in self.weight_decays]

    def replace(self, **overrides: Any) -> "ProtocolConfig":
        """A copy with some fields changed (validated); unknown field names are an error."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise ConfigError(f"unknown protocol field(s) {sorted(unknown)}; known: {sorted(known)}")
        return dataclasses.replace(self, **overrides)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for k in ("hidden_sizes", "learning_rates", "weight_decays"):
            d[k] = list(d[k])
        return d


PROTOCOL_PRESETS: dict[str, ProtocolConfig] = {
    # The paper's text, with the validation split made at clip level so nothing leaks, and the
    # scaler fitted on the training split only.
    "paper": ProtocolConfig(preset="paper"),
    # What marl/l3embedding did: 15 % of frames for validation, scaler fitted on train+val
    # frames, the grid chosen on frame-level validation accuracy, first point wins ties.
    "l3embedding": ProtocolConfig(preset="l3embedding", val_fraction=0.15, val_unit="frame",
                                  scaler_fit="train+val", selection_unit="frame",
                                  tie_break="first"),
}


def protocol_preset(name: str) -> ProtocolConfig:
    """The named protocol preset."""
    try:
        return PROTOCOL_PRESETS[name]
    except KeyError:
        raise UnknownNameError("protocol", name, list(PROTOCOL_PRESETS)) from None

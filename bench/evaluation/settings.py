"""The evaluation protocol's settings: one frozen dataclass, the named presets, validation.

Every resolved value is written with every result (``results.json``'s ``protocol``), so a
result file says exactly how it was evaluated. :func:`fingerprint` condenses the settings into
a short stable hash that the report prints next to every number.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from bench.errors import ConfigError, UnknownNameError
from bench.evaluation.ranges import check_numbers

PAPER_GRID = (1e-5, 1e-4, 1e-3)
POOLINGS = ("none", "mean", "max", "mean+max")
CLASSIFIERS = ("keras-mlp", "torch-mlp", "logreg")
INITS = ("glorot_uniform", "xavier_uniform", "xavier_normal", "torch_default")


def check_choice(field_name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{field_name} must be one of {list(choices)}, found {value!r}")


@dataclass(frozen=True)
class ProtocolConfig:
    """Every choice of the downstream evaluation protocol (docs/protocol.md).

    Attributes
    ----------
    preset : str
        Name of the preset the values came from (``paper``, ``l3embedding``, ``hear``,
        ``linear``, ``fewshot:K``); overrides keep it.
    val_fraction : float
        Share of the training split held out for validation (``val_source="holdout"``).
    val_unit : {"clip", "frame"}
        Split validation by whole clips (no clip on both sides) or by single frames (the authors'
        code; frames of one clip fall on both sides).
    scaler_fit : {"train", "train+val", "none"}
        Which frames the standardisation statistics are fitted on; ``none``: no standardisation.
    selection_unit : {"clip", "frame"}
        Validation accuracy used to pick the grid point (and to monitor, with
        ``monitor="val_accuracy"``): clip-level (summed likelihoods, as at test time) or
        frame-level (Keras ``val_acc``, the authors' code).
    tie_break : {"val_loss", "first"}
        Among grid points with equal validation accuracy: the lower validation loss, or the first
        in grid order (the authors' code used a strict ``>``).
    hidden_sizes : tuple of int
        Hidden layer widths of the MLP; ``()`` is a linear classifier.
    learning_rates, weight_decays : tuple of float
        The grid. Weight decay is the Keras ``l2(wd)`` penalty ``wd * sum(W**2)`` on kernels only.
    batch_size, max_epochs, patience : int
        Mini-batch size; epoch cap (for ``logreg``: the L-BFGS iteration cap); early-stopping
        patience, counted in validation checks.
    adam_beta1, adam_beta2, adam_eps : float
        Adam parameters.
    repeats : int or None
        Trials per fold; ``None`` takes the dataset's default (ESC-50 5, UrbanSound8K 2, DCASE 1).
    min_val_per_class : int
        With a clip-level split, each class with at least two training clips gets at least this
        many validation clips, so no class is missing from validation.
    pooling : {"none", "mean", "max", "mean+max"}
        ``none``: train on frames and sum frame likelihoods per test clip (the paper). Otherwise
        each clip's frames become one vector first: their mean (HEAR's scene embeddings), max, or
        mean plus max added element-wise (EVAR's ``mean_max``).
    classifier : {"keras-mlp", "torch-mlp", "logreg"}
        ``keras-mlp``: the paper's recipe, all grid points trained as one stacked model.
        ``torch-mlp``: a PyTorch head trained one grid point at a time, which also offers the
        fields below (dropout, batch norm, initialisations, monitors). ``logreg``: multinomial
        logistic regression (L2, L-BFGS, no validation), as scikit-learn's default.
    hidden_grid : tuple of tuple of int
        Hidden-layer shapes searched as a grid axis (``torch-mlp``); ``()``: ``hidden_sizes`` only.
    inits : tuple of str
        Weight initialisations searched as a grid axis: ``glorot_uniform`` (Keras: zero biases),
        ``xavier_uniform``/``xavier_normal`` (gain 1 after the input, sqrt(2) after a ReLU,
        PyTorch's default biases), ``torch_default`` (``nn.Linear``'s own).
    dropout : float
        Dropout after each hidden layer (``torch-mlp``).
    batch_norm : bool
        Batch normalisation after each hidden linear layer, before dropout and ReLU (HEAR).
    monitor : {"val_loss", "val_accuracy"}
        What early stopping and the kept weights follow.
    monitor_ties : {"keep", "update"}
        An equal monitored value: keeps the earlier weights (strict improvement: Keras,
        Lightning) or counts as an improvement (``>=``: EVAR).
    val_every : int
        Validate every this many epochs (Lightning's ``check_val_every_n_epoch``).
    shuffle : bool
        Reshuffle the training rows every epoch.
    val_source : {"holdout", "next_fold"}
        Validation held out of the training folds, or the whole fold after the test fold
        (folds in sorted order, wrapping; the remaining folds train), as HEAR does.
    grid_sample : int
        Evaluate a random subset of this many grid points (per repeat, seeded); 0: all of them.
    grid_search : {"every_split", "first_split"}
        Search the grid in every split, or only in the first and train the other splits with
        the point chosen there (HEAR).
    train_per_class : int
        Few-shot: keep this many training clips per class in each split and repeat (seeded);
        0 keeps all.
    logreg_c : float
        Inverse L2 strength of ``logreg`` (scikit-learn's ``C``).
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
    # -- beyond the paper: what the peers' protocols need. The defaults are the paper's
    # behaviour, and a field at its default is left out of the run key and the fingerprint
    # (identity_dict), so runs made before these fields existed keep their ids.
    pooling: str = "none"
    classifier: str = "keras-mlp"
    hidden_grid: tuple[tuple[int, ...], ...] = ()
    inits: tuple[str, ...] = ("glorot_uniform",)
    dropout: float = 0.0
    batch_norm: bool = False
    monitor: str = "val_loss"
    monitor_ties: str = "keep"
    val_every: int = 1
    shuffle: bool = True
    val_source: str = "holdout"
    grid_sample: int = 0
    grid_search: str = "every_split"
    train_per_class: int = 0
    logreg_c: float = 1.0

    def __post_init__(self) -> None:
        check_numbers(self)
        check_choice("val_unit", self.val_unit, ("clip", "frame"))
        check_choice("scaler_fit", self.scaler_fit, ("train", "train+val", "none"))
        check_choice("selection_unit", self.selection_unit, ("clip", "frame"))
        check_choice("tie_break", self.tie_break, ("val_loss", "first"))
        check_choice("pooling", self.pooling, POOLINGS)
        check_choice("classifier", self.classifier, CLASSIFIERS)
        check_choice("monitor", self.monitor, ("val_loss", "val_accuracy"))
        check_choice("monitor_ties", self.monitor_ties, ("keep", "update"))
        check_choice("val_source", self.val_source, ("holdout", "next_fold"))
        check_choice("grid_search", self.grid_search, ("every_split", "first_split"))
        for init in self.inits:
            check_choice("inits", init, INITS)
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(f"val_fraction must be in (0, 1), found {self.val_fraction}")
        for name in ("batch_size", "max_epochs", "patience", "val_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be a positive integer, found {getattr(self, name)}")
        for name in ("grid_sample", "train_per_class"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be 0 or more, found {getattr(self, name)}")
        if self.repeats is not None and self.repeats < 1:
            raise ConfigError(f"repeats must be at least 1, found {self.repeats}")
        if not self.learning_rates or not self.weight_decays or not self.inits:
            raise ConfigError("the learning-rate, weight-decay and init grids must not be empty")
        if any(h < 1 for h in self.hidden_sizes) or any(h < 1 for s in self.hidden_grid
                                                          for h in s):
            raise ConfigError(f"hidden sizes must be positive, found {self.hidden_sizes} "
                              f"{self.hidden_grid or ''}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), found {self.dropout}")
        if not self.logreg_c > 0:
            raise ConfigError(f"logreg_c must be positive, found {self.logreg_c}")
        # tuples, not lists, so the config stays hashable and frozen
        object.__setattr__(self, "hidden_sizes", tuple(int(h) for h in self.hidden_sizes))
        object.__setattr__(self, "learning_rates", tuple(float(x) for x in self.learning_rates))
        object.__setattr__(self, "weight_decays", tuple(float(x) for x in self.weight_decays))
        object.__setattr__(self, "hidden_grid",
                           tuple(tuple(int(h) for h in s) for s in self.hidden_grid))
        object.__setattr__(self, "inits", tuple(self.inits))
        self._check_classifier()

    def _check_classifier(self) -> None:
        """The stacked Keras trainer implements the paper's recipe only: settings that need the
        PyTorch head are refused with the field that needs it."""
        if self.classifier != "keras-mlp":
            return
        needs_torch = [name for name, default in _TORCH_ONLY.items()
                       if getattr(self, name) != default]
        if needs_torch:
            raise ConfigError(f"protocol field(s) {needs_torch} need classifier 'torch-mlp'; "
                              f"'keras-mlp' (the paper's stacked trainer) does not offer them",
                              hint="add classifier torch-mlp, or keep those fields at their "
                                   "defaults")

    @property
    def grid(self) -> list[tuple[float, float]]:
        """Grid points as ``(learning_rate, weight_decay)``, learning rate varying slowest."""
        return [(lr, wd) for lr in self.learning_rates for wd in self.weight_decays]

    @property
    def hidden_options(self) -> tuple[tuple[int, ...], ...]:
        """The hidden-layer shapes searched: ``hidden_grid``, else ``(hidden_sizes,)``."""
        return self.hidden_grid or (self.hidden_sizes,)

    @property
    def needs_validation(self) -> bool:
        """Whether the classifier needs a validation set (early stopping, grid choice)."""
        return self.classifier != "logreg"

    def replace(self, **overrides: Any) -> "ProtocolConfig":
        """A copy with some fields changed (validated); unknown field names are an error."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise ConfigError(f"unknown protocol field(s) {sorted(unknown)}; known: {sorted(known)}")
        return dataclasses.replace(self, **overrides)

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-ready (what ``results.json`` records)."""
        d = dataclasses.asdict(self)
        for k in ("hidden_sizes", "learning_rates", "weight_decays", "inits"):
            d[k] = list(d[k])
        d["hidden_grid"] = [list(s) for s in self.hidden_grid]
        return d

    def identity_dict(self) -> dict[str, Any]:
        """:meth:`to_dict` without the fields added after the first release that are at their
        defaults: what identifies the protocol in run keys and fingerprints, so that a run made
        before a field existed keeps its id."""
        return identity_of(self.to_dict())


#: the fields added for the peers' presets, with their defaults (the paper's behaviour)
EXTENDED_DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in dataclasses.fields(ProtocolConfig) if f.name in (
        "pooling", "classifier", "hidden_grid", "inits", "dropout", "batch_norm", "monitor",
        "monitor_ties", "val_every", "shuffle", "val_source", "grid_sample", "grid_search",
        "train_per_class", "logreg_c")}
#: fields whose non-default values only the torch-mlp head implements
_TORCH_ONLY = {k: EXTENDED_DEFAULTS[k] for k in ("hidden_grid", "inits", "dropout", "batch_norm",
                                                 "monitor", "monitor_ties", "val_every",
                                                 "shuffle")}


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


def identity_of(protocol: dict[str, Any]) -> dict[str, Any]:
    """A recorded protocol dict without the extended fields that are at their defaults (or
    absent, in records written before they existed)."""
    out = {}
    for k, v in protocol.items():
        if k in EXTENDED_DEFAULTS and _jsonable(v) == _jsonable(EXTENDED_DEFAULTS[k]):
            continue
        out[k] = v
    return out


def resolved_settings(protocol: dict[str, Any]) -> dict[str, Any]:
    """A recorded protocol dict with every field present (absent extended fields take their
    defaults), in JSON form: what two runs' settings are compared on."""
    out = {k: _jsonable(v) for k, v in EXTENDED_DEFAULTS.items()}
    out.update({k: _jsonable(v) for k, v in protocol.items()})
    return out


def fingerprint(protocol: ProtocolConfig | dict[str, Any]) -> str:
    """A short stable hash (8 hex digits) of the resolved settings, the preset's name left out:
    equal settings give equal fingerprints whatever they were called."""
    d = protocol.to_dict() if isinstance(protocol, ProtocolConfig) else dict(protocol)
    d = identity_of(d)
    d.pop("preset", None)
    text = json.dumps({k: _jsonable(v) for k, v in d.items()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


PROTOCOL_PRESETS: dict[str, ProtocolConfig] = {
    # The paper's text, with the validation split made at clip level so nothing leaks, and the
    # scaler fitted on the training split only.
    "paper": ProtocolConfig(preset="paper"),
    # What marl/l3embedding did: 15 % of frames for validation, scaler fitted on train+val
    # frames, the grid chosen on frame-level validation accuracy, first point wins ties.
    "l3embedding": ProtocolConfig(preset="l3embedding", val_fraction=0.15, val_unit="frame",
                                  scaler_fit="train+val", selection_unit="frame",
                                  tie_break="first"),
    # hear-eval-kit 2021.1.3 on a scene task (heareval/predictions/task_predictions.py): mean
    # scene embeddings, no standardisation, the next fold validates, an MLP of 1 or 2 x 1024
    # (BatchNorm, dropout 0.1, ReLU), Adam without decay, batch 1024 unshuffled, validation
    # every 3 epochs, early stopping on validation accuracy (patience 20 checks, 500 epochs),
    # 8 of the 16 grid points searched on the first split only.
    "hear": ProtocolConfig(preset="hear", pooling="mean", classifier="torch-mlp",
                           scaler_fit="none", val_source="next_fold", hidden_sizes=(1024,),
                           hidden_grid=((1024,), (1024, 1024)),
                           inits=("xavier_uniform", "xavier_normal"), dropout=0.1,
                           batch_norm=True, learning_rates=(3.2e-3, 1e-3, 3.2e-4, 1e-4),
                           weight_decays=(0.0,), batch_size=1024, max_epochs=500, patience=20,
                           val_every=3, monitor="val_accuracy", monitor_ties="keep",
                           shuffle=False, tie_break="first", grid_sample=8,
                           grid_search="first_split"),
    # EVAR's linear evaluation (nttcslab/eval-audio-repr lineareval.py with TorchMLPClassifier2):
    # mean+max pooled clips, standardised (fitted before 10 % are drawn for validation), one
    # linear layer, Adam lr 3e-4 (the OpenL3 configs), batch 200, at most 200 epochs, early
    # stopping on validation accuracy with ">=" (patience 20), no schedule.
    "linear": ProtocolConfig(preset="linear", pooling="mean+max", classifier="torch-mlp",
                             scaler_fit="train+val", val_fraction=0.10, hidden_sizes=(),
                             inits=("torch_default",), learning_rates=(3e-4,),
                             weight_decays=(5e-9,), batch_size=200, max_epochs=200,
                             patience=20, monitor="val_accuracy", monitor_ties="update",
                             tie_break="first"),
}
#: the few-shot preset's base; ``fewshot:K`` sets ``train_per_class=K``. MTEB's audio
#: classification: K clips per class, mean-pooled, logistic regression (scikit-learn defaults:
#: C=1, L-BFGS, 100 iterations, no standardisation), 5 experiments.
FEWSHOT_DEFAULT_K = 8
FEWSHOT = ProtocolConfig(preset=f"fewshot:{FEWSHOT_DEFAULT_K}", pooling="mean",
                         classifier="logreg", scaler_fit="none", logreg_c=1.0, max_epochs=100,
                         train_per_class=FEWSHOT_DEFAULT_K, repeats=5)
#: the names the command line offers
PRESET_NAMES = (*PROTOCOL_PRESETS, "fewshot:K")


def protocol_preset(name: str) -> ProtocolConfig:
    """The named protocol preset; ``fewshot:K`` (or ``fewshot``, K=8) takes K training clips per
    class."""
    if name in PROTOCOL_PRESETS:
        return PROTOCOL_PRESETS[name]
    base, sep, k = name.partition(":")
    if base == "fewshot":
        try:
            shots = int(k) if sep else FEWSHOT_DEFAULT_K
        except ValueError:
            shots = 0
        if shots < 1:
            raise ConfigError(f"few-shot preset must look like fewshot:K with K >= 1 training "
                              f"clips per class, found {name!r}", hint="e.g. --protocol fewshot:8")
        return FEWSHOT.replace(preset=f"fewshot:{shots}", train_per_class=shots)
    raise UnknownNameError("protocol", name, list(PRESET_NAMES))

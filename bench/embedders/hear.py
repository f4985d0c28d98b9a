"""``hear:MODULE``: any installed package that follows the HEAR API, as a bench embedder.

The package's ``load_model`` is called with the ``--embedder-option KEY=VALUE`` pairs as keyword
arguments (``model_file_path=ckpt.pt``), with network connections refused (:mod:`netguard`),
and the model is checked once on a probe batch (:mod:`hear_checks`). Clips reach the model at
its ``sample_rate`` through bench's decoder and resampler, in batches of clips of equal length
(the HEAR API takes a rectangular ``[n, samples]`` batch; the pipeline groups them).

Two modes, chosen by the name:

* ``hear:MODULE`` (or ``hear:MODULE#timestamp``): ``get_timestamp_embeddings``; each
  timestamp's embedding is one frame, its timestamp is stored with it;
* ``hear:MODULE#scene``: ``get_scene_embeddings``; one frame per clip.

Options that bench keeps for itself (never passed to ``load_model``) are listed in
:data:`BENCH_OPTIONS`. Identity (cache key, results.json): the module, its distribution's name
and version (or the sha256 of the module file when it belongs to none), the mode, the
``load_model`` options with every file they name replaced by its sha256, the timestamp unit and
the frame pooling.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Callable

import numpy as np

from bench.embedders.base import Embedder, EmbedderSpec
from bench.embedders.hear_checks import Declared, declared, scene_output, timestamp_output
from bench.embedders.netguard import refuse_network
from bench.embedders.weights import explicit_sha256
from bench.errors import ConfigError, EmbedderError, WeightsError
from bench.io.fileio import file_digest

#: bump when a change here alters the numbers a HEAR model gives through bench
ADAPTER_VERSION = "hear-1"
MODES = ("timestamp", "scene")
#: options bench reads itself; every other option goes to ``load_model``
BENCH_OPTIONS = {
    "trained_on": "datasets the model was trained or fine-tuned on (comma-separated); a run on "
                  "one of them is marked",
    "frame_hop": "seconds: average the timestamp embeddings in consecutive bins of this length "
                 "(fewer, coarser frames; timestamp mode only)",
    "allow_network": "true: let load_model reach the network (its weights are then not "
                     "identified by bench)",
}
#: seconds of noise per clip in the load-time probe (HEAR's validator uses 1.07 to 4 s)
PROBE_SECONDS = 2.0


def parse_target(target: str) -> tuple[str, str]:
    """``"pkg.mod#scene"`` -> ``("pkg.mod", "scene")``; the mode defaults to ``timestamp``."""
    module, _, mode = target.partition("#")
    mode = mode or "timestamp"
    if not module or not all(part.isidentifier() for part in module.split(".")):
        raise ConfigError(f"expected hear:MODULE[#scene] with MODULE an importable module name, "
                          f"found 'hear:{target}'", hint="e.g. --embedder hear:panns_hear")
    if mode not in MODES:
        raise ConfigError(f"unknown HEAR mode {mode!r} in 'hear:{target}'; known: "
                          f"{', '.join(MODES)}")
    return module, mode


def distribution_of(module_name: str) -> tuple[str | None, str | None]:
    """The installed distribution (name, version) that provides ``module_name``'s top package."""
    from importlib import metadata

    top = module_name.split(".")[0]
    names = metadata.packages_distributions().get(top) or []
    for name in sorted(set(names)):
        try:
            return name, metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None, None


class HearEmbedder(Embedder):
    """A HEAR-API package as an embedder (see the module docstring).

    Parameters
    ----------
    target : str
        What follows ``hear:`` in the name: ``MODULE`` or ``MODULE#scene``.
    options : tuple of (str, object)
        ``load_model`` keyword arguments, plus bench's own :data:`BENCH_OPTIONS`.
    """

    accepts_options = True
    batch_clips = True
    #: clips per call (all of one length)
    default_batch_size = 16

    def __init__(self, *, target: str, options: tuple[tuple[str, Any], ...] = (),
                 device: str = "cpu", weights_dir: Path | None = None, download: bool = True):
        super().__init__(device=device, weights_dir=weights_dir, download=download)
        self.module_name, self.mode = parse_target(target)
        self.load_options: dict[str, Any] = {}
        self.trained_on: tuple[str, ...] = ()
        self.frame_hop: float | None = None
        self.allow_network = False
        seen: set[str] = set()
        for key, value in options:
            if key in seen:
                raise ConfigError(f"embedder option {key!r} given twice")
            seen.add(key)
            self._option(key, value)
        if self.frame_hop is not None and self.mode == "scene":
            raise ConfigError("frame_hop pools timestamp embeddings; it has no meaning with "
                              "#scene (one frame per clip)")
        name = f"hear:{self.module_name}" + ("#scene" if self.mode == "scene" else "")
        # sample rate and size are unknown until load_model: prepare() fills them in
        self.spec = EmbedderSpec(name=name, sample_rate=0, dim=0, window_s=None,
                                 hop_s=self.frame_hop or 0.0, version=ADAPTER_VERSION,
                                 trained_on=self.trained_on)
        self.module: Any = None
        self.model: Any = None
        self.declared: Declared | None = None
        self.timestamp_unit: str | None = None

    def _option(self, key: str, value: Any) -> None:
        if key == "trained_on":
            items = value if isinstance(value, (list, tuple)) else str(value).split(",")
            self.trained_on = tuple(s.strip() for s in map(str, items) if s.strip())
        elif key == "frame_hop":
            try:
                self.frame_hop = float(value)
            except (TypeError, ValueError):
                self.frame_hop = -1.0
            if not self.frame_hop > 0:
                raise ConfigError(f"frame_hop must be a positive number of seconds, found "
                                  f"{value!r}")
        elif key == "allow_network":
            if not isinstance(value, bool):
                raise ConfigError(f"allow_network must be true or false, found {value!r}")
            self.allow_network = value
        else:
            self.load_options[key] = value

    # -- loading ---------------------------------------------------------------------------

    def prepare(self) -> EmbedderSpec:
        import torch

        self.module = self._import()
        distribution, version = distribution_of(self.module_name)
        files = {k: explicit_sha256(Path(v), self.weights_dir)
                 for k, v in self.load_options.items() if _names_file(v)}
        self.model = self._load()
        if not isinstance(self.model, torch.nn.Module):
            raise EmbedderError(f"{self.module_name}.load_model returned a "
                                f"{type(self.model).__name__}; bench runs PyTorch HEAR models "
                                f"(torch.nn.Module) only",
                                hint="TensorFlow HEAR models are not supported yet")
        self.model.to(self.device)
        self.model.eval()  # the API does not say; no package wants dropout at inference
        self.declared = declared(self.model, self.module_name)
        hop_s = self._probe()
        ident: list[tuple[str, Any]] = [("module", self.module_name), ("mode", self.mode),
                                        ("distribution", distribution),
                                        ("distribution_version", version)]
        if distribution is None:
            ident.append(("module_sha256", _module_sha256(self.module)))
        ident.append(("load_model", tuple(sorted(
            (k, f"sha256:{files[k]}" if k in files else v) for k, v in self.load_options.items()))))
        if self.mode == "timestamp":
            ident += [("timestamp_unit", self.timestamp_unit), ("frame_hop", self.frame_hop)]
        if self.allow_network:
            ident.append(("allow_network", True))
        dim = self.declared.scene_dim if self.mode == "scene" else self.declared.timestamp_dim
        self.spec = self.spec.replace(
            sample_rate=self.declared.sample_rate, dim=dim, hop_s=hop_s,
            weights_sha256="+".join(files[k] for k in sorted(files)) or None,
            options=tuple(ident))
        return self.spec

    def _import(self) -> Any:
        try:
            module = importlib.import_module(self.module_name)
        except ImportError as exc:
            raise ConfigError(f"cannot import the HEAR module {self.module_name!r}: {exc}",
                              hint=f"install the package that provides it (pip install ...) in "
                                   f"this environment") from exc
        needed = ["load_model", "get_scene_embeddings" if self.mode == "scene"
                  else "get_timestamp_embeddings"]
        for fn in needed:
            if not callable(getattr(module, fn, None)):
                raise EmbedderError(f"module {self.module_name} has no function {fn}(); the HEAR "
                                    f"API requires load_model, get_timestamp_embeddings and "
                                    f"get_scene_embeddings")
        return module

    def _load(self) -> Any:
        call = f"{self.module_name}.load_model({_call_args(self.load_options)})"
        if self.allow_network:
            return self.module.load_model(**self.load_options)
        with refuse_network() as attempts:
            try:
                model = self.module.load_model(**self.load_options)
            except Exception as exc:  # noqa: BLE001 (a package's own failure, made one line)
                if attempts:
                    raise self._download_error(attempts.describe()) from exc
                raise EmbedderError(f"{call} failed: {type(exc).__name__}: {exc}",
                                    hint="run that call in Python to see the traceback") from exc
        if attempts:
            self.notes.append(f"{self.module_name}.load_model tried to reach "
                              f"{attempts.describe()}; bench refused it and the model loaded "
                              f"anyway")
        return model

    def _download_error(self, targets: str) -> WeightsError:
        distribution, version = distribution_of(self.module_name)
        who = self.module_name + (f" (package {distribution} {version})" if distribution else "")
        given = (f"it was given {_call_args(self.load_options)}" if self.load_options
                 else "it was given no weights file")
        return WeightsError(
            f"{who} tried to download during load_model ({targets}); bench runs HEAR models "
            f"offline and refused. {given}",
            hint="download that file on a machine with internet access and pass it with "
                 "--embedder-option model_file_path=PATH (or the argument this package's "
                 "load_model takes for its weights); a package that always downloads reads its "
                 "cache (torch.hub: ~/.cache/torch/hub/checkpoints), so placing the file there "
                 "works too; --embedder-option allow_network=true lets it download (the weights "
                 "are then not identified)")

    def _probe(self) -> float:
        """Run the model once on noise and check everything the API promises; return the
        frame period in seconds (``frame_hop``, the median timestamp spacing, or 0 for scene)."""
        rate = self.declared.sample_rate
        rng = np.random.default_rng(0)
        n = int(round(PROBE_SECONDS * rate))
        audio = (rng.random((2, n), dtype=np.float32) * 2 - 1) * 0.5
        if self.mode == "scene":
            self._scene(audio)
            return 0.0
        _, seconds = self._timestamps(audio, strict_end=True)
        if self.frame_hop is not None:
            return self.frame_hop
        if seconds.shape[1] < 2:
            return PROBE_SECONDS
        # to the microsecond: float32 timestamps put noise in the last digits of the identity
        return round(float(np.median(np.diff(seconds[0]))), 6)

    # -- embedding -------------------------------------------------------------------------

    def _call(self, fn: Callable, audio: np.ndarray) -> Any:
        import torch

        x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)).to(self.device)
        with torch.no_grad():
            return fn(x, self.model)

    def _scene(self, audio: np.ndarray) -> np.ndarray:
        out = self._call(self.module.get_scene_embeddings, audio)
        return scene_output(out, n_clips=len(audio), dim=self.declared.scene_dim,
                            module=self.module_name)

    def _timestamps(self, audio: np.ndarray, strict_end: bool) -> tuple[np.ndarray, np.ndarray]:
        out = self._call(self.module.get_timestamp_embeddings, audio)
        emb, seconds, unit = timestamp_output(
            out, n_clips=len(audio), n_samples=audio.shape[1],
            sample_rate=self.declared.sample_rate, dim=self.declared.timestamp_dim,
            module=self.module_name, unit=self.timestamp_unit, strict_end=strict_end)
        if self.timestamp_unit is None and unit != "ms":
            self.notes.append(f"HEAR model {self.module_name} returns timestamps in seconds, "
                              f"not milliseconds as the HEAR API says; bench reads them as "
                              f"seconds")
        self.timestamp_unit = unit
        return emb, seconds

    def embed_sequences(self, waveforms: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Embed clips of one length in one call; per clip ``(frames, timestamps_s)``."""
        if len({len(w) for w in waveforms}) != 1:
            raise ValueError("embed_sequences takes clips of one length")
        audio = np.stack(waveforms)
        if self.mode == "scene":
            emb = self._scene(audio)
            return [(emb[i:i + 1], np.zeros(1)) for i in range(len(emb))]
        emb, seconds = self._timestamps(audio, strict_end=False)
        if self.frame_hop is not None:
            return [pool_frames(emb[i], seconds[i], self.frame_hop) for i in range(len(emb))]
        return [(emb[i], seconds[i]) for i in range(len(emb))]

    def embed_sequence(self, waveform: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.embed_sequences([waveform])[0]


def pool_frames(emb: np.ndarray, seconds: np.ndarray, hop: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """Average the embeddings whose timestamps fall in one bin ``[k hop, (k + 1) hop)``.

    Returns the pooled frames, in time order, and each bin's start ``k * hop``. Empty bins
    (timestamps sparser than ``hop``) give no frame.
    """
    bins = np.floor(seconds / hop + 1e-9).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, bins[1:] != bins[:-1]])
    sums = np.add.reduceat(emb.astype(np.float64), starts, axis=0)
    counts = np.diff(np.r_[starts, len(bins)])
    return (sums / counts[:, None]).astype(np.float32), bins[starts] * hop


def _names_file(value: Any) -> bool:
    return isinstance(value, (str, Path)) and bool(str(value)) and Path(value).is_file()


def _module_sha256(module: Any) -> str | None:
    path = getattr(module, "__file__", None)
    return file_digest(Path(path), "sha256") if path else None


def _call_args(options: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in options.items())

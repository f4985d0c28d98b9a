"""The embedder contract.

An embedder is a frozen :class:`EmbedderSpec` plus a batch function. Two kinds exist:

* windowed (``spec.window_s`` set): the core decodes, resamples to ``spec.sample_rate``, cuts
  windows of ``window_s`` every ``hop_s`` (docs/protocol.md, "One run") and calls
  :meth:`Embedder.embed_windows` on batches of windows gathered across clips;
* sequence (``spec.window_s is None``): the embedder sees a whole clip at its native rate and
  returns its own frames and their timestamps from :meth:`Embedder.embed_sequence` (SoundNet).

Decoding, resampling, framing and batching live once in the core (``bench.store.pipeline``), never in an
adapter. Heavy work (weights, networks) happens in :meth:`Embedder.prepare`, not in ``__init__``,
so listing and describing embedders stays cheap.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: listing embedders must not load numpy
    import numpy as np


@dataclass(frozen=True)
class EmbedderSpec:
    """Everything that identifies an embedder's numbers.

    Attributes
    ----------
    name : str
        Registry name (``l3-m256-music``) or import path.
    sample_rate : int
        Native sample rate the batch function expects.
    dim : int
        Embedding dimension.
    window_s : float or None
        Window length in seconds for windowed embedders; ``None`` for sequence embedders.
    hop_s : float
        Hop between frames in seconds (for sequence embedders: the nominal frame period).
    version : str
        Version of this adapter's frontend and network code; bump it whenever a change alters
        the numbers, which invalidates cached embeddings.
    weights_url : str or None
        Where the official weights come from.
    weights_sha256 : str or None
        sha256 of the weights file actually used (set once the file is located).
    options : tuple of (str, object)
        Anything else that changes the numbers (layer, output transform, precision).
    trained_on : tuple of str
        Datasets the network was trained or fine-tuned on (``("audioset", "esc50")``); a run on
        one of them is marked in results.json, on the terminal and in the report. Not part of
        the identity (it does not change the numbers): :meth:`to_dict` leaves it out.
    """

    name: str
    sample_rate: int
    dim: int
    window_s: float | None
    hop_s: float
    version: str
    weights_url: str | None = None
    weights_sha256: str | None = None
    options: tuple[tuple[str, Any], ...] = ()
    trained_on: tuple[str, ...] = ()

    @property
    def windowed(self) -> bool:
        return self.window_s is not None

    @property
    def window_samples(self) -> int:
        if self.window_s is None:
            raise ValueError(f"embedder {self.name} is not windowed")
        return int(round(self.window_s * self.sample_rate))

    @property
    def hop_samples(self) -> int:
        return int(round(self.hop_s * self.sample_rate))

    def replace(self, **changes: Any) -> "EmbedderSpec":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The identity: every field that changes the numbers (the store's and the run's key)."""
        d = dataclasses.asdict(self)
        d["options"] = {k: v for k, v in self.options}
        del d["trained_on"]
        return d


class Embedder:
    """Base class of every embedder; a user's own embedder subclasses it too.

    Parameters
    ----------
    device : str
        ``cpu`` or ``cuda[:N]``.
    weights_dir : Path, optional
        Where weights files are looked up and stored.
    download : bool
        Whether a missing weights file may be fetched.

    Notes
    -----
    Subclasses set :attr:`spec` (a class attribute or in ``__init__``), implement
    :meth:`embed_windows` (windowed) or :meth:`embed_sequence` (sequence), and load weights in
    :meth:`prepare`, returning the spec with ``weights_sha256`` filled in when weights are used.
    """

    spec: EmbedderSpec
    #: windows per call that suits this network on a CPU
    default_batch_size: int = 64
    #: approximate cost of one window (or one second, for sequence embedders), for estimates
    gflop_per_window: float | None = None
    #: sequence embedders only: the pipeline hands :meth:`embed_sequences` batches of clips of
    #: one length (up to the batch size, counted in clips) instead of one clip at a time
    batch_clips: bool = False
    #: whether ``--embedder-option KEY=VALUE`` pairs reach the constructor as ``options=``
    accepts_options: bool = False

    def __init__(self, *, device: str = "cpu", weights_dir: Path | None = None,
                 download: bool = True):
        self.device = device
        self.weights_dir = Path(weights_dir) if weights_dir is not None else None
        self.download = download
        #: things :meth:`prepare` found worth telling (a run prints them and records them
        #: among its warnings)
        self.notes: list[str] = []

    def prepare(self) -> EmbedderSpec:
        """Load weights and build the network; return the final spec. Called once before use."""
        return self.spec

    def embed_windows(self, windows: np.ndarray) -> np.ndarray:
        """Embed a batch of windows.

        Parameters
        ----------
        windows : ndarray, shape (n, spec.window_samples), float32
            Mono audio at ``spec.sample_rate`` in [-1, 1].

        Returns
        -------
        ndarray, shape (n, spec.dim), float32
        """
        raise NotImplementedError(f"{type(self).__name__} is not a windowed embedder")

    def embed_sequence(self, waveform: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Embed one whole clip (sequence embedders).

        Parameters
        ----------
        waveform : ndarray, shape (n_samples,), float32
            Mono audio at ``spec.sample_rate`` in [-1, 1].

        Returns
        -------
        embeddings : ndarray, shape (n_frames, spec.dim), float32
        timestamps : ndarray, shape (n_frames,), float64
            Start time of each frame in seconds.
        """
        raise NotImplementedError(f"{type(self).__name__} is not a sequence embedder")

    def embed_sequences(self, waveforms: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Embed several whole clips of one length (sequence embedders with ``batch_clips``).

        Parameters
        ----------
        waveforms : list of ndarray, each shape (n_samples,), float32
            Clips of equal length at ``spec.sample_rate``.

        Returns
        -------
        list of (embeddings, timestamps)
            Per clip, what :meth:`embed_sequence` returns.
        """
        return [self.embed_sequence(w) for w in waveforms]

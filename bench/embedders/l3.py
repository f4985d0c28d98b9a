"""L3-Net (OpenL3) audio embeddings: twelve registry names, one class.

The names, dims, rates and weights files are the rows of the family's table
(:mod:`bench.embedders.l3_meta`): ``l3-{linear,m128,m256}-{music,env}`` give 6144-d embeddings
and the same names with ``-512`` give 512-d ones (the same network, another final max-pool).
Windows are 1 s at 48 kHz every 0.1 s (the core cuts them, docs/protocol.md). Weights are the
official OpenL3 Keras files, fetched by :mod:`bench.embedders.weights`; the network and frontend
are in :mod:`bench.embedders.l3_net`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bench.embedders import l3_frontend, l3_keras, l3_meta, l3_net, weights
from bench.embedders.base import Embedder, EmbedderSpec
from bench.embedders.l3_frontend import output_shape
from bench.embedders.l3_keras import POOL_SIZES, conv_gflop
from bench.embedders.torch_util import (as_tensor, autocast, check_precision, place,
                                        torch_device)

#: bump when a change alters the numbers (invalidates stored embeddings)
VERSION = "l3-torch-1/kapre-0.1.4-frontend"


class L3Embedder(Embedder):
    """One L3-Net audio model.

    Parameters
    ----------
    name : str, optional
        A row of :data:`bench.embedders.l3_meta.FAMILY` (``l3-m256-music-512``); when given,
        the three factors below are read from it.
    input_repr : {"linear", "mel128", "mel256"}
    content_type : {"music", "env"}
        The AudioSet subset the model was trained on.
    dim : {6144, 512}
    weights_path : Path, optional
        An OpenL3 audio weights file (``.h5`` or ``.h5.gz``) to use instead of the weights
        directory's.
    precision : {"float32", "bfloat16", "float16"}
        Network precision (recorded in the spec).
    device, weights_dir, download
        See :class:`~bench.embedders.base.Embedder`.
    """

    default_batch_size = 32

    def __init__(self, *, name: str | None = None, input_repr: str = "mel256",
                 content_type: str = "music", dim: int = 6144, weights_path: Path | None = None,
                 precision: str = "float32", **base: Any):
        super().__init__(**base)
        self.meta = (l3_meta.FAMILY.row(name) if name is not None
                     else l3_meta.by_factors(input_repr, content_type, dim))
        assert self.meta.input_repr is not None and self.meta.content is not None
        self.input_repr, self.content_type = self.meta.input_repr, self.meta.content
        self.precision = check_precision(precision, self.device)
        self.weights_path = Path(weights_path) if weights_path is not None else None
        self.pool_size = POOL_SIZES[self.input_repr][self.meta.dim]
        self.spec = self.meta.spec(VERSION, options=(
            ("input_repr", self.input_repr), ("content_type", self.content_type),
            ("pool", self.pool_size), ("precision", precision)))
        self.gflop_per_window = conv_gflop(*output_shape(self.input_repr))
        self._frontend = self._net = None

    def prepare(self) -> EmbedderSpec:
        """Locate (or fetch) the weights, check them, build the frontend and network."""
        resolved = weights.resolve(self.meta, self.weights_dir, download=self.download,
                                   explicit={"network": self.weights_path})["network"]
        w = l3_keras.load(resolved.path)
        dft = mel = None
        frontend_source = "computed"
        if w.frontend is not None:
            l3_frontend.check_frontend(self.input_repr, *w.frontend_size, source=str(resolved.path))
            same = l3_frontend.matches_file(self.input_repr, w.frontend)
            if not all(same.values()):
                if not same["dft"]:
                    n_fft = w.frontend_size[0]
                    dft = (w.frontend["real"].reshape(n_fft, -1),
                           w.frontend["imag"].reshape(n_fft, -1))
                if not same.get("mel", True):
                    mel = w.frontend["mel"]
                frontend_source = "file"
        self._frontend = place(l3_net.KapreFrontend(self.input_repr, dft=dft, mel=mel),
                               self.device, channels_last=False)
        net = l3_net.L3AudioNet(self.pool_size).load_keras(w)
        self._net = place(net, self.device, channels_last=True)
        options = self.spec.options + ((("frontend_arrays", "file"),) if frontend_source == "file"
                                       else ())
        self.spec = self.spec.replace(weights_sha256=resolved.sha256, options=options)
        return self.spec

    def embed_windows(self, windows: np.ndarray) -> np.ndarray:
        """Embed ``(n, 48000)`` windows -> ``(n, dim)`` float32."""
        import torch

        if self._net is None:
            self.prepare()
        windows = np.asarray(windows, dtype=np.float32)
        if windows.ndim != 2 or windows.shape[1] != self.spec.window_samples:
            raise ValueError(f"{self.spec.name} expects windows of shape (n, "
                             f"{self.spec.window_samples}), found {windows.shape}")
        with torch.inference_mode():
            x = as_tensor(windows).to(self._device())
            with autocast(self.device, "float32"):  # the frontend is always float32
                image = self._frontend(x).contiguous(memory_format=torch.channels_last)
            with autocast(self.device, self.precision):
                out = self._net(image)
            return out.float().cpu().numpy()

    def spectrogram(self, windows: np.ndarray) -> np.ndarray:
        """The frontend's dB images ``(n, freq, time)`` for inspection and tests."""
        import torch

        if self._frontend is None:
            self.prepare()
        with torch.inference_mode():
            x = as_tensor(windows).to(self._device())
            with autocast(self.device, "float32"):
                return self._frontend(x)[:, 0].cpu().numpy()

    def _device(self):
        return torch_device(self.device)

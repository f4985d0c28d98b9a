"""VGGish through the ``torchvggish`` package: its network and its input pipeline.

The package's ``vggish()`` constructor always downloads; here the same ``VGG`` module is built
from ``torchvggish.torchvggish.VGG(make_layers(), postprocess=False)`` and the state dict and PCA
parameters are loaded from files (:mod:`bench.embedders.weights`). The log-mel examples are the operations
of the package's ``mel_features.log_mel_spectrogram`` with its own window and mel matrix, run for
a whole batch at once (a test checks they equal ``waveform_to_examples`` at a 0.1 s hop).

Frames: one VGGish example is 96 log-mel frames of 10 ms, i.e. 0.96 s of hops, which reads
15600 samples at 16 kHz (95 hops of 160 + one 400-sample window) = 0.975 s of audio. Windows are
therefore 0.975 s, every 0.1 s (the paper's hop; VGGish's own is 0.96 s): exactly the examples
torchvggish's ``waveform_to_examples`` would give with a 0.1 s example hop, and the windows the
authors' code used (it padded short clips to 0.975 s because "0.96 doesn't work").

Outputs:

* ``vggish-raw``: the 128-d embedding layer (torchvggish keeps the ReLU of the original
  ``fc2`` layer, as the AudioSet release did);
* ``vggish``: as the AudioSet release and the paper: PCA with whitening ``E (x - mu)``, clipped
  to [-2, 2], quantised to 8 bits by ``floor((x + 2) * 255 / 4)`` (numpy ``astype(uint8)`` in
  the release code and the authors' code; torchvggish's own Postprocessor rounds instead). The
  8-bit codes 0..255 are returned as float32 and NOT mapped back to [-2, 2], exactly as the
  authors' code fed them to the classifier (standardisation makes the affine map irrelevant).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

from bench.embedders import vggish_files, vggish_meta, weights
from bench.embedders.base import Embedder, EmbedderSpec
from bench.embedders.torch_util import (as_tensor, autocast, check_precision, place,
                                        torch_device)

VERSION = "torchvggish-0.2/hop-0.1/floor-quantise-1"
SR = vggish_meta.SAMPLE_RATE
WINDOW_SAMPLES = vggish_meta.WINDOW_SAMPLES
QUANT_MIN, QUANT_MAX = -2.0, 2.0


def gflop_per_example() -> float:
    """Analytic count: 2 * MACs of the six 3x3 convs (on 96x64 halving after pools) and 3 FCs."""
    total = 0.0
    h, w = 96, 64
    for cin, cout, pool in ((1, 64, True), (64, 128, True), (128, 256, False), (256, 256, True),
                            (256, 512, False), (512, 512, True)):
        total += h * w * cout * 2 * 9 * cin
        if pool:
            h, w = h // 2, w // 2
    for fin, fout in ((512 * 4 * 6, 4096), (4096, 4096), (4096, 128)):
        total += 2 * fin * fout
    return total / 1e9


def postprocess(raw: np.ndarray, vectors: np.ndarray, means: np.ndarray) -> np.ndarray:
    """PCA-whiten, clip and quantise to 8-bit codes (as float32), in float64 like the release."""
    pca = (np.asarray(raw, np.float64) - means[None, :]) @ vectors.T
    clipped = np.clip(pca, QUANT_MIN, QUANT_MAX)
    codes = np.floor((clipped - QUANT_MIN) * (255.0 / (QUANT_MAX - QUANT_MIN)))
    return codes.astype(np.float32)


_LOG_OFFSET = 0.01


@functools.lru_cache(maxsize=1)
def _log_mel_constants() -> tuple[np.ndarray, int, int, np.ndarray]:
    """(window, hop, fft length, mel matrix) as torchvggish's log_mel_spectrogram makes them."""
    from torchvggish import mel_features, vggish_params as p

    assert p.LOG_OFFSET == _LOG_OFFSET and p.SAMPLE_RATE == SR
    win = int(round(SR * p.STFT_WINDOW_LENGTH_SECONDS))
    hop = int(round(SR * p.STFT_HOP_LENGTH_SECONDS))
    fft_length = 2 ** int(np.ceil(np.log(win) / np.log(2.0)))
    mel = mel_features.spectrogram_to_mel_matrix(
        num_mel_bins=p.NUM_MEL_BINS, num_spectrogram_bins=fft_length // 2 + 1,
        audio_sample_rate=SR, lower_edge_hertz=p.MEL_MIN_HZ, upper_edge_hertz=p.MEL_MAX_HZ)
    return mel_features.periodic_hann(win), hop, fft_length, mel


class VGGishEmbedder(Embedder):
    """VGGish, 128-d.

    Parameters
    ----------
    name : str, optional
        A row of :data:`bench.embedders.vggish_meta.FAMILY` (``vggish``, ``vggish-raw``); when
        given, ``postprocess`` is read from it.
    postprocess : bool
        ``True`` for the paper's output (``vggish``), ``False`` for the raw embedding layer
        (``vggish-raw``).
    weights_path, pca_path : Path, optional
        Files to use instead of the weights directory's.
    precision : {"float32", "bfloat16", "float16"}
    device, weights_dir, download
        See :class:`~bench.embedders.base.Embedder`.
    """

    default_batch_size = 64

    def __init__(self, *, name: str | None = None, postprocess: bool = True,
                 weights_path: Path | None = None, pca_path: Path | None = None,
                 precision: str = "float32", **base: Any):
        super().__init__(**base)
        row = (vggish_meta.FAMILY.row(name) if name is not None
               else vggish_meta.by_output(postprocess))
        assert isinstance(row, vggish_meta.VGGishMeta)
        self.meta = row
        self.postprocess = row.postprocess
        self.precision = check_precision(precision, self.device)
        self.explicit = {"network": weights_path, "pca": pca_path}
        output = ("pca-whiten, clip [-2, 2], 8-bit codes floor((x+2)*255/4) as float 0..255"
                  if self.postprocess else "raw embedding layer (after ReLU)")
        self.spec = row.spec(VERSION, options=(("output", output), ("precision", precision)))
        self.gflop_per_window = gflop_per_example()
        self._net = None
        self._pca: tuple[np.ndarray, np.ndarray] | None = None

    def prepare(self) -> EmbedderSpec:
        """Locate (or fetch) the files and build torchvggish's network without downloading."""
        from torchvggish.torchvggish import VGG, make_layers

        resolved = weights.resolve(self.meta, self.weights_dir, download=self.download,
                                   explicit=self.explicit)
        net = VGG(make_layers(), postprocess=False)
        net.load_state_dict(vggish_files.load_state(resolved["network"].path))
        self._net = place(net, self.device, channels_last=True)
        sha = resolved["network"].sha256
        if self.postprocess:
            self._pca = vggish_files.load_pca(resolved["pca"].path)
            # one identity for the pair: both files change the numbers
            sha = f"{sha}+{resolved['pca'].sha256}"
        self.spec = self.spec.replace(weights_sha256=sha)
        return self.spec

    def examples(self, windows: np.ndarray) -> np.ndarray:
        """torchvggish's log-mel examples ``(n, 96, 64)`` for 15600-sample windows.

        The same operations as ``mel_features.log_mel_spectrogram`` (its periodic Hann window
        and mel matrix, float64, ``|rfft|``, ``log(mel + 0.01)``), done for the whole batch at
        once in torch: numpy's BLAS threads would fight torch's for the cores.
        """
        import torch

        windows = np.asarray(windows)
        if windows.ndim != 2 or windows.shape[1] != WINDOW_SAMPLES:
            raise ValueError(f"VGGish expects windows of shape (n, {WINDOW_SAMPLES}), found "
                             f"{windows.shape}")
        window, hop, fft_length, mel = _log_mel_constants()
        x = as_tensor(windows, np.float64)
        frames = x.unfold(1, len(window), hop) * torch.from_numpy(window)  # (n, 96, 400)
        spectrogram = torch.fft.rfft(frames, fft_length).abs()
        log_mel = torch.log(spectrogram @ torch.from_numpy(mel) + _LOG_OFFSET)
        return log_mel.to(torch.float32).numpy()

    def embed_windows(self, windows: np.ndarray) -> np.ndarray:
        """Embed ``(n, 15600)`` windows at 16 kHz -> ``(n, 128)`` float32."""
        import torch

        if self._net is None:
            self.prepare()
        x = torch.from_numpy(self.examples(windows))[:, None].to(torch_device(self.device))
        with torch.inference_mode(), autocast(self.device, self.precision):
            raw = self._net(x.contiguous(memory_format=torch.channels_last)).float().cpu().numpy()
        if not self.postprocess:
            return raw
        assert self._pca is not None
        return postprocess(raw, *self._pca)

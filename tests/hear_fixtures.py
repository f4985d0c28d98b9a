"""A tiny HEAR-API package, written by the tests, and an independent numpy model of its output.

``tinyhear`` follows the HEAR API at 16 kHz: one 4-d embedding per 25 ms block of samples
(mean, RMS, peak and the first half's mean of the block, times a scale read from the weights
file), timestamps at the blocks' starts in milliseconds, scene embedding = mean over blocks.
``load_model(model_file_path, flaw=...)`` breaks one rule of the API on request, so each
conformance check has a case. ``CALLS`` records the (clips, samples) of every embedding call.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

RATE = 16000
HOP = 400  # samples per block: 25 ms

TINY_SOURCE = '''
"""tinyhear: a HEAR-API module made by bench's tests."""
import urllib.request
from pathlib import Path

import torch

HOP = 400
CALLS = []


class TinyModel(torch.nn.Module):
    def __init__(self, scale, flaw):
        super().__init__()
        self.register_buffer("scale", torch.tensor(float(scale)))
        self.flaw = flaw
        self.sample_rate = {"rate": 16000.5, "rate_range": 100}.get(flaw, 16000)
        if flaw != "no_size":
            self.timestamp_embedding_size = 4
        self.scene_embedding_size = 4


def load_model(model_file_path=None, flaw=None):
    if flaw == "download":
        urllib.request.urlopen("http://weights.example.invalid/tiny-v1.pt", timeout=5)
    if flaw == "not_module":
        return object()
    if flaw == "crash":
        raise RuntimeError("checkpoint has no key 'model'")
    scale = float(Path(model_file_path).read_text()) if model_file_path else 1.0
    return TinyModel(scale, flaw)


def _blocks(audio, model):
    n, s = audio.shape
    CALLS.append((n, s))
    t = s // HOP + 1
    seg = torch.nn.functional.pad(audio, (0, t * HOP - s)).reshape(n, t, HOP)
    feats = torch.stack([seg.mean(-1), seg.pow(2).mean(-1).sqrt(), seg.abs().amax(-1),
                         seg[..., : HOP // 2].mean(-1)], -1) * model.scale
    ts = (torch.arange(t, dtype=torch.float32) * 25.0).expand(n, t)
    return feats, ts


def get_timestamp_embeddings(audio, model):
    feats, ts = _blocks(audio, model)
    flaw = model.flaw
    if flaw == "float64":
        feats = feats.double()
    elif flaw == "size":
        feats = torch.cat([feats, feats[..., :1]], -1)
    elif flaw == "batch":
        feats, ts = feats[:-1], ts[:-1]
    elif flaw == "ts_shape":
        ts = ts[:, :-1]
    elif flaw == "decreasing":
        ts = ts.flip(1)
    elif flaw == "short":
        ts = ts * 0.5
    elif flaw == "past_end":
        ts = ts + 100.0
    elif flaw == "seconds":
        ts = ts / 1000.0
    elif flaw == "nan":
        feats = feats.clone()
        feats[0, 0, 0] = float("nan")
    return feats, ts


def get_scene_embeddings(audio, model):
    feats, _ = _blocks(audio, model)
    if model.flaw == "scene_size":
        return feats.mean(1)[:, :3]
    return feats.mean(1)
'''


def install_tiny(directory: Path) -> Path:
    """Write ``tinyhear.py`` into ``directory`` (once) and return its path; the caller puts
    ``directory`` on ``sys.path``."""
    path = directory / "tinyhear.py"
    if not path.exists():
        path.write_text(TINY_SOURCE)
    sys.modules.pop("tinyhear", None)
    return path


def expected_frames(y: np.ndarray, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """What tinyhear returns for one clip, computed with numpy: frames and times in seconds."""
    t = len(y) // HOP + 1
    padded = np.zeros(t * HOP, dtype=np.float64)
    padded[: len(y)] = y
    seg = padded.reshape(t, HOP)
    feats = np.stack([seg.mean(1), np.sqrt((seg ** 2).mean(1)), np.abs(seg).max(1),
                      seg[:, : HOP // 2].mean(1)], 1) * scale
    return feats, np.arange(t) * 0.025


def pooled(frames: np.ndarray, times: np.ndarray, hop: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the frames in each bin [k hop, (k + 1) hop), by a plain loop."""
    out, starts = [], []
    for k in sorted({int(np.floor(t / hop + 1e-9)) for t in times}):
        inside = [i for i, t in enumerate(times) if int(np.floor(t / hop + 1e-9)) == k]
        out.append(frames[inside].mean(0))
        starts.append(k * hop)
    return np.array(out), np.array(starts)

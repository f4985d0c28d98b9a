"""Conformance checks of a HEAR-API model: what it declares and what it returns.

The HEAR API (hearbenchmark.com, "common API"): a module with ``load_model(model_file_path,
**options)`` returning a model that carries ``sample_rate``, ``scene_embedding_size`` and
``timestamp_embedding_size``; ``get_timestamp_embeddings(audio[n, samples], model)`` returning
float32 embeddings ``[n, T, timestamp_embedding_size]`` and timestamps ``[n, T]`` in
milliseconds; ``get_scene_embeddings(audio, model)`` returning float32 ``[n,
scene_embedding_size]``. Every violation found here is an :class:`~bench.errors.EmbedderError`
that names the module, what the API expects and what the model did.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.errors import EmbedderError

#: the rates HEAR's own validator accepts; others work in bench (it resamples to any integer
#: rate) and are only noted in the documentation
HEAR_RATES = (16000, 22050, 32000, 44100, 48000)
#: the integer rates bench's resampler is used for
MIN_RATE, MAX_RATE = 1000, 384000
#: slack for timestamps that end a rounding error past the clip (milliseconds)
END_TOLERANCE_MS = 1.0
TIMESTAMP_UNITS = {"ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class Declared:
    """What a loaded HEAR model says about itself."""

    sample_rate: int
    timestamp_dim: int
    scene_dim: int


def declared(model: Any, module: str) -> Declared:
    """Read and check the three attributes the HEAR API requires of a model."""
    values = {}
    for attr in ("sample_rate", "timestamp_embedding_size", "scene_embedding_size"):
        if not hasattr(model, attr):
            raise EmbedderError(f"HEAR model from {module}.load_model has no attribute {attr!r}; "
                                f"the HEAR API requires sample_rate, timestamp_embedding_size "
                                f"and scene_embedding_size")
        value = getattr(model, attr)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            what = "a sample rate in Hz" if attr == "sample_rate" else "an embedding size"
            raise EmbedderError(f"HEAR model {module}: {attr} must be a positive integer "
                                f"({what}), found {value!r}")
        values[attr] = int(value)
    rate = values["sample_rate"]
    if not MIN_RATE <= rate <= MAX_RATE:
        raise EmbedderError(f"HEAR model {module}: sample_rate {rate} Hz is not supported; "
                            f"bench resamples to integer rates from {MIN_RATE} to {MAX_RATE} Hz "
                            f"(HEAR's validator accepts {', '.join(map(str, HEAR_RATES))})")
    return Declared(rate, values["timestamp_embedding_size"], values["scene_embedding_size"])


def to_numpy(x: Any, what: str, module: str) -> np.ndarray:
    """A model output as a numpy array, its float32-ness checked on the tensor itself."""
    if hasattr(x, "detach"):  # torch
        x = x.detach().cpu().numpy()
    elif hasattr(x, "numpy") and not isinstance(x, np.ndarray):  # tensorflow
        x = x.numpy()
    if not isinstance(x, np.ndarray):
        raise EmbedderError(f"HEAR model {module}: {what} must be a tensor or array, found "
                            f"{type(x).__name__}")
    return x


def _float32(emb: np.ndarray, what: str, module: str) -> None:
    if emb.dtype != np.float32:
        raise EmbedderError(f"HEAR model {module}: {what} must be float32, found {emb.dtype}",
                            hint="the HEAR API requires float32 embeddings")


def scene_output(out: Any, *, n_clips: int, dim: int, module: str) -> np.ndarray:
    """Check ``get_scene_embeddings``' output; returns it as float32 ``(n, dim)``."""
    emb = to_numpy(out, "scene embeddings", module)
    _float32(emb, "scene embeddings", module)
    if emb.shape != (n_clips, dim):
        raise EmbedderError(f"HEAR model {module}: get_scene_embeddings returned shape "
                            f"{emb.shape} for {n_clips} clips, expected ({n_clips}, {dim}) "
                            f"(scene_embedding_size {dim})")
    _check_finite(emb, "scene embeddings", module)
    return emb


def timestamp_output(out: Any, *, n_clips: int, n_samples: int, sample_rate: int, dim: int,
                     module: str, unit: str | None, strict_end: bool
                     ) -> tuple[np.ndarray, np.ndarray, str]:
    """Check ``get_timestamp_embeddings``' output.

    Parameters
    ----------
    out : tuple
        What the function returned: ``(embeddings, timestamps)``.
    n_clips, n_samples, sample_rate : int
        The batch it was given.
    dim : int
        The declared ``timestamp_embedding_size``.
    unit : {"ms", "s"} or None
        Unit of the timestamps; ``None`` finds it: milliseconds as the API says, or seconds when
        only that reading covers the clip (a known slip of some packages).
    strict_end : bool
        Whether a timestamp past the clip's end is an error (the load-time probe); on real clips
        a model may pad short input to its minimum length, so there it is allowed.

    Returns
    -------
    embeddings : ndarray, shape (n_clips, T, dim), float32
    seconds : ndarray, shape (n_clips, T), float64
        Timestamps in seconds.
    unit : str
        The unit the timestamps were read in.
    """
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise EmbedderError(f"HEAR model {module}: get_timestamp_embeddings must return "
                            f"(embeddings, timestamps), found {type(out).__name__}")
    emb = to_numpy(out[0], "timestamp embeddings", module)
    ts = to_numpy(out[1], "timestamps", module)
    _float32(emb, "timestamp embeddings", module)
    if emb.ndim != 3 or emb.shape[0] != n_clips or emb.shape[2] != dim or emb.shape[1] < 1:
        raise EmbedderError(f"HEAR model {module}: get_timestamp_embeddings returned embeddings "
                            f"of shape {emb.shape} for {n_clips} clips, expected ({n_clips}, "
                            f"n_timestamps, {dim}) (timestamp_embedding_size {dim})")
    if ts.shape != emb.shape[:2]:
        raise EmbedderError(f"HEAR model {module}: timestamps have shape {ts.shape}, expected "
                            f"{emb.shape[:2]} (one per embedding)")
    _check_finite(emb, "timestamp embeddings", module)
    ts = ts.astype(np.float64)
    _check_finite(ts, "timestamps", module)
    if ts.shape[1] > 1 and not (np.diff(ts, axis=1) > 0).all():
        row = int(np.where((np.diff(ts, axis=1) <= 0).any(axis=1))[0][0])
        raise EmbedderError(f"HEAR model {module}: timestamps must increase along each clip; "
                            f"clip {row} of the batch has {_excerpt(ts[row])}")
    duration_ms = 1000.0 * n_samples / sample_rate
    candidates = [unit] if unit is not None else list(TIMESTAMP_UNITS)
    problems = []
    for u in candidates:
        problem = _coverage(ts * TIMESTAMP_UNITS[u], duration_ms, strict_end)
        if problem is None:
            return emb, ts * TIMESTAMP_UNITS[u] / 1000.0, u
        problems.append(problem)
    raise EmbedderError(f"HEAR model {module}: timestamps (read as {candidates[0]}) "
                        f"{problems[0]} of a {duration_ms:.0f} ms clip: {_excerpt(ts[0])}",
                        hint="timestamps are the centres of the embeddings' windows in "
                             "milliseconds, from about 0 to the clip's end")


def _coverage(ms: np.ndarray, duration_ms: float, strict_end: bool) -> str | None:
    """Why timestamps in milliseconds do not cover a clip, or ``None`` when they do."""
    hop = float(np.median(np.diff(ms, axis=1))) if ms.shape[1] > 1 else 0.0
    first, last = ms[:, 0].min(), ms[:, -1].min()
    if first < -END_TOLERANCE_MS:
        return f"start before the clip ({first:g} ms)"
    if strict_end and ms[:, -1].max() > duration_ms + END_TOLERANCE_MS:
        return f"end after the clip ({ms[:, -1].max():g} ms)"
    if ms.shape[1] > 1 and last < duration_ms - 2 * hop - END_TOLERANCE_MS:
        return f"stop at {last:g} ms, short of the end"
    return None


def _check_finite(a: np.ndarray, what: str, module: str) -> None:
    if not np.isfinite(a).all():
        raise EmbedderError(f"HEAR model {module}: {what} contain NaN or infinite values")


def _excerpt(row: np.ndarray) -> str:
    vals = [f"{v:g}" for v in row[:4]]
    if len(row) > 4:
        vals += ["...", f"{row[-1]:g}"]
    return "[" + ", ".join(vals) + "]"

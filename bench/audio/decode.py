"""Audio in: decode (soundfile), downmix, resample, frame into windows.

This is the only place audio is read or reshaped; embedders receive ready windows (or whole
mono clips at their native rate). Decoding handles every PCM depth libsndfile reads (8/16/24/32
bit, float, WAVE_FORMAT_EXTENSIBLE) and FLAC; samples come out as float32 in [-1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.errors import AudioError

#: what to do about a file that cannot be used (shown under every AudioError)
BAD_FILE_HINT = ("restore the file from the original archive (`bench data verify` lists every "
                 "damaged file), or pass --skip-bad to leave unreadable files out; skipped "
                 "files are listed in results.json")
#: the reason given for a file without samples
NO_SAMPLES = "holds no samples"
#: resampling filters: resampy's two, and libsoxr at its very-high-quality setting
RESAMPLERS = ("kaiser_best", "kaiser_fast", "soxr_vhq")


@dataclass(frozen=True)
class AudioInfo:
    """What the file header says."""

    samplerate: int
    channels: int
    frames: int
    format: str
    subtype: str

    @property
    def duration(self) -> float:
        return self.frames / self.samplerate if self.samplerate else 0.0


def probe(path: Path) -> AudioInfo:
    """Read an audio file's header; raise :class:`AudioError` naming the file if it cannot."""
    import soundfile as sf

    path = Path(path)
    if not path.exists():
        raise AudioError(f"audio file not found: {path}", hint=BAD_FILE_HINT, reason="not found")
    _check_structure(path)
    try:
        info = sf.info(str(path))
    except Exception as exc:  # libsndfile raises its own error types, RuntimeError on old versions
        why = _reason(exc)
        raise AudioError(f"cannot read audio file {path}: {why}", hint=BAD_FILE_HINT,
                         reason=why) from exc
    return AudioInfo(int(info.samplerate), int(info.channels), int(info.frames), info.format,
                     info.subtype)


def load(path: Path) -> tuple[np.ndarray, int]:
    """Decode a file to mono float32 by averaging its channels.

    Returns
    -------
    waveform : ndarray, shape (n_samples,), float32
    samplerate : int

    Raises
    ------
    AudioError
        When the file is missing, unreadable, empty, or holds non-finite samples.
    """
    import soundfile as sf

    path = Path(path)
    if not path.exists():
        raise AudioError(f"audio file not found: {path}", hint=BAD_FILE_HINT, reason="not found")
    # libsndfile reads a truncated WAV without complaint (it returns the samples that are
    # there), so a damaged file would silently become a shorter clip: check the header first.
    _check_structure(path)
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:
        why = _reason(exc)
        raise AudioError(f"cannot decode audio file {path}: {why}", hint=BAD_FILE_HINT,
                         reason=why) from exc
    if data.shape[0] == 0:
        raise AudioError(f"audio file {path} {NO_SAMPLES}", hint=BAD_FILE_HINT, reason=NO_SAMPLES)
    mono = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    if not np.isfinite(mono).all():
        why = "holds NaN or infinite samples"
        raise AudioError(f"audio file {path} {why}", hint=BAD_FILE_HINT, reason=why)
    return np.ascontiguousarray(mono, dtype=np.float32), int(sr)


def resample(y: np.ndarray, sr_in: int, sr_out: int, method: str = "kaiser_best") -> np.ndarray:
    """Resample a mono signal.

    Parameters
    ----------
    y : ndarray, shape (n,)
    sr_in, sr_out : int
    method : str
        One of :data:`RESAMPLERS`: resampy's ``kaiser_best`` (as openl3 and torchvggish do;
        the default) or ``kaiser_fast``, or ``soxr_vhq`` (libsoxr at its very-high-quality
        setting: 50-100x faster, not the reference pipelines' numbers; docs/performance.md).
    """
    if sr_in == sr_out:
        return y.astype(np.float32, copy=False)
    y = y.astype(np.float32, copy=False)
    if method == "soxr_vhq":
        import soxr

        out = soxr.resample(y, sr_in, sr_out, quality="VHQ")
    elif method in RESAMPLERS:
        import resampy

        out = resampy.resample(y, sr_in, sr_out, filter=method, axis=-1)
    else:
        raise ValueError(f"resampler must be one of {list(RESAMPLERS)}, found {method!r}")
    return np.ascontiguousarray(out, dtype=np.float32)


def load_resampled(path: Path, sr: int, method: str = "kaiser_best") -> np.ndarray:
    """Decode, downmix and resample to ``sr`` in one call."""
    y, sr_in = load(path)
    return resample(y, sr_in, sr, method)


def wav_problem(path: Path) -> str | None:
    """What is structurally wrong with a RIFF/WAVE file, or ``None`` when nothing is.

    Reads only the chunk headers (a few small reads, no samples). Catches what libsndfile
    forgives silently: a file cut short, whose ``data`` chunk declares more bytes than the file
    holds, and a file that ends before its ``data`` chunk. Files that are not RIFF/WAVE (FLAC,
    RF64, ...) are not judged here and give ``None``. Sizes written as 0 or 0xFFFFFFFF, which
    streaming writers leave when they cannot seek back, are accepted.

    Parameters
    ----------
    path : Path
        The file to look at.

    Returns
    -------
    str or None
        A one-line reason, or ``None``.
    """
    import struct

    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        pos, block_align = 12, 1
        for _ in range(10_000):  # a real file has a handful of chunks
            fh.seek(pos)
            chunk = fh.read(8)
            if len(chunk) < 8:
                return (f"file ends after {size} bytes, before its 'data' chunk "
                        "(truncated or not a complete WAV file)")
            cid, csize = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if cid == b"fmt ":
                fmt = fh.read(min(csize, 16))
                if len(fmt) >= 14:
                    block_align = max(1, struct.unpack("<H", fmt[12:14])[0])
            elif cid == b"data":
                available = size - (pos + 8)
                if csize in (0, 0xFFFFFFFF):
                    return None
                if csize - available >= block_align:
                    return (f"truncated: the header declares {csize} bytes of samples, the file "
                            f"holds {available} ({100.0 * available / csize:.1f} %)")
                return None
            pos += 8 + csize + (csize & 1)  # chunks are padded to an even size
            if pos > size:
                return (f"truncated: chunk {cid.decode('latin-1')!r} runs past the end of the "
                        f"file ({size} bytes) before the 'data' chunk")
    return "too many chunks before the 'data' chunk (not a valid WAV file)"


def _check_structure(path: Path) -> None:
    try:
        problem = wav_problem(path)
    except OSError as exc:
        why = _reason(exc)
        raise AudioError(f"cannot read audio file {path}: {why}", hint=BAD_FILE_HINT,
                         reason=why) from exc
    if problem:
        raise AudioError(f"audio file {path} is damaged: {problem}", hint=BAD_FILE_HINT,
                         reason=problem)


def _reason(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.replace("\n", " ")

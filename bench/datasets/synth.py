"""``synth``: a deterministic, procedurally generated environmental-sound dataset.

Twelve classes whose differences lie in spectral shape, temporal pattern and pitch, several of
them built to be confusable in pairs (clock ticks vs jackhammer by rate, alarm beeps vs crickets
by carrier and rhythm, wind vs engine vs hum in the low band, dog barks vs door knocks as short
low events). Every clip draws its own level, duration, onset, parameters and background (coloured
noise at 0-20 dB SNR plus, often, a quieter event of another class), so a weak embedding lands
well below 100 % and well above chance. Files are real audio files written with soundfile at
varied sample rates (16/22.05/44.1/48 kHz), depths (16-bit, 24-bit, float), channel counts and
containers (WAV, some FLAC), so the real decoding and resampling path runs. Five predefined folds,
stratified by class. Same seed, same files.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np

from bench.datasets.base import Clip, Dataset
from bench.datasets.meta import DatasetMeta
from bench.errors import DatasetError
from bench.io.fileio import atomic_write_bytes, atomic_write_text
from bench.util.progress import bar

GENERATOR_VERSION = "2"  # bump whenever the audio changes: it names the data folder
CLASSES = ("alarm_beep", "birdsong", "clock_tick", "crickets", "dog_bark", "door_knock",
           "engine", "hum", "jackhammer", "rain", "siren", "wind")
N_FOLDS = 5
RATES = (16000, 22050, 44100, 48000)
GEN_SR = 48000  # everything is synthesised at 48 kHz, then resampled to the file's rate


#: one row per size (clip_s stays None: the cost estimate counts generated clips from the files)
DATASET_META = tuple(
    DatasetMeta(name=n, target="bench.datasets.synth:SynthDataset", summary=text, title=n,
                n_splits=N_FOLDS, n_classes=len(CLASSES), n_clips=len(CLASSES) * c,
                kwargs=(("clips_per_class", c), ("dataset_name", n)))
    for n, c, text in (("synth", 40, "procedural environmental sounds, 12 classes x 40 clips, "
                                     "5 folds (no download)"),
                       ("synth-mini", 10, "synth at 12 classes x 10 clips (tests, quick checks)"),
                       ("synth-large", 100, "synth at 12 classes x 100 clips")))


class SynthDataset(Dataset):
    """The synthetic dataset.

    Parameters
    ----------
    data_dir : Path
        Files go to ``<data_dir>/synth-v<version>-c<clips_per_class>-s<seed>/``.
    clips_per_class : int
        Clips per class (a multiple of 5 keeps the folds balanced).
    seed : int
        Generator seed.
    dataset_name : str
        The name it is registered under (``synth``, ``synth-mini``, ``synth-large``).
    """

    name = "synth"
    default_repeats = 1
    version = f"synth-{GENERATOR_VERSION}"

    def __init__(self, data_dir: Path, *, download: bool = True, clips_per_class: int = 40,
                 seed: int = 0, dataset_name: str = "synth"):
        super().__init__(data_dir, download=download)
        if clips_per_class < N_FOLDS:
            raise DatasetError(f"synth needs at least {N_FOLDS} clips per class (one per fold), "
                               f"found {clips_per_class}")
        self.clips_per_class = clips_per_class
        self.seed = seed
        self.name = dataset_name
        self.root = self.data_dir / f"synth-v{GENERATOR_VERSION}-c{clips_per_class}-s{seed}"

    @property
    def marker(self) -> Path:
        return self.root / "COMPLETE.json"

    def describe(self) -> dict:
        return {"name": self.name, "version": self.version,
                "clips_per_class": self.clips_per_class, "seed": self.seed}

    # -- generation ------------------------------------------------------------------------------
    def plan(self) -> list[dict]:
        """Every clip's id, class, fold and file format (no audio is made)."""
        rows = []
        for ci, label in enumerate(CLASSES):
            for i in range(self.clips_per_class):
                rng = _rng(self.seed, ci, i, "format")
                sr = int(rng.choice(RATES))
                subtype = str(rng.choice(["PCM_16", "PCM_16", "PCM_24", "FLOAT"]))
                container = "flac" if (rng.random() < 0.15 and subtype != "FLOAT") else "wav"
                channels = 2 if rng.random() < 0.25 else 1
                fold = i % N_FOLDS + 1
                cid = f"{label}-{i:03d}"
                rows.append({"id": cid, "label": label, "fold": fold, "samplerate": sr,
                             "subtype": subtype, "channels": channels,
                             "filename": f"audio/{fold}-{cid}.{container}", "class_index": ci,
                             "index": i})
        return rows

    def prepare(self, progress: bool = True) -> None:
        """Generate the files (resumable: finished files are kept) and write the marker."""
        if self.marker.exists():
            return
        import soundfile as sf

        (self.root / "audio").mkdir(parents=True, exist_ok=True)
        rows = self.plan()
        for row in bar(rows, desc=f"generating {self.name}", unit="clip", enabled_=progress):
            path = self.root / row["filename"]
            if path.exists():
                continue
            y = synthesize(self.seed, row["class_index"], row["index"])
            y = _to_rate(y, row["samplerate"])
            if row["channels"] == 2:
                rng = _rng(self.seed, row["class_index"], row["index"], "stereo")
                g = rng.uniform(0.6, 1.0)
                y = np.stack([y, g * y + 0.01 * rng.standard_normal(len(y))], axis=1)
            peak = np.abs(y).max()
            if peak > 0.99:
                y = y * (0.99 / peak)
            encoded = io.BytesIO()
            sf.write(encoded, y.astype(np.float32), row["samplerate"], subtype=row["subtype"],
                     format=path.suffix[1:].upper())
            atomic_write_bytes(path, _zero_peak_timestamp(encoded.getvalue(), path.suffix),
                               fsync=False)
        files = {r["filename"]: (self.root / r["filename"]).stat().st_size for r in rows}
        digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
        atomic_write_text(self.marker, json.dumps({"generator": GENERATOR_VERSION,
                                                   "seed": self.seed,
                                                   "clips_per_class": self.clips_per_class,
                                                   "sizes_sha256": digest}, indent=2))

    def load_clips(self) -> list[Clip]:
        return [Clip(r["id"], (self.root / r["filename"]).resolve(), r["label"], r["fold"])
                for r in self.plan()]

    @property
    def classes(self) -> tuple[str, ...]:
        return CLASSES


def _zero_peak_timestamp(data: bytes, suffix: str) -> bytes:
    """libsndfile stamps the time of writing into the PEAK chunk of float WAV files; zero it so
    the same seed gives byte-identical files (the chunk: 'PEAK', size, version, timestamp)."""
    at = data.find(b"PEAK", 0, 512)
    if at < 0 or suffix != ".wav":
        return data
    return data[:at + 12] + b"\0\0\0\0" + data[at + 16:]


# -- the sounds ----------------------------------------------------------------------------------
def _rng(seed: int, class_index: int, index: int, purpose: str) -> np.random.Generator:
    tag = int.from_bytes(hashlib.sha256(purpose.encode()).digest()[:4], "little")
    return np.random.default_rng(np.random.SeedSequence([seed, class_index, index, tag]))


def synthesize(seed: int, class_index: int, index: int) -> np.ndarray:
    """One clip at 48 kHz: the class's event, placed and scaled, over a random background."""
    rng = _rng(seed, class_index, index, "audio")
    duration = rng.uniform(2.0, 5.0)
    n = int(duration * GEN_SR)
    event = _EVENTS[CLASSES[class_index]](rng, n)
    event /= max(np.sqrt(np.mean(event ** 2)), 1e-9)
    snr_db = rng.uniform(-6.0, 14.0)
    background = _coloured_noise(rng, n, exponent=rng.uniform(0.0, 2.0))
    background *= 10 ** (-snr_db / 20) / max(np.sqrt(np.mean(background ** 2)), 1e-9)
    if rng.random() < 0.7:  # a quieter event of another class, 3-15 dB down
        other = int(rng.choice([c for c in range(len(CLASSES)) if c != class_index]))
        d = _EVENTS[CLASSES[other]](rng, n)
        d *= 10 ** (-rng.uniform(3.0, 15.0) / 20) / max(np.sqrt(np.mean(d ** 2)), 1e-9)
        background = background + d
    y = event + background
    level = 10 ** (rng.uniform(-30.0, -3.0) / 20)
    return (y * level / max(np.abs(y).max(), 1e-9)).astype(np.float64)


def _to_rate(y: np.ndarray, sr: int) -> np.ndarray:
    if sr == GEN_SR:
        return y
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(sr, GEN_SR)
    return resample_poly(y, sr // g, GEN_SR // g)


def _t(n: int) -> np.ndarray:
    return np.arange(n) / GEN_SR


def _bandpass(x: np.ndarray, lo: float, hi: float, order: int = 4) -> np.ndarray:
    from scipy.signal import butter, sosfilt

    hi = min(hi, GEN_SR / 2 * 0.95)
    sos = butter(order, [lo, hi], btype="bandpass", fs=GEN_SR, output="sos")
    return sosfilt(sos, x)


def _lowpass(x: np.ndarray, fc: float, order: int = 4) -> np.ndarray:
    from scipy.signal import butter, sosfilt

    return sosfilt(butter(order, fc, btype="lowpass", fs=GEN_SR, output="sos"), x)


def _highpass(x: np.ndarray, fc: float, order: int = 2) -> np.ndarray:
    from scipy.signal import butter, sosfilt

    return sosfilt(butter(order, fc, btype="highpass", fs=GEN_SR, output="sos"), x)


def _coloured_noise(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Noise with power spectrum ~ 1/f**exponent (0 white, 1 pink, 2 brown)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / GEN_SR)
    f[0] = f[1]
    spec *= f ** (-exponent / 2)
    return np.fft.irfft(spec, n)


def _env(n: int, attack: float, decay: float) -> np.ndarray:
    """Attack-then-exponential-decay envelope of ``n`` samples (times in seconds)."""
    t = _t(n)
    a = np.clip(t / max(attack, 1e-4), 0, 1)
    return a * np.exp(-np.maximum(t - attack, 0) / max(decay, 1e-4))


def _mix_in(out: np.ndarray, x: np.ndarray, start: int) -> None:
    if start >= len(out):
        return
    m = min(len(x), len(out) - start)
    out[start:start + m] += x[:m]


def _span(rng: np.random.Generator, n: int, min_frac: float = 0.5) -> tuple[int, int]:
    """A random active region of the clip (onset, length)."""
    length = int(n * rng.uniform(min_frac, 1.0))
    onset = int(rng.uniform(0, n - length)) if n > length else 0
    return onset, length


def _harmonic(f0: np.ndarray | float, n: int, n_harm: int, rolloff: float,
              rng: np.random.Generator) -> np.ndarray:
    f0 = np.broadcast_to(np.asarray(f0, dtype=np.float64), (n,))
    phase = 2 * np.pi * np.cumsum(f0) / GEN_SR
    y = np.zeros(n)
    for h in range(1, n_harm + 1):
        if np.max(f0) * h > GEN_SR / 2 * 0.9:
            break
        y += np.sin(h * phase + rng.uniform(0, 2 * np.pi)) / h ** rolloff
    return y


def _dog_bark(rng, n):
    out = np.zeros(n)
    pos = int(rng.uniform(0, 0.8) * GEN_SR)
    for _ in range(int(rng.integers(1, 5))):
        m = int(rng.uniform(0.08, 0.22) * GEN_SR)
        f0 = rng.uniform(350, 650) * np.linspace(1.1, 0.85, m)
        bark = _harmonic(f0, m, 8, 1.0, rng) + 0.3 * rng.standard_normal(m)
        bark = _bandpass(bark, 300, rng.uniform(1500, 3000)) * _env(m, 0.01, m / GEN_SR / 3)
        _mix_in(out, bark, pos)
        pos += m + int(rng.uniform(0.15, 0.8) * GEN_SR)
    return out


def _siren(rng, n):
    onset, m = _span(rng, n, 0.6)
    lo, hi = rng.uniform(500, 750), rng.uniform(1000, 1500)
    rate = rng.uniform(0.2, 1.5)
    f0 = lo + (hi - lo) * 0.5 * (1 + np.sin(2 * np.pi * rate * _t(m) + rng.uniform(0, 6.28)))
    out = np.zeros(n)
    _mix_in(out, _harmonic(f0, m, 3, 1.5, rng), onset)
    return out


def _engine(rng, n):
    onset, m = _span(rng, n, 0.7)
    f0 = rng.uniform(25, 55) * (1 + 0.03 * np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * _t(m)))
    y = _harmonic(f0, m, 30, 1.0, rng)
    y *= 1 + 0.5 * np.sin(2 * np.pi * f0 * 0.5 * _t(m))
    y += 0.5 * _lowpass(rng.standard_normal(m), rng.uniform(200, 600))
    out = np.zeros(n)
    _mix_in(out, y, onset)
    return out


def _rain(rng, n):
    y = 0.4 * _highpass(_coloured_noise(rng, n, 1.0), rng.uniform(500, 1500))
    rate = rng.uniform(40, 200)
    drops = rng.random(n) < rate / GEN_SR
    kernel = np.exp(-np.arange(int(0.004 * GEN_SR)) / (0.0008 * GEN_SR))
    clicks = np.convolve(drops * rng.standard_normal(n), kernel)[:n]
    return y + _highpass(clicks, 1000)


def _birdsong(rng, n):
    out = np.zeros(n)
    pos = int(rng.uniform(0, 0.5) * GEN_SR)
    while pos < n:
        for _ in range(int(rng.integers(2, 7))):
            m = int(rng.uniform(0.04, 0.15) * GEN_SR)
            f_start, f_end = rng.uniform(2000, 6000), rng.uniform(2000, 6000)
            f = np.linspace(f_start, f_end, m)
            chirp = np.sin(2 * np.pi * np.cumsum(f) / GEN_SR) * np.hanning(m)
            _mix_in(out, chirp, pos)
            pos += m + int(rng.uniform(0.03, 0.1) * GEN_SR)
        pos += int(rng.uniform(0.3, 1.5) * GEN_SR)
    return out


def _impulse_train(rng, n, rate, jitter, burst_s, lo, hi):
    out = np.zeros(n)
    onset, m = _span(rng, n, 0.6)
    period = GEN_SR / rate
    k = 0
    while True:
        pos = onset + int(k * period + rng.normal(0, jitter * period))
        if pos >= onset + m:
            break
        b = int(burst_s * GEN_SR)
        burst = _bandpass(rng.standard_normal(b), lo, hi) * _env(b, 0.0005, burst_s / 4)
        _mix_in(out, burst, max(pos, 0))
        k += 1
    return out


def _clock_tick(rng, n):
    return _impulse_train(rng, n, rng.uniform(1.0, 3.0), 0.01, 0.006,
                          rng.uniform(1500, 2500), rng.uniform(4000, 6000))


def _jackhammer(rng, n):
    return _impulse_train(rng, n, rng.uniform(8.0, 25.0), 0.03, 0.02,
                          rng.uniform(100, 400), rng.uniform(3000, 6000))


def _wind(rng, n):
    y = _lowpass(rng.standard_normal(n), rng.uniform(250, 800))
    t = _t(n)
    am = 1 + 0.8 * np.sin(2 * np.pi * rng.uniform(0.1, 0.6) * t + rng.uniform(0, 6.28))
    return y * np.maximum(am, 0.05)


def _door_knock(rng, n):
    out = np.zeros(n)
    pos = int(rng.uniform(0, 1.5) * GEN_SR)
    f = rng.uniform(120, 400)
    for _ in range(int(rng.integers(2, 6))):
        m = int(0.12 * GEN_SR)
        knock = np.sin(2 * np.pi * f * rng.uniform(0.95, 1.05) * _t(m)) * _env(m, 0.001, 0.025)
        knock += 0.5 * _bandpass(rng.standard_normal(m), 800, 3000) * _env(m, 0.0005, 0.004)
        _mix_in(out, knock, pos)
        pos += int(rng.uniform(0.12, 0.32) * GEN_SR)
    return out


def _alarm_beep(rng, n):
    onset, m = _span(rng, n, 0.6)
    f = rng.uniform(1500, 3800)
    on, off = rng.uniform(0.08, 0.3), rng.uniform(0.08, 0.3)
    t = _t(m)
    gate = ((t % (on + off)) < on).astype(float)
    gate = np.convolve(gate, np.ones(96) / 96, mode="same")
    y = np.sin(2 * np.pi * f * t) * gate
    out = np.zeros(n)
    _mix_in(out, y, onset)
    return out


def _crickets(rng, n):
    onset, m = _span(rng, n, 0.7)
    carrier = rng.uniform(3500, 5500)
    pulse_rate, chirp_len, chirp_rate = rng.uniform(20, 45), rng.uniform(0.15, 0.5), rng.uniform(0.8, 2.5)
    t = _t(m)
    pulses = 0.5 * (1 + np.sin(2 * np.pi * pulse_rate * t)) ** 2
    chirps = ((t % (1 / chirp_rate)) < chirp_len).astype(float)
    y = np.sin(2 * np.pi * carrier * t) * pulses * chirps
    out = np.zeros(n)
    _mix_in(out, y, onset)
    return out


def _hum(rng, n):
    mains = 50.0 if rng.random() < 0.5 else 60.0
    y = _harmonic(mains, n, 12, 0.7, rng)
    y += rng.uniform(0.3, 1.5) * _bandpass(rng.standard_normal(n), 100, rng.uniform(1000, 2500))
    return y


_EVENTS = {"alarm_beep": _alarm_beep, "birdsong": _birdsong, "clock_tick": _clock_tick,
           "crickets": _crickets, "dog_bark": _dog_bark, "door_knock": _door_knock,
           "engine": _engine, "hum": _hum, "jackhammer": _jackhammer, "rain": _rain,
           "siren": _siren, "wind": _wind}

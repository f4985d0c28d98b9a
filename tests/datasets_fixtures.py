"""Miniature replicas of the official dataset layouts and a WAV header reader, for the dataset
tests (no network, nothing downloaded; the local HTTP server is in http_fixtures).

The replicas use the official folder names, file names and metadata columns, with a few short
clips each, so a whole `bench run` on them takes seconds.
"""

from __future__ import annotations

import csv
import io
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from bench.io.fileio import file_digest

# -- audio ---------------------------------------------------------------------------------------


def tone(kind: str, seconds: float, sr: int, seed: int, channels: int = 1) -> np.ndarray:
    """A class-dependent test signal in [-0.5, 0.5]: ``low`` tone, ``high`` tone or ``noise``."""
    rng = np.random.default_rng(seed)
    n = max(1, int(round(seconds * sr)))
    t = np.arange(n) / sr
    if kind == "low":
        y = 0.4 * np.sin(2 * np.pi * (220 + 20 * rng.random()) * t)
    elif kind == "high":
        y = 0.4 * np.sin(2 * np.pi * (3000 + 200 * rng.random()) * t)
    else:
        y = 0.3 * rng.uniform(-1, 1, n)
    y = y + 0.02 * rng.standard_normal(n)
    out = np.stack([y * (1 - 0.2 * c) for c in range(channels)], axis=1)
    return np.clip(out, -0.5, 0.5).astype(np.float64)


def write_wav(path: Path, data: np.ndarray, sr: int, subtype: str = "PCM_16",
              extensible: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), data, sr, subtype=subtype, format="WAVEX" if extensible else "WAV")
    return path


@dataclass
class WavHeader:
    format_tag: int
    channels: int
    samplerate: int
    bits: int
    subformat: int | None
    data: bytes


def read_wav_header(path: Path) -> WavHeader:
    """An independent RIFF reader (no libsndfile): fmt fields and the raw sample bytes."""
    raw = Path(path).read_bytes()
    assert raw[:4] == b"RIFF" and raw[8:12] == b"WAVE", path
    pos, fmt, data = 12, None, None
    while pos + 8 <= len(raw):
        cid, size = raw[pos:pos + 4], struct.unpack("<I", raw[pos + 4:pos + 8])[0]
        body = raw[pos + 8:pos + 8 + size]
        if cid == b"fmt ":
            fmt = body
        elif cid == b"data":
            data = body
        pos += 8 + size + (size & 1)
    assert fmt is not None and data is not None
    tag, ch, rate, _, _, bits = struct.unpack("<HHIIHH", fmt[:16])
    sub = struct.unpack("<H", fmt[24:26])[0] if tag == 0xFFFE else None
    return WavHeader(tag, ch, rate, bits, sub, data)


def truncate(path: Path, keep: float = 0.5) -> None:
    """Cut a file to a fraction of its bytes (a download or copy that stopped)."""
    raw = Path(path).read_bytes()
    Path(path).write_bytes(raw[: int(len(raw) * keep)])


def md5(path: Path) -> str:
    return file_digest(path, "md5")


# -- replicas ------------------------------------------------------------------------------------

ESC_CLASSES = (("dog", 0, "low"), ("rain", 10, "noise"))
US8K_CLASSES = (("dog_bark", 3, "low"), ("siren", 8, "high"))
# (subtype, extensible, channels, rate, seconds) for the UrbanSound8K replica: its variety
US8K_FORMATS = (
    ("PCM_24", True, 2, 48000, 1.0),   # 24-bit WAVE_FORMAT_EXTENSIBLE stereo at 48 kHz
    ("PCM_U8", False, 1, 11025, 1.0),  # 8-bit
    ("FLOAT", False, 2, 22050, 1.0),   # 32-bit float
    ("PCM_16", False, 1, 44100, 0.06),  # shorter than one 0.1 s hop
    ("PCM_16", False, 2, 16000, 1.5),
    ("PCM_24", False, 1, 96000, 0.5),
)


def make_esc50(base: Path, *, folder: str = "ESC-50-master", per_fold: int = 2,
               seconds: float = 1.0, crlf: bool = False) -> Path:
    """``base/ESC-50-master`` with meta/esc50.csv and audio/*.wav (2 classes, 5 folds).

    Each fold holds ``per_fold`` clips per class. Source 900001 spans folds 1 and 2 with
    different classes (the case the leakage check warns about).
    """
    root = base / folder
    rows = []
    for fold in range(1, 6):
        for ci, (category, target, kind) in enumerate(ESC_CLASSES):
            for k in range(per_fold):
                src = 100000 + 100 * fold + 10 * ci + k
                if (fold, ci, k) in ((1, 0, 0), (2, 1, 0)):
                    src = 900001
                take = "A" if not (fold == 2 and src == 900001) else "B"
                name = f"{fold}-{src}-{take}-{target}.wav"
                write_wav(root / "audio" / name,
                          tone(kind, seconds, 44100, seed=fold * 100 + ci * 10 + k), 44100)
                rows.append([name, fold, target, category, "False", str(src), take])
    meta = root / "meta" / "esc50.csv"
    meta.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n" if crlf else "\n")
    writer.writerow(["filename", "fold", "target", "category", "esc10", "src_file", "take"])
    writer.writerows(rows)
    meta.write_bytes(buf.getvalue().encode())
    return root


def accept_esc50_meta(monkeypatch, root: Path) -> None:
    """Let the replica's meta/esc50.csv under ``root`` pass as the official one."""
    from bench.datasets.esc50 import ESC50, META

    monkeypatch.setattr(ESC50, "file_md5", {META: md5(root / META)})


def make_us8k(base: Path, *, folder: str = "UrbanSound8K") -> Path:
    """``base/UrbanSound8K`` with metadata/UrbanSound8K.csv and audio/fold1..10 (2 classes).

    One clip per class and fold; the formats cycle through :data:`US8K_FORMATS`. fsID 777 has
    slices in folds 3 and 4 with different classes.
    """
    root = base / folder
    rows = []
    i = 0
    for fold in range(1, 11):
        for ci, (cls, class_id, kind) in enumerate(US8K_CLASSES):
            subtype, ext, ch, sr, sec = US8K_FORMATS[i % len(US8K_FORMATS)]
            i += 1
            fsid = 777 if (fold, ci) in ((3, 0), (4, 1)) else 1000 + 10 * fold + ci
            name = f"{fsid}-{class_id}-0-{fold}.wav"
            write_wav(root / "audio" / f"fold{fold}" / name,
                      tone(kind, sec, sr, seed=fold * 10 + ci, channels=ch), sr, subtype, ext)
            rows.append([name, fsid, 0.5, 0.5 + sec, 1, fold, class_id, cls])
    meta = root / "metadata" / "UrbanSound8K.csv"
    meta.parent.mkdir(parents=True, exist_ok=True)
    with open(meta, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["slice_file_name", "fsID", "start", "end", "salience", "fold", "classID",
                    "class"])
        w.writerows(rows)
    return root


DCASE_CLASSES = (("bus", "low"), ("park", "noise"))
# evaluation files that carry no class in their name, and the key rows that name them
DCASE_ANON = {"park02": "test_017.wav"}


def make_dcase2013(base: Path, *, seconds: float = 2.0, dev_per_class: int = 3,
                   eval_per_class: int = 2, nested: bool = False) -> Path:
    """``base/scenes_stereo`` + ``base/scenes_stereo_testset`` (+ the filename key).

    File names are ``<class><NN>.wav`` (two digits, not consecutive, as in the release), 44.1 kHz
    stereo 16-bit. One evaluation file carries an anonymous name and gets its class from
    ``dcase2013_task1_filenamekey.csv`` (4 columns, header, fold in the first column, file
    name in the fourth).
    """
    key_rows = []
    for folder, per in (("scenes_stereo", dev_per_class), ("scenes_stereo_testset",
                                                           eval_per_class)):
        target = base / folder / folder if nested else base / folder
        for ci, (cls, kind) in enumerate(DCASE_CLASSES):
            for k in range(per):
                num = 2 * k + 1 if folder == "scenes_stereo" else 2 * k + 2
                stem = f"{cls}{num:02d}"
                name = stem + ".wav"
                if folder == "scenes_stereo_testset":
                    name = DCASE_ANON.get(stem, name)
                    key_rows.append([f"fold{k + 1}", stem + ".wav", cls, name])
                write_wav(target / name, tone(kind, seconds, 44100, seed=ci * 10 + k + num,
                                              channels=2), 44100)
    with open(base / "dcase2013_task1_filenamekey.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["fold", "original", "class", "filename"])
        w.writerows(key_rows)
    return base


def zip_folder(folder: Path, archive: Path, *, arc_prefix: str | None = None) -> Path:
    """Zip ``folder`` so that it unpacks to ``arc_prefix`` (default: the folder's name)."""
    prefix = folder.name if arc_prefix is None else arc_prefix
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        for p in sorted(folder.rglob("*")):
            rel = p.relative_to(folder).as_posix()
            zf.write(p, f"{prefix}/{rel}" if prefix else rel)
    return archive

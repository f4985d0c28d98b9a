"""The synth dataset: deterministic to the byte, balanced folds, varied real audio files."""

from __future__ import annotations

import collections
import hashlib

import numpy as np
import pytest
import soundfile as sf

from bench.datasets import create
from bench.datasets.synth import CLASSES, SynthDataset, synthesize
from bench.errors import DatasetError


def _digests(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_other_audio(tmp_path, synth_mini_root):
    again = create("synth-mini", data_dir=tmp_path / "again")
    again.prepare(progress=False)
    first = create("synth-mini", data_dir=synth_mini_root)
    assert _digests(first.root) == _digests(again.root)  # float WAVs too (PEAK timestamp zeroed)
    a = synthesize(0, 3, 1)
    assert np.array_equal(a, synthesize(0, 3, 1)) and not np.array_equal(a, synthesize(1, 3, 1))


def test_layout_folds_and_formats(synth_mini_root):
    ds = create("synth-mini", data_dir=synth_mini_root)
    clips = ds.clips()
    assert len(clips) == 120 and ds.classes == CLASSES and len(CLASSES) == 12
    assert ds.folds() == [1, 2, 3, 4, 5]
    per = collections.Counter((c.fold, c.label) for c in clips)
    assert set(per.values()) == {2}  # every class twice in every fold
    infos = [sf.info(str(c.path)) for c in clips]
    assert {i.samplerate for i in infos} == {16000, 22050, 44100, 48000}
    assert {i.subtype for i in infos} >= {"PCM_16", "PCM_24", "FLOAT"}
    assert {i.channels for i in infos} == {1, 2}
    assert {c.path.suffix for c in clips} == {".wav", ".flac"}
    assert all(2.0 <= i.duration <= 5.01 for i in infos)
    assert ds.verify().ok


def test_interrupted_generation_resumes(tmp_path):
    ds = SynthDataset(tmp_path, clips_per_class=5)
    ds.prepare(progress=False)
    victim = ds.clips()[7].path
    before = victim.read_bytes()
    victim.unlink()
    ds.marker.unlink()  # as if killed before the end
    SynthDataset(tmp_path, clips_per_class=5).prepare(progress=False)
    assert victim.read_bytes() == before and ds.marker.exists()


def test_too_few_clips_is_an_error(tmp_path):
    with pytest.raises(DatasetError, match="at least 5 clips per class"):
        SynthDataset(tmp_path, clips_per_class=3)

"""`bench run -e hear:MODULE` end to end: the tiny test module and panns-hear on synth-mini."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench import datasets
from bench.audio.decode import load_resampled
from bench.cli import main
from bench.datasets.clips import Clip
from bench.embedders import create
from bench.store.format import namespace_description
from bench.store.pipeline import embed_clips
from bench.store.store import EmbeddingStore
from bench.studies.study import study_from_dict
from hear_fixtures import RATE, expected_frames, install_tiny, pooled

QUICK = ["--max-epochs", "2", "--lr", "1e-3", "--wd", "1e-4", "-q", "--no-tracking"]


@pytest.fixture
def tiny(tmp_path_factory, monkeypatch):
    directory = tmp_path_factory.getbasetemp() / "tinyhear-module"
    directory.mkdir(exist_ok=True)
    monkeypatch.syspath_prepend(str(directory))
    yield install_tiny(directory)
    sys.modules.pop("tinyhear", None)


def _stored(cache: Path, record: dict, clip_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One clip's frames and timestamps as the run stored them."""
    spec = {k: v for k, v in record["embedder"].items() if k != "trained_on"}
    store = EmbeddingStore(cache)
    ns = store.namespace(namespace_description(spec, record["config"]["resampler"]))
    audio = store.audio_id(clip_path)
    return ns.load(audio), ns.timestamps(audio)


def test_clips_of_one_length_share_a_call(tiny, tmp_path):
    import soundfile as sf

    rng = np.random.default_rng(5)
    clips = []
    for i, n in enumerate([8000, 12000, 8000, 12000, 8000]):
        path = tmp_path / f"c{i}.wav"
        sf.write(path, rng.uniform(-0.5, 0.5, n), RATE, subtype="FLOAT")
        clips.append(Clip(f"c{i}", path, "x", 1))
    emb = create("hear:tinyhear", weights_dir=tmp_path)
    spec = emb.prepare()
    import tinyhear

    tinyhear.CALLS.clear()
    store = EmbeddingStore(tmp_path / "store")
    report, audio_ids = embed_clips(clips, emb, spec, store, progress=False)
    assert report.n_computed == 5
    assert sorted(tinyhear.CALLS) == [(2, 12000), (3, 8000)]
    ns = store.namespace(namespace_description(spec.to_dict(), "kaiser_best"))
    for clip in clips:
        y = load_resampled(clip.path, RATE)
        want, want_t = expected_frames(y)
        np.testing.assert_allclose(ns.load(audio_ids[clip.id]), want, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ns.timestamps(audio_ids[clip.id]), want_t)


def test_run_on_synth_mini_records_identity_and_training_overlap(tiny, synth_mini_root,
                                                                 tmp_path):
    weights = tmp_path / "scale.txt"
    weights.write_text("3.0")
    out, cache = tmp_path / "runs", tmp_path / "cache"
    res = CliRunner().invoke(main, [
        "run", "-e", "hear:tinyhear", "--embedder-option", f"model_file_path={weights}",
        "--embedder-option", "trained_on=Synth-Mini,audioset", "--embedder-option",
        "frame_hop=0.5", "-d", "synth-mini", "--data-dir", str(synth_mini_root),
        "--cache-dir", str(cache), "--weights-dir", str(tmp_path / "w"), "--out", str(out),
        *QUICK])
    assert res.exit_code == 0, res.output
    run_dir = next(out.iterdir())
    record = json.loads((run_dir / "results.json").read_text())
    sha = hashlib.sha256(weights.read_bytes()).hexdigest()
    emb = record["embedder"]
    assert emb["name"] == "hear:tinyhear" and emb["weights_sha256"] == sha
    assert emb["options"]["load_model"] == [["model_file_path", f"sha256:{sha}"]]
    assert emb["options"]["frame_hop"] == 0.5 and emb["trained_on"] == ["Synth-Mini", "audioset"]
    assert record["config"]["embedder_options"]["model_file_path"] == str(weights)
    assert record["training_overlap"] == {"dataset": "synth-mini", "declared": ["Synth-Mini"]}
    assert any("training-data overlap" in w for w in record["warnings"])
    assert "training-data overlap" in res.output and "TRAINING-DATA OVERLAP" in res.output
    assert len(record["folds"]) == 5
    # the stored frames are the module's output on bench's resampled audio, pooled per 0.5 s
    clip = datasets.create("synth-mini", data_dir=synth_mini_root).clips()[7]
    frames, times = _stored(cache, record, clip.path)
    want, want_t = pooled(*expected_frames(load_resampled(clip.path, RATE), 3.0), 0.5)
    np.testing.assert_allclose(frames, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(times, want_t)
    # the report marks the run
    rep = CliRunner().invoke(main, ["report", str(run_dir), "--reference", "none", "--out",
                                    str(tmp_path / "report"), "--n-boot", "200"])
    assert rep.exit_code == 0, rep.output
    text = (tmp_path / "report" / "report.md").read_text()
    assert "hear:tinyhear †" in text and "training-data overlap" in text


def test_study_files_give_options_per_embedder(tmp_path):
    study = study_from_dict({
        "name": "own-model", "datasets": ["synth-mini"],
        "embedders": ["mfcc", {"name": "hear:tinyhear#scene",
                               "options": {"model_file_path": "/m/scale.txt",
                                           "trained_on": ["esc50"]}}]})
    configs = {c.embedder: c for c in study.plan()}
    assert configs["mfcc"].embedder_options == ()
    assert configs["hear:tinyhear#scene"].embedder_options == (
        ("model_file_path", "/m/scale.txt"), ("trained_on", ("esc50",)))
    with pytest.raises(Exception, match="takes 'name' and 'options'"):
        study_from_dict({"name": "x", "datasets": ["synth-mini"],
                         "embedders": [{"name": "hear:tinyhear", "option": {}}]})


@pytest.mark.slow
def test_panns_hear_with_test_made_weights_runs_the_paper_protocol(synth_mini_root, tmp_path):
    """panns-hear from the package index: its CNN14 with random weights, saved as the
    checkpoint its load_model reads, evaluated through hear:panns_hear."""
    pytest.importorskip("panns_hear", reason="panns-hear is not installed (pip install "
                                             "'bench-audio-embeddings[hear]')")
    import panns_hear
    import torch
    from panns_hear.models import Cnn14

    torch.manual_seed(0)
    net = Cnn14(sample_rate=32000, window_size=1024, hop_size=320, mel_bins=64, fmin=50,
                fmax=14000, classes_num=527)
    ckpt = tmp_path / "Cnn14_random.pth"
    torch.save({"model": net.state_dict()}, ckpt)
    out, cache = tmp_path / "runs", tmp_path / "cache"
    res = CliRunner().invoke(main, [
        "run", "-e", "hear:panns_hear", "--embedder-option", f"model_file_path={ckpt}",
        "--embedder-option", "frame_hop=0.5", "-d", "synth-mini", "--data-dir",
        str(synth_mini_root), "--cache-dir", str(cache), "--weights-dir", str(tmp_path / "w"),
        "--out", str(out), "--repeats", "1", *QUICK])
    assert res.exit_code == 0, res.output
    record = json.loads(next(out.glob("*/results.json")).read_text())
    emb = record["embedder"]
    assert (emb["sample_rate"], emb["dim"]) == (32000, 2048)
    assert emb["options"]["distribution"] == "panns-hear"
    assert emb["options"]["distribution_version"] == panns_hear.__version__
    assert emb["weights_sha256"] == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    # panns-hear 0.2.1 writes its timestamps in seconds; bench notices and says so
    assert emb["options"]["timestamp_unit"] == "s"
    assert any("timestamps in seconds" in w for w in record["warnings"])
    assert record["protocol"]["preset"] == "paper" and len(record["folds"]) == 5
    assert record["embedding"]["n_computed"] == 120
    # one clip's stored frames against the package called directly on bench's resampled audio
    clip = datasets.create("synth-mini", data_dir=synth_mini_root).clips()[3]
    y = load_resampled(clip.path, 32000)
    model = panns_hear.load_model(str(ckpt), device="cpu")
    direct, seconds = panns_hear.get_timestamp_embeddings(torch.from_numpy(y)[None], model)
    want, want_t = pooled(direct[0].numpy().astype(np.float64), seconds[0].numpy(), 0.5)
    frames, times = _stored(cache, record, clip.path)
    np.testing.assert_allclose(frames, want, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(times, want_t)

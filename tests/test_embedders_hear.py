"""`hear:MODULE`: a HEAR-API package as an embedder, its checks, its identity, offline loading."""

from __future__ import annotations

import hashlib
import socket
import threading

import numpy as np
import pytest

from bench import embedders
from bench.embedders.hear import HearEmbedder, pool_frames
from bench.embedders.netguard import refuse_network
from bench.errors import ConfigError, EmbedderError, WeightsError
from bench.runs.config import parse_options
from hear_fixtures import RATE, expected_frames, install_tiny, pooled


@pytest.fixture
def tiny(tmp_path_factory, monkeypatch):
    """The tinyhear module importable; returns its file."""
    directory = tmp_path_factory.getbasetemp() / "tinyhear-module"
    directory.mkdir(exist_ok=True)
    monkeypatch.syspath_prepend(str(directory))
    path = install_tiny(directory)
    yield path
    import sys

    sys.modules.pop("tinyhear", None)


def _make(target="tinyhear", tmp_path=None, **options):
    return embedders.create(f"hear:{target}", weights_dir=tmp_path,
                            options=tuple(options.items()))


def test_options_from_the_command_line_keep_their_types():
    assert parse_options(["model_file_path=a/b.pt", "hop=50", "scale=0.5", "x=true",
                          "trained_on=esc50,us8k", "y=none"]) == (
        ("model_file_path", "a/b.pt"), ("hop", 50), ("scale", 0.5), ("x", True),
        ("trained_on", "esc50,us8k"), ("y", None))
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_options(["novalue"])
    with pytest.raises(ConfigError, match="given twice"):
        parse_options(["a=1", "a=2"])


def test_names_and_options_are_checked_before_anything_loads(tiny):
    entry = embedders.REGISTRY.entry("hear:tinyhear#scene")
    assert entry.target == "bench.embedders.hear:HearEmbedder"
    assert entry.kwargs == {"target": "tinyhear#scene"}
    with pytest.raises(ConfigError, match="unknown HEAR mode 'frames'"):
        embedders.create("hear:tinyhear#frames")
    with pytest.raises(ConfigError, match="importable module name"):
        embedders.create("hear:not a module")
    with pytest.raises(ConfigError, match="takes no options"):
        embedders.create("mfcc", options=(("model_file_path", "x"),))
    with pytest.raises(ConfigError, match="frame_hop must be a positive"):
        _make(frame_hop=0)
    with pytest.raises(ConfigError, match="no meaning with #scene"):
        _make("tinyhear#scene", frame_hop=0.5)
    with pytest.raises(ConfigError, match="cannot import the HEAR module 'no_such_hear_pkg'"):
        _make("no_such_hear_pkg").prepare()


def test_timestamp_frames_match_an_independent_computation(tiny, tmp_path):
    weights = tmp_path / "scale.txt"
    weights.write_text("2.5")
    emb = _make(tmp_path=tmp_path / "w", model_file_path=str(weights),
                trained_on="ESC-50, audioset")
    spec = emb.prepare()
    sha = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert (spec.name, spec.sample_rate, spec.dim, spec.window_s) == ("hear:tinyhear", RATE, 4,
                                                                     None)
    assert spec.hop_s == pytest.approx(0.025)
    assert spec.weights_sha256 == sha
    opts = dict(spec.options)
    assert opts["load_model"] == (("model_file_path", f"sha256:{sha}"),)
    assert opts["distribution"] is None  # a bare module: its file's hash stands for a version
    assert opts["module_sha256"] == hashlib.sha256(tiny.read_bytes()).hexdigest()
    assert opts["timestamp_unit"] == "ms" and opts["mode"] == "timestamp"
    assert spec.trained_on == ("ESC-50", "audioset") and "trained_on" not in spec.to_dict()
    rng = np.random.default_rng(1)
    clips = [rng.uniform(-1, 1, 16123).astype(np.float32) for _ in range(3)]
    out = emb.embed_sequences(clips)
    for y, (frames, times) in zip(clips, out):
        want, want_t = expected_frames(y, 2.5)
        np.testing.assert_allclose(frames, want, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(times, want_t)
        assert frames.dtype == np.float32
    import tinyhear

    assert tinyhear.CALLS[-1] == (3, 16123)  # the three clips went in one call


def test_scene_mode_gives_one_frame_per_clip(tiny, tmp_path):
    emb = _make("tinyhear#scene", tmp_path)
    spec = emb.prepare()
    assert spec.name == "hear:tinyhear#scene" and spec.dim == 4
    y = np.random.default_rng(2).uniform(-1, 1, 9000).astype(np.float32)
    (frames, times), = emb.embed_sequences([y])
    assert frames.shape == (1, 4) and times.tolist() == [0.0]
    np.testing.assert_allclose(frames[0], expected_frames(y)[0].mean(0), rtol=1e-5, atol=1e-6)


def test_frame_hop_averages_timestamp_embeddings_in_bins(tiny, tmp_path):
    emb = _make(tmp_path=tmp_path, frame_hop=0.1)
    assert emb.prepare().hop_s == 0.1
    y = np.random.default_rng(3).uniform(-1, 1, 17000).astype(np.float32)
    (frames, times), = emb.embed_sequences([y])
    want, want_t = pooled(*expected_frames(y), 0.1)
    assert len(frames) == 11  # 43 blocks of 25 ms: 4 per 0.1 s, the last bin holds 3
    np.testing.assert_allclose(frames, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(times, want_t)
    # the pooling itself, on numbers that show a wrong bin at once
    f, t = pool_frames(np.arange(10, dtype=np.float32)[:, None], np.arange(10) * 0.3, 1.0)
    assert f[:, 0].tolist() == [1.5, 5.0, 8.0] and t.tolist() == [0.0, 1.0, 2.0]


@pytest.mark.parametrize("flaw, mode, message", [
    ("rate", "", "sample_rate must be a positive integer"),
    ("rate_range", "", "sample_rate 100 Hz is not supported"),
    ("no_size", "", "no attribute 'timestamp_embedding_size'"),
    ("not_module", "", "PyTorch HEAR models"),
    ("crash", "", "load_model(flaw='crash') failed: RuntimeError"),
    ("float64", "", "timestamp embeddings must be float32, found float64"),
    ("size", "", "expected (2, n_timestamps, 4)"),
    ("batch", "", "for 2 clips"),
    ("ts_shape", "", "timestamps have shape"),
    ("decreasing", "", "timestamps must increase"),
    ("short", "", "short of the end"),
    ("past_end", "", "end after the clip"),
    ("nan", "", "NaN or infinite"),
    ("scene_size", "#scene", "expected (2, 4)"),
])
def test_each_conformance_violation_has_its_error(tiny, tmp_path, flaw, mode, message):
    emb = _make(f"tinyhear{mode}", tmp_path, flaw=flaw)
    with pytest.raises(EmbedderError) as err:
        emb.prepare()
    assert message in str(err.value) and "tinyhear" in str(err.value)
    assert "\n" not in err.value.message


def test_a_module_without_the_api_functions_is_named(tmp_path, monkeypatch):
    (tmp_path / "halfhear.py").write_text("def load_model(model_file_path=None):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(EmbedderError, match="halfhear has no function get_timestamp_embeddings"):
        _make("halfhear", tmp_path).prepare()


def test_timestamps_in_seconds_are_read_as_seconds_and_said(tiny, tmp_path):
    emb = _make(tmp_path=tmp_path, flaw="seconds")
    spec = emb.prepare()
    assert dict(spec.options)["timestamp_unit"] == "s" and spec.hop_s == pytest.approx(0.025)
    assert any("timestamps in seconds" in n for n in emb.notes)
    y = np.random.default_rng(4).uniform(-1, 1, 8000).astype(np.float32)
    (_, times), = emb.embed_sequences([y])
    np.testing.assert_allclose(times, expected_frames(y)[1], atol=1e-6)


def test_a_download_during_load_model_names_the_package_and_the_file(tiny, tmp_path):
    with pytest.raises(WeightsError) as err:
        _make(tmp_path=tmp_path, flaw="download").prepare()
    text = str(err.value)
    assert "tinyhear tried to download during load_model" in text
    assert "http://weights.example.invalid/tiny-v1.pt" in text
    assert "--embedder-option model_file_path=PATH" in text
    # the guard is gone afterwards
    assert socket.getaddrinfo.__module__ == "socket"


def test_the_guard_lets_loopback_through_and_records_the_rest():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    accepter = threading.Thread(target=lambda: server.accept()[0].close(), daemon=True)
    accepter.start()
    with refuse_network() as attempts:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        with pytest.raises(OSError):
            socket.create_connection(("203.0.113.7", 443), timeout=5)
        with pytest.raises(OSError):
            socket.getaddrinfo("files.example.org", 443)
    accepter.join(5)  # the loopback connection was accepted: close the server only then
    assert not accepter.is_alive()
    server.close()
    assert attempts.hosts == ["203.0.113.7:443", "files.example.org:443"]

"""VGGish: torchvggish's pipeline at a 0.1 s hop, state dict loading, numpy reference, 8-bit output."""

from __future__ import annotations

import numpy as np
import pytest

from bench.embedders import weights
from bench.embedders.catalog import needing_weights
from bench.audio.frames import frame_windows
from bench.embedders import create
from bench.embedders.vggish import WINDOW_SAMPLES, postprocess
from embedder_fixtures import vggish_reference, write_vggish_files

SR = 16000


def _signal(seconds: float, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    rng = np.random.default_rng(seed)
    y = 0.4 * np.sin(2 * np.pi * 500 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2 \
        + 0.1 * np.sin(2 * np.pi * 2500 * t ** 1.5) + 0.02 * rng.standard_normal(len(t))
    return y.astype(np.float32)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("vggish")
    state_path, pca_path, state, pca = write_vggish_files(d)
    wd = d / "weights"
    with pytest.warns(UserWarning):
        weights.import_weights(needing_weights("vggish"), state_path, wd, force=True)
        weights.import_weights(needing_weights("vggish"), pca_path, wd, force=True)
    return wd, state, pca, state_path, pca_path


def test_windows_are_torchvggish_examples_at_a_tenth_of_a_second(monkeypatch):
    """0.975 s windows every 0.1 s give exactly the examples of torchvggish's own pipeline."""
    from torchvggish import vggish_input, vggish_params

    y = _signal(3.0)
    monkeypatch.setattr(vggish_params, "EXAMPLE_HOP_SECONDS", 0.10)
    theirs = vggish_input.waveform_to_examples(y.astype(np.float64), SR,
                                               return_tensor=False)
    e = create("vggish-raw", download=False)
    windows = frame_windows(y, e.spec.window_samples, e.spec.hop_samples)
    assert e.spec.window_samples == WINDOW_SAMPLES == 15600 and e.spec.hop_samples == 1600
    ours = e.examples(windows)
    assert ours.shape == theirs.shape == (1 + (len(y) - 15600) // 1600, 96, 64)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    # a 5 s clip: 41 frames, as for L3 (docs/protocol.md, "One run")
    assert len(frame_windows(_signal(5.0), 15600, 1600)) == 41


def test_quantisation_is_floor_of_the_release_mapping():
    raw = np.array([[-3.0, -2.0, -1.999, 0.0, 0.0157, 0.0160, 1.999, 2.0, 5.0] + [0.0] * 119])
    codes = postprocess(raw, np.eye(128), np.zeros(128))
    # floor((clip(x, -2, 2) + 2) * 255 / 4): 0 -> 127 (rounding would give 128)
    assert codes[0, :9].tolist() == [0, 0, 0, 127, 128, 128, 254, 255, 255]
    assert codes.dtype == np.float32
    # PCA with whitening before the clip: E (x - mu)
    rng = np.random.default_rng(0)
    e, mu, x = rng.normal(size=(128, 128)) * 0.1, rng.normal(size=128), rng.normal(size=(3, 128))
    want = np.floor((np.clip((x - mu) @ e.T, -2, 2) + 2) * 63.75)
    np.testing.assert_array_equal(postprocess(x, e, mu), want)


def test_state_dict_lands_in_torchvggish_network_and_matches_numpy(files):
    wd, state, pca, _, _ = files
    e = create("vggish-raw", weights_dir=wd, download=False)
    with pytest.warns(UserWarning, match="not the official"):
        spec = e.prepare()
    assert spec.weights_sha256 == weights.sha256_of(wd / "vggish-10086976.pth")
    net_state = e._net.state_dict()
    for key, value in state.items():
        np.testing.assert_array_equal(net_state[key].numpy(), value.numpy())
    y = _signal(1.2, seed=1)
    windows = np.ascontiguousarray(frame_windows(y, 15600, 1600)[:1])
    out = e.embed_windows(windows)
    ref = vggish_reference(e.examples(windows)[0], state)
    assert out.shape == (1, 128)
    np.testing.assert_allclose(out[0], ref, rtol=1e-3, atol=1e-4 * np.abs(ref).max())


def test_vggish_paper_output_end_to_end(files):
    wd, state, pca, _, _ = files
    raw_e = create("vggish-raw", weights_dir=wd, download=False)
    e = create("vggish", weights_dir=wd, download=False)
    with pytest.warns(UserWarning):
        raw_e.prepare()
        spec = e.prepare()
    assert spec.weights_sha256 == (weights.sha256_of(wd / "vggish-10086976.pth") + "+"
                                   + weights.sha256_of(wd / "vggish_pca_params-970ea276.pth"))
    assert dict(spec.options)["output"].startswith("pca-whiten")
    windows = np.ascontiguousarray(frame_windows(_signal(2.0, seed=2), 15600, 1600))
    codes = e.embed_windows(windows)
    raw = raw_e.embed_windows(windows)
    assert codes.shape == raw.shape == (len(windows), 128)
    assert np.all(codes == np.round(codes)) and codes.min() >= 0 and codes.max() <= 255
    want = np.floor((np.clip((raw.astype(np.float64) - pca["pca_means"]) @ pca["pca_eigen_vectors"].T,
                             -2, 2) + 2) * 255 / 4)
    # float32 network differences can move a value across a code boundary, rarely
    assert np.mean(codes == want) > 0.99 and np.abs(codes - want).max() <= 1
    assert len(np.unique(codes)) > 20  # the test weights give a spread of codes, not a constant


def test_missing_pca_file_names_it(tmp_path, files):
    import shutil

    wd = tmp_path / "w"
    wd.mkdir()
    shutil.copy(files[0] / "vggish-10086976.pth", wd / "vggish-10086976.pth")
    e = create("vggish", weights_dir=wd, download=False)
    with pytest.raises(Exception) as info:
        with pytest.warns(UserWarning):
            e.prepare()
    assert "vggish_pca_params-970ea276.pth" in str(info.value)
    assert "bench weights import vggish" in str(info.value)

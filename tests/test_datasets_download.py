"""Downloads against a local HTTP server on 127.0.0.1 (complete, interrupted and resumed,
checksum mismatch, no Range support, errors) and safe, atomic archive extraction; then whole
`bench data download` runs of each dataset from a mirror serving replica archives."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import socket
import tarfile
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.io.archive import MARKER, extract, is_complete
from bench.cli import main
from bench.datasets import create
from bench.datasets.catalog import catalog
from bench.io.download import Remote, download_file
from bench.errors import DownloadError
from datasets_fixtures import (accept_esc50_meta, make_dcase2013, make_esc50, make_us8k, md5,
                               zip_folder)
from http_fixtures import LocalServer

BLOB = os.urandom(300_000) + b"tail"


def _remote(url: str, data: bytes = BLOB, **kw) -> Remote:
    return Remote(url, "blob.bin", size=kw.pop("size", len(data)),
                  sha256=kw.pop("sha256", hashlib.sha256(data).hexdigest()),
                  md5=kw.pop("md5", hashlib.md5(data).hexdigest()))


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setattr("bench.io.download.RETRY_DELAY_S", 0.0)
    with LocalServer() as srv:
        yield srv


# -- the download helper -------------------------------------------------------------------------

def test_complete_download(server, tmp_path):
    url = server.serve("blob.bin", BLOB)
    path = download_file(_remote(url), tmp_path, progress=False)
    assert path == tmp_path / "blob.bin" and path.read_bytes() == BLOB
    assert not (tmp_path / "blob.bin.part").exists()
    assert server.state.requests == [("/blob.bin", None)]
    download_file(_remote(url), tmp_path, progress=False)  # complete already: not fetched again
    assert len(server.state.requests) == 1


def test_interrupted_download_resumes_where_it_stopped(server, tmp_path):
    url = server.serve("blob.bin", BLOB)
    server.state.drop_after, server.state.drops = 120_000, 1
    with pytest.raises(DownloadError) as err:
        download_file(_remote(url), tmp_path, progress=False, retries=0)
    assert "interrupted" in err.value.message and "resumes" in err.value.hint
    part = tmp_path / "blob.bin.part"
    # the partial file is kept under its .part name, never as the file itself
    assert not (tmp_path / "blob.bin").exists() and part.stat().st_size == 120_000
    path = download_file(_remote(url), tmp_path, progress=False, retries=0)
    assert path.read_bytes() == BLOB and not part.exists()
    assert server.state.requests[-1] == ("/blob.bin", "bytes=120000-")


def test_interruption_without_known_size_is_not_taken_as_complete(server, tmp_path):
    # GitHub archives have no known size or checksum: only Content-Length tells a cut body
    url = server.serve("blob.bin", BLOB)
    server.state.drop_after, server.state.drops = 50_000, 1
    bare = Remote(url, "blob.bin")
    with pytest.raises(DownloadError, match="closed the connection after 50000 of"):
        download_file(bare, tmp_path, progress=False, retries=0)
    assert not (tmp_path / "blob.bin").exists()
    assert download_file(bare, tmp_path, progress=False).read_bytes() == BLOB


def test_interruptions_are_retried_automatically(server, tmp_path):
    url = server.serve("blob.bin", BLOB)
    server.state.drop_after, server.state.drops = 100_000, 2
    path = download_file(_remote(url), tmp_path, progress=False, retries=2)
    assert path.read_bytes() == BLOB
    assert [r for _, r in server.state.requests] == [None, "bytes=100000-", "bytes=200000-"]


def test_checksum_mismatch_is_refused_and_removed(server, tmp_path):
    bad = bytearray(BLOB)
    bad[1000] ^= 0xFF  # same size, one byte differs
    url = server.serve("blob.bin", bytes(bad))
    with pytest.raises(DownloadError) as err:
        download_file(_remote(url), tmp_path, progress=False)
    assert "sha256" in err.value.message and "md5" in err.value.message
    assert "place a verified copy by hand" in err.value.hint
    assert list(tmp_path.iterdir()) == []  # neither the file nor a part is left


def test_server_without_range_support_restarts_cleanly(server, tmp_path):
    url = server.serve("blob.bin", BLOB)
    (tmp_path / "blob.bin.part").write_bytes(BLOB[:1000])
    server.state.ignore_range = True
    assert download_file(_remote(url), tmp_path, progress=False).read_bytes() == BLOB


def test_http_error_and_unreachable_server_say_what_to_do(server, tmp_path):
    with pytest.raises(DownloadError) as err:
        download_file(_remote(server.url("absent.bin")), tmp_path, progress=False)
    assert "HTTP 404" in err.value.message and "place it at" in err.value.hint
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    with pytest.raises(DownloadError) as err:
        download_file(_remote(f"http://127.0.0.1:{port}/blob.bin"), tmp_path, progress=False)
    assert "cannot reach" in err.value.message and str(tmp_path / "blob.bin") in err.value.hint


# -- extraction ----------------------------------------------------------------------------------

def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


@pytest.mark.parametrize("name", ["../evil.txt", "top/../../evil.txt", "/abs/evil.txt",
                                  "C:/evil.txt", "top\\..\\..\\evil.txt"])
def test_zip_with_escaping_member_is_refused(tmp_path, name):
    archive = _zip(tmp_path / "a.zip", {"top/ok.txt": b"ok", name: b"evil"})
    dest = tmp_path / "out" / "inner"
    with pytest.raises(DownloadError, match="unsafe member name"):
        extract(archive, dest, progress=False)
    assert not list(tmp_path.rglob("evil.txt")) and list(dest.iterdir()) == []


def test_tar_with_link_or_escaping_member_is_refused(tmp_path):
    def tar(path, add):
        with tarfile.open(path, "w:gz") as tf:
            info = tarfile.TarInfo("top/ok.txt")
            info.size = 2
            tf.addfile(info, io.BytesIO(b"ok"))
            add(tf)
        return path

    def link(tf):
        info = tarfile.TarInfo("top/passwd")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(info)

    def escape(tf):
        info = tarfile.TarInfo("../evil.txt")
        info.size = 4
        tf.addfile(info, io.BytesIO(b"evil"))

    dest = tmp_path / "out"
    with pytest.raises(DownloadError, match="link or a special file"):
        extract(tar(tmp_path / "l.tar.gz", link), dest, progress=False)
    with pytest.raises(DownloadError, match="unsafe member name"):
        extract(tar(tmp_path / "e.tar.gz", escape), dest, progress=False)
    assert list(dest.iterdir()) == [] and not (tmp_path / "evil.txt").exists()


def test_extraction_is_atomic_and_marked_complete(tmp_path):
    archive = _zip(tmp_path / "a.zip", {"top/a.txt": b"a", "top/sub/b.txt": b"b",
                                        "__MACOSX/top/._a.txt": b"junk"})
    dest = tmp_path / "out"
    placed = extract(archive, dest, expect=("top",), progress=False)
    assert placed == [dest / "top"] and is_complete(dest / "top")
    assert (dest / "top" / "sub" / "b.txt").read_bytes() == b"b"
    assert sorted(p.name for p in dest.iterdir()) == ["top"]  # no junk, no temporary folder
    with pytest.raises(DownloadError, match="already exists"):
        extract(archive, dest, progress=False)
    # a damaged archive (bad CRC) leaves nothing half-extracted in place
    raw = bytearray(_zip(tmp_path / "b.zip", {"other/x.txt": b"x" * 5000}).read_bytes())
    raw[raw.index(b"x" * 100) + 10] ^= 1
    (tmp_path / "b.zip").write_bytes(bytes(raw))
    with pytest.raises(DownloadError, match="damaged"):
        extract(tmp_path / "b.zip", dest, progress=False)
    assert sorted(p.name for p in dest.iterdir()) == ["top"]
    with pytest.raises(DownloadError, match=r"does not hold \['missing'\]"):
        extract(archive, tmp_path / "o2", expect=("missing",), progress=False)


def test_loose_archive_is_wrapped_into_its_folder(tmp_path):
    archive = _zip(tmp_path / "a.zip", {"bus01.wav": b"1", "park01.wav": b"2"})
    placed = extract(archive, tmp_path / "out", wrap="scenes_stereo", progress=False)
    assert placed == [tmp_path / "out" / "scenes_stereo"]
    assert sorted(p.name for p in placed[0].iterdir()) == [MARKER, "bus01.wav", "park01.wav"]


# -- whole datasets from a mirror ----------------------------------------------------------------

def _serve_file(server, path: Path) -> None:
    server.serve(path.name, path.read_bytes())


def test_download_esc50_from_mirror(server, tmp_path, monkeypatch):
    src = make_esc50(tmp_path / "src")
    archive = zip_folder(src, tmp_path / "ESC-50-master.zip")
    _serve_file(server, archive)
    accept_esc50_meta(monkeypatch, src)
    data = tmp_path / "data"
    server.state.drop_after, server.state.drops = 20_000, 1  # one drop, resumed by a retry
    result = CliRunner().invoke(main, ["data", "download", "esc50", "--data-dir", str(data),
                                       "--mirror", server.base])
    assert result.exit_code == 0, result.output
    root = data / "ESC-50-master"
    assert "ready at" in result.output and is_complete(root)
    assert not (data / "downloads" / "ESC-50-master.zip").exists()  # archive removed after use
    assert server.state.requests[-1][1] == "bytes=20000-"
    ds = create("esc50", data_dir=data, download=False)
    ds.prepare(progress=False)
    assert len(ds.clips()) == 20 and ds.verify(progress=False).ok
    assert (root / "audio" / "1-900001-A-0.wav").read_bytes() == \
        (src / "audio" / "1-900001-A-0.wav").read_bytes()
    again = CliRunner().invoke(main, ["data", "download", "esc50", "--data-dir", str(data)])
    assert again.exit_code == 0 and "already at" in again.output  # nothing fetched


def test_download_us8k_checksum_mismatch_then_ok(server, tmp_path, monkeypatch):
    src = make_us8k(tmp_path / "src")
    archive = tmp_path / "UrbanSound8K.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(src, arcname="UrbanSound8K")
    _serve_file(server, archive)
    data = tmp_path / "data"
    # the replica is not the official archive: its md5 is refused and nothing is extracted
    result = CliRunner().invoke(main, ["data", "download", "us8k", "--data-dir", str(data),
                                       "--mirror", server.base])
    assert result.exit_code != 0 and "9aa69802bbf37fb986f71ec1483a196e" in result.output
    assert not (data / "UrbanSound8K").exists()
    assert not list((data / "downloads").iterdir())
    from bench.datasets import us8k

    pkg = us8k.UrbanSound8K.packages[0]
    good = dataclasses.replace(pkg, remote=dataclasses.replace(pkg.remote, md5=md5(archive)))
    monkeypatch.setattr(us8k.UrbanSound8K, "packages", (good,))
    monkeypatch.setenv("BENCH_DATA_MIRROR", server.base)
    result = CliRunner().invoke(main, ["data", "download", "urbansound8k", "--data-dir",
                                       str(data), "--keep-archives"])
    assert result.exit_code == 0, result.output
    assert (data / "downloads" / "UrbanSound8K.tar.gz").exists()
    ds = create("us8k", data_dir=data, download=False)
    assert len(ds.clips()) == 20 and ds.verify(progress=False).ok


def test_download_dcase2013_three_files(server, tmp_path, monkeypatch):
    src = make_dcase2013(tmp_path / "src")
    from bench.datasets import dcase2013

    files = [zip_folder(src / "scenes_stereo", tmp_path / "scenes_stereo.zip"),
             # an archive of the folder's content only: wrapped into its folder on extraction
             zip_folder(src / "scenes_stereo_testset", tmp_path / "scenes_stereo_testset.zip",
                        arc_prefix=""),
             src / "dcase2013_task1_filenamekey.csv"]
    pkgs = []
    for pkg, f in zip(dcase2013.DCASE2013.packages, files):
        _serve_file(server, f)
        pkgs.append(dataclasses.replace(pkg, remote=dataclasses.replace(
            pkg.remote, size=f.stat().st_size, md5=md5(f) if pkg.remote.md5 else None)))
    monkeypatch.setattr(dcase2013.DCASE2013, "packages", tuple(pkgs))
    data = tmp_path / "data"
    monkeypatch.setenv("BENCH_DATA_MIRROR", server.base)
    ds = dcase2013.DCASE2013(data)
    ds.prepare(progress=False)  # prepare downloads what is missing
    assert sorted(p.name for p in data.iterdir()) == ["dcase2013_task1_filenamekey.csv",
                                                      "downloads", "scenes_stereo",
                                                      "scenes_stereo_testset"]
    assert len(ds.clips()) == 10 and ds.verify(progress=False).ok
    assert [r[0] for r in server.state.requests] == [
        "/scenes_stereo.zip", "/scenes_stereo_testset.zip", "/dcase2013_task1_filenamekey.csv"]


def test_partial_download_shows_in_list_and_is_never_used(tmp_path):
    data = tmp_path / "data"
    (data / "downloads").mkdir(parents=True)
    (data / "downloads" / "UrbanSound8K.tar.gz.part").write_bytes(b"x" * 4096)
    # a folder left by an interrupted extraction is not a copy either
    (data / ".UrbanSound8K.tar.gz.extracting" / "UrbanSound8K" / "metadata").mkdir(parents=True)
    row = next(r for r in catalog(data) if r["name"] == "us8k")
    assert row["present"] == "partial download (4 KiB)" and row["aliases"] == ["urbansound8k"]
    assert create("us8k", data_dir=data, download=False).locate() is None
    result = CliRunner().invoke(main, ["data", "list", "--data-dir", str(data)])
    assert result.exit_code == 0 and "us8k (urbansound8k)" in result.output
    assert "partial download" in result.output


def test_download_of_generated_dataset_is_refused(tmp_path):
    result = CliRunner().invoke(main, ["data", "download", "synth", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2 and "nothing to download" in result.output

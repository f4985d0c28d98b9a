"""Archive extraction refuses decompression bombs and duplicate member names; every bomb is
made in the test and stays tiny on disk (a few KB), and nothing of it is written."""

from __future__ import annotations

import io
import tarfile
import zipfile
import zlib

import pytest

from bench.errors import DownloadError
from bench.io.archive import extract

GIB = 1 << 30


def _octal(n: int, width: int = 12) -> bytes:
    return (f"%0{width - 1}o" % n).encode() + b"\0"


def sparse_tar_bomb(path, real_size: int = 2 * GIB) -> None:
    """A GNU sparse tar whose one member declares ``real_size`` bytes (all a hole but its last
    512) while the archive holds 2 KB: written out, a 2 GiB file."""
    info = tarfile.TarInfo("data/bomb.wav")
    info.type = tarfile.GNUTYPE_SPARSE
    info.size = 512  # the bytes actually stored
    header = bytearray(info.tobuf(format=tarfile.GNU_FORMAT))
    header[386:398] = _octal(real_size - 512)  # one data region: the last 512 bytes
    header[398:410] = _octal(512)
    header[482] = 0  # no extended sparse headers
    header[483:495] = _octal(real_size)  # the member's real size
    header[148:156] = b" " * 8
    header[148:156] = ("%06o\0 " % sum(header[:512])).encode()
    path.write_bytes(bytes(header[:512]) + b"x" * 512 + b"\0" * 1024)


def zip_bomb(path, size: int) -> None:
    """One member of ``size`` zero bytes, deflated as it is written (about size/1000 on disk)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("data/zeros.wav", "w", force_zip64=True) as out:
            block = bytes(1 << 20)
            for _ in range(size >> 20):
                out.write(block)


def _nothing_written(dest) -> bool:
    return not dest.exists() or sum(p.stat().st_size for p in dest.rglob("*") if p.is_file()) == 0


def test_sparse_tar_bomb_is_refused_before_writing(tmp_path):
    bomb = tmp_path / "bomb.tar"
    sparse_tar_bomb(bomb)
    assert bomb.stat().st_size == 2048
    with tarfile.open(bomb) as tf:  # what it claims (and what tarfile would write out)
        (m,) = tf.getmembers()
        assert m.issparse() and m.size == 2 * GIB
    dest = tmp_path / "data"
    with pytest.raises(DownloadError, match="decompression bomb.*declare more than") as err:
        extract(bomb, dest, progress=False)
    assert "nothing was extracted" in err.value.message
    assert "BENCH_MAX_UNPACK_RATIO" in err.value.hint
    assert _nothing_written(dest)


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_compression_bombs_are_refused(tmp_path, kind):
    bomb = tmp_path / f"bomb.{kind}"
    if kind == "zip":
        zip_bomb(bomb, 256 << 20)
        expected = "compressed [0-9]+ times"
    else:
        with tarfile.open(bomb, "w:gz") as tf:
            info = tarfile.TarInfo("data/zeros.wav")
            info.size = 256 << 20
            tf.addfile(info, io.BytesIO(bytes(info.size)))
        expected = "declare more than"
    assert bomb.stat().st_size < 1 << 20  # 256 MiB of zeros in well under 1 MiB
    dest = tmp_path / "out"
    with pytest.raises(DownloadError, match=f"decompression bomb: .*{expected}"):
        extract(bomb, dest, progress=False)
    assert _nothing_written(dest)


def test_a_genuine_archive_passes_and_the_limit_can_be_raised(tmp_path, monkeypatch):
    ok = tmp_path / "ok.zip"
    noise = zlib.compress(bytes(range(256)) * 64)  # incompressible-ish payload
    with zipfile.ZipFile(ok, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("data/a.bin", noise * 100)
    placed = extract(ok, tmp_path / "x", progress=False)
    assert (placed[0] / "a.bin").read_bytes() == noise * 100
    bomb = tmp_path / "zeros.zip"
    zip_bomb(bomb, 32 << 20)
    with pytest.raises(DownloadError, match="decompression bomb"):
        extract(bomb, tmp_path / "y", progress=False)
    monkeypatch.setenv("BENCH_MAX_UNPACK_RATIO", "5000")  # the documented way out
    placed = extract(bomb, tmp_path / "y", progress=False)
    assert (placed[0] / "zeros.wav").stat().st_size == 32 << 20
    monkeypatch.setenv("BENCH_MAX_UNPACK_RATIO", "lots")
    with pytest.raises(DownloadError, match="BENCH_MAX_UNPACK_RATIO must be a number"):
        extract(ok, tmp_path / "z", progress=False)


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_duplicate_member_names_are_refused(tmp_path, kind):
    archive = tmp_path / f"dup.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as zf, pytest.warns(UserWarning, match="Duplicate"):
            zf.writestr("data/a.csv", "first")
            zf.writestr("data/a.csv", "second")
    else:
        with tarfile.open(archive, "w") as tf:
            for text in (b"first", b"second"):
                info = tarfile.TarInfo("data/./a.csv")
                info.size = len(text)
                tf.addfile(info, io.BytesIO(text))
    dest = tmp_path / "out"
    with pytest.raises(DownloadError, match="holds .*a.csv.* twice"):
        extract(archive, dest, progress=False)
    assert not (dest / "data").exists()

"""Disk faults on bench's own folders: read-only --out, --data-dir and store, a full disk while
the results are written (RLIMIT_FSIZE in a subprocess). Each is one line naming the path, the
cause and what to do; nothing is lost and the next run resumes."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.cli import main

QUICK = ["--max-epochs", "2", "--lr", "1e-3", "--wd", "1e-4"]


def _run(*args, out, data, cache):
    return CliRunner().invoke(main, ["run", "-e", "mfcc", "-d", "synth-mini", "-q",
                                     "--no-tracking", "--data-dir", str(data),
                                     "--cache-dir", str(cache), "--out", str(out), *QUICK,
                                     *args])


def _one_line_error(res) -> str:
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output, res.output
    lines = res.output.strip().splitlines()
    at = [i for i, line in enumerate(lines) if line.startswith("error: ")]
    assert len(at) == 1, res.output  # status lines may come first; then one error
    tail = lines[at[0] + 1:]
    assert tail == [] or (len(tail) == 1 and tail[0].startswith("  hint: ")), res.output
    return res.output


@contextlib.contextmanager
def read_only(path: Path):
    """Make ``path`` read-only for bench: a read-only bind mount (EROFS) when running as root,
    which ignores permissions, else taking away write permission (EACCES)."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [path, *path.rglob("*")] if p.is_dir()}
        for p in modes:
            p.chmod(0o555)
        try:
            yield "permission denied"
        finally:
            for p, m in modes.items():
                p.chmod(m)
        return
    bind = subprocess.run(["mount", "--bind", str(path), str(path)], capture_output=True)
    if bind.returncode != 0:
        pytest.skip("running as root without the right to mount: cannot make a read-only dir")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(path), str(path)], check=True)
        yield "the file system is read-only"
    finally:
        subprocess.run(["umount", str(path)], check=True)


@pytest.fixture(scope="module")
def done(synth_mini_root, tmp_path_factory):
    """A store holding synth-mini's mfcc embeddings and the record of a quick run."""
    base = tmp_path_factory.mktemp("disk")
    res = _run(out=base / "ref", data=synth_mini_root, cache=base / "store")
    assert res.exit_code == 0, res.output
    (results,) = (base / "ref").glob("*/results.json")
    return base / "store", json.loads(results.read_text())


def _numbers(record):
    return [(f["test_fold"], f["accuracy"], f["val_loss"]) for f in record["folds"]]


def test_read_only_out_is_one_line_and_leaves_nothing(synth_mini_root, done, tmp_path):
    store, _ = done
    out = tmp_path / "out"
    with read_only(out) as cause:
        text = _one_line_error(_run(out=out, data=synth_mini_root, cache=store))
    assert f"cannot create the run folder {out}/synth-mini-mfcc" in text and cause in text
    assert "--out" in text
    assert list(out.iterdir()) == []


def test_read_only_data_dir_is_one_line(done, tmp_path):
    store, _ = done
    data = tmp_path / "data"
    with read_only(data) as cause:
        text = _one_line_error(_run(out=tmp_path / "out", data=data, cache=store))
    assert f"cannot prepare the dataset in {data}" in text and cause in text
    assert "--data-dir" in text
    assert not (tmp_path / "out").exists()


def test_a_complete_store_on_a_read_only_disk_is_read(synth_mini_root, done, tmp_path):
    store, ref = done
    shared = tmp_path / "shared"
    shutil.copytree(store, shared)  # with its WAL, as a copy taken while a writer was open
    before = {p: p.read_bytes() for p in shared.rglob("*") if p.is_file()}
    with read_only(shared):
        res = _run(out=tmp_path / "out", data=synth_mini_root, cache=shared)
        assert res.exit_code == 0, res.output
        assert "embeddings: 120 clips from the store, 0 computed" in res.output
        (results,) = (tmp_path / "out").glob("*/results.json")
        assert _numbers(json.loads(results.read_text())) == _numbers(ref)
    assert {p: p.read_bytes() for p in shared.rglob("*") if p.is_file()} == before
    # a read-only store without the embeddings a run needs says so, in one line
    empty = tmp_path / "empty"
    shutil.copytree(store, empty)
    shutil.rmtree(next(p for p in (empty / "v2").iterdir()
                       if p.is_dir() and (p / "namespace.json").is_file()))
    with read_only(empty):
        text = _one_line_error(_run(out=tmp_path / "out2", data=synth_mini_root, cache=empty))
    assert "is read-only and lacks embeddings" in text and "--cache-dir" in text
    assert list((tmp_path / "out2").iterdir()) == []  # no empty run folder left behind


_LIMITED = r"""
import resource, sys
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), int(sys.argv[1])))
from bench.cli import main
main(sys.argv[2:])
"""


def test_full_disk_while_writing_results_keeps_the_folds_and_resumes(synth_mini_root, done,
                                                                     tmp_path):
    """``ulimit -f``: no file may grow past 96 KB. The fold records fit, the results file (made
    bigger than that by a long tag) does not: errno 27, as on a full disk."""
    store, _ = done
    out = tmp_path / "out"
    tag = "note=" + "x" * 120_000
    args = ["run", "-e", "mfcc", "-d", "synth-mini", "-q", "--no-tracking", "--data-dir",
            str(synth_mini_root), "--cache-dir", str(store), "--out", str(out), *QUICK,
            "--tag", tag]
    limit = 96 * 1024
    res = subprocess.run([sys.executable, "-c", _LIMITED, str(limit), *args],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    (run_dir,) = out.iterdir()
    assert f"cannot write the results file {run_dir / 'results.json'}" in res.stderr
    assert "larger than this process or file system allows" in res.stderr
    assert "run the same command again: finished work is kept" in res.stderr
    assert sorted(p.name for p in (run_dir / "partial").iterdir()) == [
        f"fold-{i}-repeat-0.json" for i in range(1, 6)]
    assert not (run_dir / "results.json").exists()
    assert not [p for p in run_dir.rglob("*") if p.name.endswith(".tmp")]  # no half files
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    assert "resumed: 5 of 5" in again.output
    record = json.loads((run_dir / "results.json").read_text())
    assert len(record["folds"]) == 5 and record["tags"]["note"] == tag[5:]


def test_a_failed_run_leaves_no_empty_run_folder(synth_mini_root, done, tmp_path, monkeypatch):
    import bench.runs.steps
    from bench.errors import ProtocolError

    store, _ = done

    def fails(*args, **kwargs):
        raise ProtocolError("a fold that cannot be evaluated")

    monkeypatch.setattr(bench.runs.steps, "run_fold", fails)
    out = tmp_path / "out"
    text = _one_line_error(_run(out=out, data=synth_mini_root, cache=store))
    assert "a fold that cannot be evaluated" in text
    assert not out.exists() or list(out.iterdir()) == []


def test_missing_audio_says_what_to_do(synth_mini_root, done, tmp_path):
    store, _ = done
    data = tmp_path / "data"
    shutil.copytree(synth_mini_root, data)
    victim = next((data).rglob("*.wav"))
    victim.unlink()
    text = _one_line_error(_run(out=tmp_path / "out", data=data, cache=store))
    assert f"audio file not found: {victim}" in text
    assert "--skip-bad" in text and "bench data verify" in text
    assert not (tmp_path / "out").exists()


def test_rlimit_is_available():
    # the full-disk test needs RLIMIT_FSIZE (POSIX); Python ignores SIGXFSZ, so writes fail
    # with EFBIG instead of killing the process
    assert resource.RLIMIT_FSIZE >= 0

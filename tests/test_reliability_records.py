"""Nothing half-read: every record bench reads back goes through one reader
(``bench.io.records``). A damaged record of bench's own (a finished fold's record, a store
index, a weights sha256 memo) is set aside as ``<name>.damaged-<time>`` with one line and
recomputed; a damaged final ``results.json`` is one error and is never touched. An audio file
edited in place with its size and mtime kept is found by ``bench cache verify --deep``."""

from __future__ import annotations

import json
import os
import sqlite3
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.errors import DamagedRecordError, ResultsError
from bench.io.records import read_json, read_record, set_aside
from bench.runs.record import RunRecord, read_results
from bench.store.store import EmbeddingStore

QUICK = ["--max-epochs", "2", "--lr", "1e-3", "--wd", "1e-4"]


def _run(out: Path, data: Path, cache: Path):
    return CliRunner().invoke(main, ["run", "-e", "mfcc", "-d", "synth-mini", "-q",
                                     "--no-tracking", "--data-dir", str(data), "--cache-dir",
                                     str(cache), "--out", str(out), *QUICK])


@pytest.fixture(scope="module")
def reference(synth_mini_root, mfcc_store, tmp_path_factory):
    """An uninterrupted quick run: its folder and its record."""
    out = tmp_path_factory.mktemp("records-ref")
    res = _run(out, synth_mini_root, mfcc_store)
    assert res.exit_code == 0, res.output
    (run_dir,) = [d for d in out.iterdir() if d.is_dir()]
    return run_dir, json.loads((run_dir / "results.json").read_text())


def _numbers(record: dict) -> list:
    return [(f["test_fold"], f["repeat"], f["accuracy"], f["val_loss"], f["chosen"])
            for f in record["folds"]]


# -- the reader ---------------------------------------------------------------------------------
@pytest.mark.parametrize("content, why", [
    (b'{"record": {"test_fold": "1", "acc', "not JSON"),
    (b"", "empty (0 bytes)"),
    (b"  \n", "empty (3 bytes)"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"[1, 2]", "expected a JSON object, found a array"),
])
def test_a_damaged_file_is_one_typed_error_naming_it(tmp_path, content, why):
    path = tmp_path / "x.json"
    path.write_bytes(content)
    with pytest.raises(DamagedRecordError) as err:
        read_json(path, "a test record")
    assert str(path) in err.value.message and why in err.value.message
    assert "\n" not in err.value.message and err.value.path == path


def test_a_record_missing_fields_names_the_file_and_the_fields(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"schema_version": 1}))
    with pytest.raises(DamagedRecordError, match=r"results.json \(a run's results\) is damaged "
                                                 r"or not bench's: missing field\(s\)"):
        read_record(path, RunRecord, "a run's results")


def test_set_aside_keeps_both_copies_of_the_same_second(tmp_path):
    first, second = tmp_path / "a.json", tmp_path / "a.json"
    first.write_text("1")
    moved1 = set_aside(first)
    second.write_text("2")
    moved2 = set_aside(second)
    assert moved1 != moved2 and moved1.read_text() == "1" and moved2.read_text() == "2"
    assert moved1.name.startswith("a.json.damaged-") and not first.exists()


# -- partial records: set aside and recomputed --------------------------------------------------
@pytest.mark.parametrize("damage", ["cut in half", "emptied", "{}"])
def test_a_damaged_partial_record_is_set_aside_and_the_fold_recomputed(
        reference, synth_mini_root, mfcc_store, tmp_path, damage):
    ref_dir, ref = reference
    # an interrupted attempt: every fold finished, no results.json yet, one record damaged
    out = tmp_path / "out"
    run_dir = out / ref_dir.name
    (run_dir / "partial").mkdir(parents=True)
    for f in (ref_dir / "partial").iterdir():
        (run_dir / "partial" / f.name).write_bytes(f.read_bytes())
    victim = run_dir / "partial" / "fold-2-repeat-0.json"
    whole = victim.read_bytes()
    victim.write_bytes({"cut in half": whole[: len(whole) // 2], "emptied": b"",
                        "{}": b"{}"}[damage])

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = _run(out, synth_mini_root, mfcc_store)
    assert res.exit_code == 0, res.output
    said = [str(w.message) for w in caught if "finished fold's record" in str(w.message)]
    assert len(said) == 1 and "\n" not in said[0], said
    assert f"{victim} (a finished fold's record) is damaged or not bench's" in said[0]
    assert "computing that fold again" in said[0]
    (aside,) = (run_dir / "partial").glob("fold-2-repeat-0.json.damaged-*")
    assert aside.read_bytes() != whole  # the damaged bytes, kept for a look
    assert "Traceback" not in res.output
    record = json.loads((run_dir / "results.json").read_text())
    assert record["run_id"] == ref["run_id"]
    assert _numbers(record) == _numbers(ref)


# -- a final results.json: one error, never touched ---------------------------------------------
def test_a_damaged_results_file_is_reported_and_left_as_it_is(reference, synth_mini_root,
                                                              mfcc_store, tmp_path):
    ref_dir, _ = reference
    out = tmp_path / "out"
    run_dir = out / ref_dir.name
    run_dir.mkdir(parents=True)
    whole = (ref_dir / "results.json").read_bytes()
    (run_dir / "results.json").write_bytes(whole[: len(whole) // 3])
    res = _run(out, synth_mini_root, mfcc_store)
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "(a run's results) is damaged or not bench's: it is not JSON" \
        in lines[0], res.output
    assert "hint: bench leaves it as it is" in res.output and "Traceback" not in res.output
    assert (run_dir / "results.json").read_bytes() == whole[: len(whole) // 3]
    assert not list(run_dir.glob("*.damaged-*"))
    # the analysis commands read it through the same reader
    with pytest.raises(ResultsError, match="is damaged or not bench's"):
        read_results(run_dir)


def test_a_newer_results_schema_keeps_its_hint(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"schema_version": 99}))
    with pytest.raises(DamagedRecordError, match="schema_version 99 is newer") as err:
        read_results(path)
    assert err.value.hint == "upgrade bench to read it"


# -- the store index: a memo of another schema is made anew -------------------------------------
def test_an_index_of_another_schema_is_set_aside_and_made_anew(tmp_path, synth_mini_root):
    root = tmp_path / "store"
    index = root / "v2" / "hosts" / "here.sqlite"
    index.parent.mkdir(parents=True)
    with sqlite3.connect(index) as old:  # an older bench's memo: no size, no mtime
        old.execute("CREATE TABLE audio (path TEXT PRIMARY KEY, sha256 TEXT)")
        old.execute("INSERT INTO audio VALUES ('/x.wav', 'abc')")
    old.close()
    audio = next(synth_mini_root.rglob("*.wav"))
    with pytest.warns(UserWarning) as caught:
        store = EmbeddingStore(root, host="here")
    (msg,) = [str(w.message) for w in caught]
    assert f"the store index {index} is of another schema (columns path, sha256; this bench " \
           f"keeps path, size, mtime_ns, sha256, checked); moved to here.damaged-" in msg
    assert "\n" not in msg
    assert store.damaged_index is not None and store.damaged_index.exists()
    from bench.io.fileio import file_digest

    assert store.audio_id(audio) == file_digest(audio)  # no "no such column: size"
    store.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new one is used as it is
        EmbeddingStore(root, host="here").close()


def test_cache_verify_on_an_index_of_another_schema(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_STORE_HOST", "here")
    index = tmp_path / "v2" / "hosts" / "here.sqlite"
    index.parent.mkdir(parents=True)
    with sqlite3.connect(index) as newer:  # a newer bench's memo: one more column
        newer.execute("CREATE TABLE audio (path TEXT PRIMARY KEY, size INTEGER, mtime_ns "
                      "INTEGER, sha256 TEXT, checked REAL, blake3 TEXT)")
    newer.close()
    with pytest.warns(UserWarning, match="is of another schema"):
        res = CliRunner().invoke(main, ["cache", "verify", "-q", "--cache-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "0 entries checked: 0 damaged; 0 audio files checked by size and mtime" in res.output


# -- an audio file edited in place, same size and mtime -----------------------------------------
def test_deep_verify_finds_an_audio_file_edited_with_its_size_and_mtime_kept(tmp_path,
                                                                              monkeypatch):
    monkeypatch.setenv("BENCH_STORE_HOST", "here")
    audio = tmp_path / "a.wav"
    audio.write_bytes(b"RIFF" + bytes(range(200)))
    store = EmbeddingStore(tmp_path / "store")
    old_id = store.audio_id(audio)
    st = audio.stat()
    with open(audio, "r+b") as fh:  # an edit that keeps the size ...
        fh.seek(10)
        fh.write(b"\x00\x01")
    os.utime(audio, ns=(st.st_atime_ns, st.st_mtime_ns))  # ... and the mtime
    from bench.io.fileio import file_digest

    new_id = file_digest(audio)
    assert new_id != old_id and store.audio_id(audio) == old_id  # the memo's trade-off
    store.close()
    runner = CliRunner()
    args = ["cache", "verify", "-q", "--cache-dir", str(tmp_path / "store")]
    quick = runner.invoke(main, args)
    assert quick.exit_code == 0 and "1 audio files checked by size and mtime: 0 changed" \
        in quick.output, quick.output
    deep = runner.invoke(main, [*args, "--deep"])
    assert deep.exit_code == 1, deep.output
    assert "1 audio files re-hashed: 1 changed or gone" in deep.output
    assert f"audio changed: {audio.resolve()}" in deep.output
    again = EmbeddingStore(tmp_path / "store")
    assert again.audio_id(audio) == new_id  # the stale memo was dropped
    both = runner.invoke(main, [*args, "--deep", "--no-audio"])
    assert both.exit_code == 2 and "give one of the two" in both.output


def test_cache_verify_drops_the_memo_of_a_file_whose_mtime_changed(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_STORE_HOST", "here")
    audio = tmp_path / "a.wav"
    audio.write_bytes(b"RIFF" + bytes(100))
    store = EmbeddingStore(tmp_path / "store")
    store.audio_id(audio)
    store.close()
    st = audio.stat()
    os.utime(audio, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    res = CliRunner().invoke(main, ["cache", "verify", "-q", "--cache-dir",
                                    str(tmp_path / "store")])
    assert res.exit_code == 1 and "1 changed or gone" in res.output, res.output


# -- weights sha256 memos -----------------------------------------------------------------------
def test_a_damaged_weights_sha256_record_is_set_aside_and_the_file_hashed(tmp_path):
    from bench.embedders.weights.records import sha256_of
    from bench.io.fileio import file_digest

    weights = tmp_path / "w.bin"
    weights.write_bytes(b"weights" * 100)
    sha256_of(weights)
    sidecar = tmp_path / "w.bin.sha256"
    sidecar.write_text('{"size": 7')
    with pytest.warns(UserWarning, match=r"w.bin.sha256 \(a weights file's sha256 record\) is "
                                         r"damaged.*hashing the file again"):
        assert sha256_of(weights) == file_digest(weights)
    assert json.loads(sidecar.read_text())["sha256"] == file_digest(weights)
    assert len(list(tmp_path.glob("w.bin.sha256.damaged-*"))) == 1

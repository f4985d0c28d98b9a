"""The embedding store: nothing is computed twice, killed runs resume, damage is found and
redone, several processes can share it."""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from bench.store.format import namespace_description, namespace_key
from bench.store.store import EmbeddingStore
from bench.datasets import create as create_dataset
from bench.store.pipeline import DamagedEntries, embed_clips, load_matrix, open_namespace
from bench.embedders.base import Embedder, EmbedderSpec


class Counting(Embedder):
    """A cheap windowed embedder that counts the windows it is asked for."""

    spec = EmbedderSpec(name="counting", sample_rate=8000, dim=4, window_s=1.0, hop_s=0.5,
                        version="1")
    default_batch_size = 8

    def __init__(self, fail_after: int | None = None, **kw):
        super().__init__(**kw)
        self.calls = 0
        self.windows = 0
        self.fail_after = fail_after

    def embed_windows(self, windows):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C here
        self.calls += 1
        self.windows += len(windows)
        w = windows.astype(np.float64)
        return np.stack([w.mean(1), w.std(1), np.abs(w).max(1), (w[:, 1:] * w[:, :-1]).mean(1)],
                        axis=1).astype(np.float32)


@pytest.fixture
def clips(synth_mini_root):
    return create_dataset("synth-mini", data_dir=synth_mini_root).clips()[::10]  # 12 clips


def _embed(clips, store, emb=None):
    emb = emb or Counting()
    report, ids = embed_clips(clips, emb, emb.prepare(), store, progress=False)
    return emb, report, ids


def test_second_run_computes_nothing(tmp_path, clips):
    store = EmbeddingStore(tmp_path / "store")
    first, report, ids = _embed(clips, store)
    assert report.n_computed == len(clips) and first.calls > 0
    second, report2, ids2 = _embed(clips, EmbeddingStore(tmp_path / "store"))
    assert second.calls == 0 and report2.n_cached == len(clips) and ids2 == ids
    X, offsets = load_matrix(clips, open_namespace(store, Counting.spec, "kaiser_best"), ids,
                             progress=False)
    assert X.shape == (offsets[-1], 4) and np.isfinite(X).all()


def test_stored_frames_equal_a_direct_computation(tmp_path, clips):
    from bench.audio.decode import load_resampled
    from bench.audio.frames import frame_windows

    store = EmbeddingStore(tmp_path / "store")
    emb, _, ids = _embed(clips, store)
    X, offsets = load_matrix(clips, open_namespace(store, Counting.spec, "kaiser_best"), ids,
                             progress=False)
    for i in (0, 5, 11):
        y = load_resampled(clips[i].path, 8000)
        direct = Counting().embed_windows(np.ascontiguousarray(frame_windows(y, 8000, 4000)))
        np.testing.assert_allclose(X[offsets[i]:offsets[i + 1]], direct, rtol=1e-6)


def test_killed_run_resumes_where_it_stopped(tmp_path, clips):
    store = EmbeddingStore(tmp_path / "store")
    with pytest.raises(KeyboardInterrupt):
        _embed(clips, store, Counting(fail_after=3))
    ns = open_namespace(store, Counting.spec, "kaiser_best")
    ids = {c.id: store.audio_id(c.path) for c in clips}
    done = len(clips) - len(ns.missing(sorted(set(ids.values()))))
    assert 0 < done < len(clips)
    assert not list(ns.dir.glob("*/*.tmp"))  # no half-written file left behind
    resumed, report, _ = _embed(clips, store)
    assert report.n_cached == done and report.n_computed == len(clips) - done
    full = Counting()
    _embed(clips, EmbeddingStore(tmp_path / "fresh"), full)
    assert resumed.windows < full.windows


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete"])
def test_damaged_entry_is_detected_and_redone(tmp_path, clips, damage):
    store = EmbeddingStore(tmp_path / "store")
    _, _, ids = _embed(clips, store)
    ns = open_namespace(store, Counting.spec, "kaiser_best")
    victim = ns.path(ids[clips[4].id])
    payload = bytearray(victim.read_bytes())
    if damage == "flip":
        payload[-3] ^= 0xFF  # same size, different content: only the checksum sees it
        victim.write_bytes(bytes(payload))
    elif damage == "truncate":
        victim.write_bytes(bytes(payload[:50]))
    else:
        victim.unlink()
    if damage == "flip":  # the size check passes; loading finds it
        with pytest.raises(DamagedEntries) as err:
            load_matrix(clips, ns, ids, progress=False)
        assert err.value.clip_ids == [clips[4].id]
    again, report, _ = _embed(clips, store)
    assert report.n_computed == 1 and again.calls == 1
    X, _ = load_matrix(clips, ns, ids, progress=False)
    assert np.isfinite(X).all()


def test_changed_audio_file_gets_a_new_identity(tmp_path, clips):
    local = tmp_path / "a.wav"
    shutil.copy(clips[0].path, local)
    store = EmbeddingStore(tmp_path / "store")
    first = store.audio_id(local)
    assert store.audio_id(local) == first
    data = bytearray(local.read_bytes())
    data[-10] ^= 0x01
    local.write_bytes(bytes(data))
    os.utime(local, ns=(1, 1))  # a new mtime, as an edit would make
    assert store.audio_id(local) != first


def test_namespace_depends_on_what_changes_the_numbers():
    base = Counting.spec
    keys = {namespace_key(namespace_description(s.to_dict(), r)) for s, r in [
        (base, "kaiser_best"), (base, "kaiser_fast"), (base.replace(version="2"), "kaiser_best"),
        (base.replace(weights_sha256="ab" * 32), "kaiser_best"),
        (base.replace(hop_s=0.1), "kaiser_best"),
        (base.replace(options=(("layer", "conv6"),)), "kaiser_best")]}
    assert len(keys) == 6


def _worker(root, clip_paths, host, out):
    from pathlib import Path

    from bench.datasets.base import Clip

    cl = [Clip(Path(p).stem, Path(p), "x", 1) for p in clip_paths]
    _, report, _ = _embed(cl, EmbeddingStore(Path(root), host=host))
    out.put(report.n_computed)


def test_two_hosts_share_one_store(tmp_path, clips):
    """Two processes as if on two hosts (each with its own index) fill one store folder."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    paths = [str(c.path) for c in clips]
    procs = [ctx.Process(target=_worker, args=(str(tmp_path / "store"), p, host, out))
             for p, host in ((paths, "node-a"), (paths[::-1], "node-b"))]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    computed = [out.get(timeout=5) for _ in procs]
    assert len(clips) <= sum(computed) <= 2 * len(clips)
    store = EmbeddingStore(tmp_path / "store")
    result = store.verify(progress=False)
    assert result.ok and result.entries_checked == len(clips)
    assert sorted(p.name for p in store.index_path.parent.iterdir()
                  if p.suffix == ".sqlite") == sorted(["node-a.sqlite", "node-b.sqlite",
                                                       store.index_path.name])
    again, report, _ = _embed(clips, store)
    assert again.calls == 0


def test_entries_are_the_truth_without_any_index(tmp_path, clips):
    store = EmbeddingStore(tmp_path / "store")
    _, _, ids = _embed(clips, store)
    X, _ = load_matrix(clips, open_namespace(store, Counting.spec, "kaiser_best"), ids,
                       progress=False)
    store.close()
    shutil.rmtree(store.index_path.parent)  # every host's index gone
    fresh = EmbeddingStore(tmp_path / "store")
    emb, report, ids2 = _embed(clips, fresh)
    assert emb.calls == 0 and report.n_cached == len(clips) and ids2 == ids
    Y, _ = load_matrix(clips, open_namespace(fresh, Counting.spec, "kaiser_best"), ids,
                       progress=False)
    np.testing.assert_array_equal(X, Y)
    listed = fresh.namespaces()
    assert len(listed) == 1 and listed[0]["entries"] == len(clips)


def test_two_copies_of_one_clip_readers_agree_verify_keeps_one(tmp_path, clips):
    """A writer whose bytes differ (another GPU's rounding) adds a second valid file; every
    reader takes the first in name order, and verify removes the other once it is old."""
    store = EmbeddingStore(tmp_path / "store")
    _, _, ids = _embed(clips, store)
    ns = open_namespace(store, Counting.spec, "kaiser_best")
    audio = ids[clips[3].id]
    first = ns.load(audio)
    other = ns.put(audio, first + 1e-6)
    names = sorted(p.name for p in other.path.parent.glob(audio + "*"))
    assert len(names) == 2
    chosen = ns.entries([audio])[audio]
    assert chosen.path.name == names[0]
    assert store.verify(progress=False).ok  # young copies stay: a reader may hold one
    for p in other.path.parent.glob(audio + "*"):
        os.utime(p, (1, 1))
    result = store.verify(progress=False)
    assert result.ok and result.orphans_removed == 1
    assert [p.name for p in other.path.parent.glob(audio + "*")] == [names[0]]


def test_cache_cli_verify_finds_damage_and_repairs(tmp_path, clips):
    from bench.cli import main

    store = EmbeddingStore(tmp_path / "store")
    _, _, ids = _embed(clips, store)
    ns = open_namespace(store, Counting.spec, "kaiser_best")
    victim = ns.path(ids[clips[2].id])
    data = bytearray(victim.read_bytes())
    data[-1] ^= 0x10
    victim.write_bytes(bytes(data))
    runner = CliRunner()
    listed = runner.invoke(main, ["cache", "list", "--cache-dir", str(tmp_path / "store")])
    assert listed.exit_code == 0 and "counting" in listed.output and str(len(clips)) in listed.output
    bad = runner.invoke(main, ["cache", "verify", "-q", "--cache-dir", str(tmp_path / "store")])
    assert bad.exit_code == 1 and "1 damaged" in bad.output and str(victim) in bad.output
    good = runner.invoke(main, ["cache", "verify", "-q", "--cache-dir", str(tmp_path / "store")])
    assert good.exit_code == 0, good.output
    again, report, _ = _embed(clips, store)
    assert report.n_computed == 1
    cleared = runner.invoke(main, ["cache", "clear", "--yes", "--cache-dir",
                                   str(tmp_path / "store")])
    assert cleared.exit_code == 0 and f"removed {len(clips)}" in cleared.output


def test_damaged_index_is_set_aside_and_rebuilt(tmp_path, clips):
    store = EmbeddingStore(tmp_path / "store")
    _, _, ids = _embed(clips, store)
    store.close()
    index = store.index_path
    for extra in ("-wal", "-shm"):
        index.with_name(index.name + extra).unlink(missing_ok=True)
    index.write_bytes(b"not a database" * 100)
    with pytest.warns(UserWarning, match="is damaged .*; moved to .* and made anew"):
        again = EmbeddingStore(tmp_path / "store")
    assert again.damaged_index is not None and again.damaged_index.exists()
    emb, report, ids2 = _embed(clips, again)  # audio re-hashed; embeddings all found
    assert ids2 == ids and report.n_cached == len(clips) and emb.calls == 0

"""Decoding in worker processes: same samples as in-process, in order, errors in place; the
soxr resampler against the analytic signal; the pipeline stores the same embeddings whatever
the number of workers."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from bench.audio.decode import RESAMPLERS, load_resampled, resample
from bench.audio.pool import decoded
from bench.errors import AudioError


def _tone(path, sr, seconds, freq, channels=1):
    t = np.arange(int(seconds * sr)) / sr
    y = 0.5 * np.sin(2 * np.pi * freq * t)
    data = np.stack([y] * channels, axis=1) if channels > 1 else y
    sf.write(path, data.astype(np.float32), sr, subtype="FLOAT")
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("pool")
    paths = []
    for i, (sr, ch) in enumerate([(44100, 1), (16000, 2), (22050, 1), (48000, 1), (44100, 2),
                                  (8000, 1), (32000, 1)]):
        paths.append(_tone(d / f"c{i}.wav", sr, 0.3 + 0.1 * i, 300 + 50 * i, ch))
    bad = d / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    paths.insert(3, bad)
    paths.insert(6, d / "missing.wav")
    return paths


@pytest.mark.parametrize("method", ["kaiser_best", "soxr_vhq"])
def test_worker_processes_give_the_in_process_samples_in_order(clips, method):
    inline = list(decoded(clips, 22050, method, workers=0))
    pooled = list(decoded(clips, 22050, method, workers=2, ahead=3))
    assert len(inline) == len(pooled) == len(clips)
    for path, a, b in zip(clips, inline, pooled):
        if path.name in ("bad.wav", "missing.wav"):
            assert isinstance(a, AudioError) and isinstance(b, AudioError)
            assert str(path) in b.message and b.reason == a.reason
            continue
        expected = load_resampled(path, 22050, method)  # computed here, independently
        np.testing.assert_array_equal(b, expected)
        np.testing.assert_array_equal(a, expected)


def test_a_lazy_source_is_read_only_as_far_as_needed(clips):
    taken = []

    def source():
        for p in clips:
            taken.append(p)
            yield p

    gen = decoded(source(), 16000, "kaiser_best", workers=2, ahead=2)
    next(gen)
    next(gen)
    gen.close()
    # two handed out and at most `ahead` more asked for: memory stays bounded
    assert len(taken) <= 4


@pytest.mark.parametrize("stop_after", [None, 1])
def test_no_worker_outlives_the_generator(clips, stop_after):
    """Finished or closed early, the pool is gone when the generator is: a pool left to stop
    by itself raced the exit of a multiprocessing child (the child hung for ever)."""
    import multiprocessing

    before = set(multiprocessing.active_children())
    gen = decoded(clips, 16000, "kaiser_best", workers=2, ahead=2)
    if stop_after is None:
        assert len(list(gen)) == len(clips)
    else:
        next(gen)
        gen.close()
    assert set(multiprocessing.active_children()) - before == set()


@pytest.mark.parametrize("method", RESAMPLERS)
@pytest.mark.parametrize("sr_in,sr_out", [(44100, 48000), (44100, 16000), (48000, 22050)])
def test_every_resampler_reproduces_a_tone_at_the_new_rate(method, sr_in, sr_out):
    freq, seconds = 1000.0, 1.0
    y = np.sin(2 * np.pi * freq * np.arange(int(sr_in * seconds)) / sr_in).astype(np.float32)
    out = resample(y, sr_in, sr_out, method)
    assert out.dtype == np.float32
    assert abs(len(out) - sr_out * seconds) <= 1
    t = np.arange(len(out)) / sr_out
    mid = slice(len(out) // 10, -len(out) // 10)  # away from the edges' filter transients
    err = np.abs(out[mid] - np.sin(2 * np.pi * freq * t[mid])).max()
    assert err < (5e-3 if method == "kaiser_fast" else 2e-4), err


def test_an_unknown_resampler_is_refused():
    with pytest.raises(ValueError, match="soxr_vhq"):
        resample(np.zeros(100, np.float32), 44100, 48000, "sinc_best")


def test_workers_die_with_a_parent_killed_outright(tmp_path):
    """A SIGKILLed parent cannot stop its pool; its workers must not linger (they would hold
    the parent's stdout/stderr open and hang whoever waits for them to close)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "parent.py"
    script.write_text(
        "import os, signal, sys\n"
        "from bench.audio.pool import _make_pool\n"
        "pool = _make_pool(2)\n"
        "pids = {pool.submit(os.getpid).result() for _ in range(8)}\n"
        "print(' '.join(map(str, pids)), flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == -signal.SIGKILL, out.stderr[-2000:]
    workers = [int(p) for p in out.stdout.split()]
    assert workers
    deadline = time.monotonic() + 10
    alive = workers
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [p for p in workers if _alive(p)]
    assert not alive, f"workers {alive} outlived their killed parent"


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (dead, not yet reaped by init) counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_daemonic_process_decodes_in_process(clips):
    """Dask workers are daemonic and may not start children: decoding still works there."""
    import multiprocessing

    path, sr, method = clips[0], 16000, "kaiser_best"
    want = load_resampled(path, sr, method)
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:  # pool workers are daemonic
        got = pool.apply(_decode_first, (path, sr, method))
    np.testing.assert_array_equal(got, want)


def _decode_first(path, sr, method):
    return next(decoded([path], sr, method, workers=2))

"""The embedding pipeline: audio files -> frames in the store, done once for every embedder.

Decoding, downmixing and resampling run in worker processes a bounded number of clips ahead
(:mod:`bench.audio.pool`) while the embedder works on the previous batch; windows from several
clips share one embedder call. Each clip is stored as soon as its last window is embedded, so
an interrupted run keeps everything finished and the next run computes only what is missing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.audio.pool import decoded
from bench.audio.frames import frame_times, frame_windows
from bench.datasets.base import Clip
from bench.embedders.base import Embedder, EmbedderSpec
from bench.errors import AudioError, BenchError, CacheError
from bench.store.format import namespace_description
from bench.store.store import EmbeddingStore, Namespace
from bench.util import interrupt
from bench.util.cpus import usable_cpus
from bench.util.progress import bar


@dataclass
class EmbedReport:
    """What one pass over a dataset did."""

    n_clips: int = 0
    n_cached: int = 0
    n_computed: int = 0
    n_windows: int = 0
    seconds: float = 0.0
    skipped: list[dict[str, str]] = field(default_factory=list)
    namespace: str = ""

    @property
    def windows_per_s(self) -> float:
        return self.n_windows / self.seconds if self.seconds > 0 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {"n_clips": self.n_clips, "n_cached": self.n_cached, "n_computed": self.n_computed,
                "n_windows": self.n_windows, "seconds": self.seconds,
                # null when nothing was computed (no time measured): strict JSON has no NaN
                "windows_per_s": self.windows_per_s if self.seconds > 0 else None,
                "skipped": self.skipped,
                "namespace": self.namespace}


def open_namespace(store: EmbeddingStore, spec: EmbedderSpec, resampler: str) -> Namespace:
    """The store namespace of a prepared embedder's spec."""
    return store.namespace(namespace_description(spec.to_dict(), resampler))


def identify(clips: list[Clip], store: EmbeddingStore, *, skip_bad: bool = False,
             progress: bool = True) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The audio identity (sha256 of the file's bytes) of every clip.

    Returns
    -------
    audio_ids : dict
        Clip id -> sha256, for every clip whose file exists.
    skipped : list of dict
        ``{clip_id, path, reason}`` for missing files when ``skip_bad`` (else they raise).
    """
    audio_ids: dict[str, str] = {}
    skipped: list[dict[str, str]] = []
    for clip in bar(clips, desc="hashing audio", unit="file", enabled_=progress and len(clips) > 200,
                    leave=False):
        try:
            audio_ids[clip.id] = store.audio_id(clip.path)
        except AudioError as exc:
            if not skip_bad:
                raise
            skipped.append({"clip_id": clip.id, "path": str(clip.path), "reason": exc.message})
    return audio_ids, skipped


def embed_clips(clips: list[Clip], embedder: Embedder, spec: EmbedderSpec, store: EmbeddingStore,
                *, resampler: str = "kaiser_best", batch_size: int | None = None,
                skip_bad: bool = False, progress: bool = True,
                identities: tuple[dict[str, str], list[dict[str, str]]] | None = None,
                decode_workers: int | None = None) -> tuple[EmbedReport, dict[str, str]]:
    """Make sure every clip's frames are in the store.

    Parameters
    ----------
    clips : list of Clip
    embedder : Embedder
        Already prepared; ``spec`` is what its ``prepare()`` returned.
    store : EmbeddingStore
    resampler : str
        Resampling filter (:data:`bench.audio.decode.RESAMPLERS`); part of the store's key.
    batch_size : int, optional
        Windows per embedder call, or clips for embedders with ``batch_clips`` (default: the
        embedder's ``default_batch_size``).
    skip_bad : bool
        Record unreadable clips in the report and go on, instead of stopping.
    identities : tuple, optional
        What :func:`identify` returned for these clips, when the caller has it already.
    decode_workers : int, optional
        Processes decoding and resampling ahead of the embedder (default: the CPUs this
        process may use; ``0`` decodes in this process).

    Returns
    -------
    report : EmbedReport
    audio_ids : dict
        Clip id -> audio sha256 for every clip that is in the store (skipped ones are absent).
    """
    t0 = time.perf_counter()
    ns = open_namespace(store, spec, resampler)
    report = EmbedReport(n_clips=len(clips), namespace=ns.key)
    if identities is None:
        identities = identify(clips, store, skip_bad=skip_bad, progress=progress)
    audio_ids = dict(identities[0])
    report.skipped = list(identities[1])
    todo_ids = set(ns.missing(sorted(set(audio_ids.values()))))
    todo: list[Clip] = []
    seen: set[str] = set()
    for clip in clips:  # identical files (same bytes) are embedded once
        a = audio_ids.get(clip.id)
        if a in todo_ids and a not in seen:
            todo.append(clip)
            seen.add(a)
    report.n_cached = len(audio_ids) - sum(1 for c in clips if audio_ids.get(c.id) in todo_ids)
    if todo:
        bs = batch_size or embedder.default_batch_size
        worker = _Embedding(embedder, spec, ns, bs)
        with bar(total=len(todo), desc=f"embedding {spec.name}", unit="clip",
                 enabled_=progress) as pbar:
            workers = usable_cpus() if decode_workers is None else decode_workers
            for item in interrupt.checkpoints(_decoded(todo, audio_ids, spec, resampler,
                                                       workers)):
                clip, audio, payload = item
                if isinstance(payload, AudioError):
                    if not skip_bad:
                        raise payload
                    report.skipped.append({"clip_id": clip.id, "path": str(clip.path),
                                           "reason": payload.message})
                    audio_ids.pop(clip.id, None)
                    pbar.update(1)
                    continue
                done = worker.add(clip, audio, payload)
                _advance(pbar, done, worker, report)
            _advance(pbar, worker.flush(), worker, report)
    report.seconds = time.perf_counter() - t0
    return report, audio_ids


def _advance(pbar, done: int, worker: "_Embedding", report: EmbedReport) -> None:
    if not done:
        return
    report.n_computed += done
    report.n_windows = worker.windows
    pbar.update(done)
    if worker.seconds > 0:
        pbar.set_postfix_str(f"{worker.windows / worker.seconds:.1f} windows/s", refresh=False)


class _Embedding:
    """Gathers windows of several clips into batches and stores each finished clip. A sequence
    embedder with ``batch_clips`` gets whole clips instead, grouped by length, ``batch_size``
    clips pending at most."""

    def __init__(self, embedder: Embedder, spec: EmbedderSpec, ns: Namespace, batch_size: int):
        self.embedder, self.spec, self.ns, self.batch_size = embedder, spec, ns, batch_size
        self.pending: list[tuple[Clip, str, np.ndarray]] = []
        self.n_pending = 0
        self.windows = 0
        self.seconds = 0.0

    def add(self, clip: Clip, audio: str, data: np.ndarray) -> int:
        if not self.spec.windowed and self.embedder.batch_clips:
            self.pending.append((clip, audio, data))
            self.n_pending += 1
            return self.flush() if self.n_pending >= self.batch_size else 0
        if not self.spec.windowed:
            t = time.perf_counter()
            emb, times = self.embedder.embed_sequence(data)
            self.seconds += time.perf_counter() - t
            emb = _checked(emb, self.spec, None, clip)
            self.windows += len(emb)
            self.ns.put(audio, emb, times, source=str(clip.path))
            return 1
        windows = frame_windows(data, self.spec.window_samples, self.spec.hop_samples)
        self.pending.append((clip, audio, windows))
        self.n_pending += len(windows)
        return self.flush() if self.n_pending >= self.batch_size else 0

    def flush(self) -> int:
        if not self.pending:
            return 0
        if not self.spec.windowed:
            return self._flush_clips()
        batch = np.concatenate([w for _, _, w in self.pending])
        out = np.empty((len(batch), self.spec.dim), dtype=np.float32)
        t = time.perf_counter()
        for s in range(0, len(batch), self.batch_size):
            part = batch[s:s + self.batch_size]
            out[s:s + len(part)] = _checked(self.embedder.embed_windows(part), self.spec,
                                            len(part), self.pending[0][0])
        self.seconds += time.perf_counter() - t
        self.windows += len(batch)
        start = 0
        for clip, audio, w in self.pending:
            emb = out[start:start + len(w)]
            start += len(w)
            self.ns.put(audio, emb, frame_times(len(w), self.spec.hop_s),
                        source=str(clip.path))
        n = len(self.pending)
        self.pending, self.n_pending = [], 0
        return n


    def _flush_clips(self) -> int:
        """One embedder call per group of pending clips of equal length (the pending count is
        at most the batch size, so no group needs splitting)."""
        groups: dict[int, list[tuple[Clip, str, np.ndarray]]] = {}
        for item in self.pending:
            groups.setdefault(len(item[2]), []).append(item)
        for group in groups.values():
            t = time.perf_counter()
            outputs = self.embedder.embed_sequences([data for _, _, data in group])
            self.seconds += time.perf_counter() - t
            if len(outputs) != len(group):
                raise BenchError(f"embedder {self.spec.name} returned {len(outputs)} results "
                                 f"for {len(group)} clips")
            for (clip, audio, _), (emb, times) in zip(group, outputs):
                emb = _checked(emb, self.spec, None, clip)
                self.windows += len(emb)
                self.ns.put(audio, emb, times, source=str(clip.path))
        n = len(self.pending)
        self.pending, self.n_pending = [], 0
        return n


def _checked(emb: Any, spec: EmbedderSpec, n: int | None, clip: Clip) -> np.ndarray:
    emb = np.asarray(emb)
    if emb.ndim != 2 or emb.shape[1] != spec.dim or (n is not None and emb.shape[0] != n):
        expected = f"({n if n is not None else 'n_frames'}, {spec.dim})"
        raise BenchError(f"embedder {spec.name} returned shape {emb.shape} for {clip.id}, "
                         f"expected {expected}")
    if not np.isfinite(emb).all():
        raise BenchError(f"embedder {spec.name} returned NaN or infinite values for {clip.id}",
                         hint="nothing was stored for this clip; check the embedder and its weights")
    return emb.astype(np.float32, copy=False)


def _decoded(todo: list[Clip], audio_ids: dict[str, str], spec: EmbedderSpec, resampler: str,
             workers: int):
    """Yield ``(clip, audio_id, waveform | AudioError)`` in order, decoded and resampled by
    ``workers`` processes a few clips ahead (one clip: in this process, no pool to start)."""
    waves = decoded((clip.path for clip in todo), spec.sample_rate, resampler,
                    workers=workers if len(todo) > 1 else 0)
    try:
        for clip, wave in zip(todo, waves):
            yield clip, audio_ids[clip.id], wave
    finally:
        waves.close()


class DamagedEntries(CacheError):
    """Stored embeddings that were missing or failed their checksum; they have been removed
    from the store, so embedding again recomputes exactly these."""

    def __init__(self, clip_ids: list[str]):
        super().__init__(f"{len(clip_ids)} stored embedding(s) were missing or damaged, e.g. "
                         f"{clip_ids[:3]}", hint="run the same command again to recompute them")
        self.clip_ids = clip_ids


def load_matrix(clips: list[Clip], ns: Namespace, audio_ids: dict[str, str],
                progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """All frames of ``clips`` stacked into one array.

    Returns
    -------
    X : ndarray, shape (total_frames, dim), float32
    offsets : ndarray, shape (n_clips + 1,), int64
        Frames of clip ``i`` are ``X[offsets[i]:offsets[i + 1]]``.
    """
    audios = [audio_ids[c.id] for c in clips]
    entries = ns.entries(sorted(set(audios)))
    lost = [c.id for c, a in zip(clips, audios) if a not in entries]
    if lost:
        raise DamagedEntries(lost)
    counts = np.array([entries[a].n_frames for a in audios], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    dim = entries[audios[0]].dim if audios else 0
    X = np.empty((int(offsets[-1]), dim), dtype=np.float32)
    damaged: list[str] = []
    for i, a in enumerate(bar(audios, desc="loading embeddings", unit="clip",
                              enabled_=progress and len(audios) > 500, leave=False)):
        arr = ns.load(a, entries[a])
        if arr is None:
            damaged.append(clips[i].id)
            continue
        X[offsets[i]:offsets[i + 1]] = arr
    if damaged:
        raise DamagedEntries(damaged)
    return X, offsets


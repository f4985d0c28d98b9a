"""Miniature HEAR-format task folders (hear-preprocess output), written by the tests.

Each maker writes ``<base>/tasks/<name>-<version>-<mode>/`` with ``task_metadata.json``,
``labelvocabulary.csv``, one ``<split>.json`` per split and the audio under
``<rate>/<split>/<file>.wav``, and returns that folder. The sounds are pure tones (one sine
frequency per label plus a little noise), so a plain MFCC embedding separates them:

* :func:`make_scene_multiclass`: ``presplit_kfold`` with 3 folds, 4 classes, 1 s clips;
* :func:`make_scene_multilabel`: ``trainvaltest``, 3 labels, each clip a mix of 0-3 tones
  (every subset of the labels, the empty one included, in every split);
* :func:`make_event`: ``trainvaltest``, 3 labels switched on and off at known times in 4 s
  clips, events in milliseconds.

:func:`write_task` is the writer they share; tests that break one part of the format call it
with their own metadata or labels.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import soundfile as sf

RATE = 16000
#: one sine frequency per label (Hz): far apart on the mel scale
FREQS = {"low": 300.0, "mid": 800.0, "high": 2000.0, "top": 4500.0}
EVENT_SECONDS = 4.0


def tones(spans: Sequence[tuple[str, float, float]], seconds: float, sr: int,
          seed: int) -> np.ndarray:
    """A mono signal of ``seconds`` holding the tone of each ``(label, start_s, end_s)`` span,
    with 10 ms fades (no clicks) and a little white noise."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    y = 0.01 * rng.standard_normal(n)
    fade = int(0.01 * sr)
    for label, start, end in spans:
        a, b = int(round(start * sr)), int(round(end * sr))
        env = np.zeros(n)
        env[a:b] = 1.0
        ramp = np.linspace(0.0, 1.0, fade)
        env[a:a + fade] *= ramp[:len(env[a:a + fade])]
        env[max(a, b - fade):b] *= ramp[::-1][-len(env[max(a, b - fade):b]):]
        freq = FREQS[label] * (1 + 0.01 * rng.standard_normal())
        y += 0.25 * env * np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))
    return np.clip(y, -1.0, 1.0)


def write_task(base: Path, metadata: Mapping[str, Any], vocabulary: Sequence[str],
               labels: Mapping[str, Mapping[str, Any]],
               audio: Mapping[tuple[str, str], np.ndarray], *,
               rates: Sequence[int] = (RATE,)) -> Path:
    """Write one HEAR task folder.

    Parameters
    ----------
    base : Path
        The folder that gets ``tasks/<name>-<version>-<mode>/``.
    metadata : mapping
        ``task_metadata.json`` as written.
    vocabulary : sequence of str
        ``labelvocabulary.csv`` rows, in index order.
    labels : mapping
        Split name -> ``{file: labels or events}`` (``<split>.json`` as written).
    audio : mapping
        ``(split, file)`` -> samples at :data:`RATE`; written at every rate of ``rates``
        (by linear interpolation: the tests only need the rate folders to differ).
    """
    mode = metadata.get("split_mode", "mode")
    folder = Path(base) / "tasks" / f"{metadata['task_name']}-{metadata['version']}-{mode}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "task_metadata.json").write_text(json.dumps(dict(metadata), indent=2))
    rows = ["idx,label"] + [f"{i},{label}" for i, label in enumerate(vocabulary)]
    (folder / "labelvocabulary.csv").write_text("\n".join(rows) + "\n")
    for split, content in labels.items():
        (folder / f"{split}.json").write_text(json.dumps(dict(content), indent=1))
    for (split, name), y in audio.items():
        for rate in rates:
            out = folder / str(rate) / split / name
            out.parent.mkdir(parents=True, exist_ok=True)
            if rate != RATE:
                n = int(round(len(y) * rate / RATE))
                y_rate = np.interp(np.arange(n) * RATE / rate, np.arange(len(y)), y)
            else:
                y_rate = y
            sf.write(str(out), y_rate, rate, subtype="PCM_16")
    return folder


def _seed(split: str, k: int) -> int:
    # not hash(): string hashes differ between processes
    return 10_000 * ("train", "valid", "test").index(split) + k


def _metadata(name: str, embedding: str, prediction: str, mode: str, nfolds: int,
              duration: float | None, evaluation: Sequence[str]) -> dict[str, Any]:
    return {"task_name": name, "version": "v1.0", "embedding_type": embedding,
            "prediction_type": prediction, "split_mode": mode, "nfolds": nfolds,
            "sample_duration": duration, "evaluation": list(evaluation)}


def make_scene_multiclass(base: Path, *, name: str = "tones", per_class: int = 3,
                          nfolds: int = 3, rates: Sequence[int] = (RATE,)) -> Path:
    """4 tone classes x ``per_class`` clips of 1 s in each of ``nfolds`` folds
    (``presplit_kfold``; primary metric ``top1_acc``)."""
    classes = list(FREQS)
    labels: dict[str, dict[str, list[str]]] = {}
    audio = {}
    for f in range(nfolds):
        split = f"fold{f:02d}"
        labels[split] = {}
        for c, label in enumerate(classes):
            for k in range(per_class):
                file = f"{label}-{f}-{k}.wav"
                labels[split][file] = [label]
                audio[(split, file)] = tones([(label, 0.0, 1.0)], 1.0, RATE,
                                             seed=1000 * f + 10 * c + k)
    meta = _metadata(name, "scene", "multiclass", "presplit_kfold", nfolds, 1.0,
                     ["top1_acc"])
    return write_task(base, meta, classes, labels, audio, rates=rates)


#: every subset of the multilabel task's labels, the empty one first
MULTILABEL_LABELS = ("low", "mid", "high")
SUBSETS = [list(s) for r in range(4) for s in itertools.combinations(MULTILABEL_LABELS, r)]


def make_scene_multilabel(base: Path, *, name: str = "chords",
                          rates: Sequence[int] = (RATE,)) -> Path:
    """Clips of 1 s holding every subset of 3 tones (0-3 at once): train twice over the 8
    subsets, valid and test once (``trainvaltest``; primary metric ``mAP``, also
    ``d_prime`` and ``aucroc``)."""
    labels: dict[str, dict[str, list[str]]] = {}
    audio = {}
    for split, cycles in (("train", 2), ("valid", 1), ("test", 1)):
        labels[split] = {}
        for k in range(cycles):
            for s, subset in enumerate(SUBSETS):
                file = f"{split}-{k}-{s}.wav"
                labels[split][file] = list(subset)
                audio[(split, file)] = tones([(lb, 0.0, 1.0) for lb in subset], 1.0, RATE,
                                             seed=_seed(split, 100 * k + s))
    meta = _metadata(name, "scene", "multilabel", "trainvaltest", 1, 1.0,
                     ["mAP", "d_prime", "aucroc"])
    return write_task(base, meta, list(MULTILABEL_LABELS), labels, audio, rates=rates)


#: the event task's clips: (label, start s, end s) per event; tones switch on and off at
#: known times, some overlapping, one clip silent
EVENT_CLIPS = {
    "train": [[("low", 0.5, 2.0)], [("mid", 1.0, 3.5)], [("high", 0.0, 1.5), ("low", 2.5, 4.0)],
              [("low", 0.2, 1.2), ("mid", 0.8, 2.5)], [("high", 2.0, 3.8)],
              [("mid", 0.0, 1.0), ("high", 1.5, 2.5), ("low", 3.0, 4.0)], [],
              [("low", 1.0, 3.0), ("high", 1.0, 3.0)]],
    "valid": [[("mid", 0.5, 2.5)], [("low", 1.5, 3.5), ("high", 0.2, 1.2)],
              [("high", 2.5, 4.0)], [("low", 0.0, 1.2), ("mid", 2.0, 3.0)]],
    "test": [[("low", 1.0, 2.5)], [("high", 0.5, 2.0), ("mid", 2.5, 4.0)],
             [("mid", 0.3, 1.8), ("low", 2.2, 3.6)], [("high", 1.2, 3.2)]],
}


def make_event(base: Path, *, name: str = "beeps", rates: Sequence[int] = (RATE,)) -> Path:
    """The clips of :data:`EVENT_CLIPS` at 4 s each (``trainvaltest``; events in ms; primary
    metric ``event_onset_200ms_fms``)."""
    labels: dict[str, dict[str, list[dict[str, Any]]]] = {}
    audio = {}
    for split, clips in EVENT_CLIPS.items():
        labels[split] = {}
        for k, spans in enumerate(clips):
            file = f"{split}-{k}.wav"
            labels[split][file] = [{"label": lb, "start": 1000.0 * a, "end": 1000.0 * b}
                                   for lb, a, b in spans]
            audio[(split, file)] = tones(spans, EVENT_SECONDS, RATE,
                                         seed=_seed(split, k))
    meta = _metadata(name, "event", "multilabel", "trainvaltest", 1, EVENT_SECONDS,
                     ["event_onset_200ms_fms", "event_onset_50ms_fms", "segment_1s_er"])
    return write_task(base, meta, list(MULTILABEL_LABELS), labels, audio, rates=rates)

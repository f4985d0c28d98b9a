"""A HEAR 2021 task folder (hear-preprocess output): ``bench run -d tasks/<name>-<version>-<mode>``.

The folder holds ``task_metadata.json`` (task_name, version, embedding_type scene|event,
prediction_type multiclass|multilabel, split_mode trainvaltest|presplit_kfold|new_split_kfold,
nfolds, sample_duration, evaluation), ``labelvocabulary.csv`` (``idx,label``), one
``<split>.json`` per split (``fold00``.. or ``train``/``valid``/``test``) and the audio in
``<sample rate>/<split>/<file>``. Scene splits map a file to its list of labels; event splits
map it to ``[{label, start, end}]`` in milliseconds (read here as seconds).

What bench makes of it (docs/datasets.md, "HEAR tasks"):

* folds: k-fold tasks test fold i, validate on fold i+1 (mod k) and train on the rest, as the
  HEAR evaluation kit does; ``trainvaltest`` tasks test on ``test``, validate on ``valid``,
  train on ``train``;
* classes: every label of ``labelvocabulary.csv``, sorted (the base contract; the
  vocabulary's own index is not used), labels compared as strings;
* task: ``event`` for event embeddings, else the prediction type; the primary metric is the
  first of ``evaluation`` under bench's name (:data:`HEAR_METRICS`);
* rate: several ``<rate>`` folders may exist; :meth:`HearTaskDataset.prefer_rate` takes the
  embedder's rate when it is there (no resampling), else the highest.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.datasets.base import Clip, Dataset, Split, TaskInfo
from bench.datasets.clips import KIND_METRICS, Event, Fold
from bench.errors import DatasetError

METADATA = "task_metadata.json"
VOCABULARY = "labelvocabulary.csv"
_HINT = ("a HEAR task folder is what hear-preprocess writes: task_metadata.json, "
         "labelvocabulary.csv, one <split>.json per split and <rate>/<split>/<file>.wav; "
         "see docs/datasets.md, HEAR tasks")
#: HEAR's metric names -> bench's; a name not listed here is kept when bench computes it
#: (:data:`KIND_METRICS`). top1_acc is the fraction of clips classified right, which bench's
#: single-label records call accuracy, so HEAR and ESC-50 runs share the key; pitch_acc is
#: top-1 accuracy over pitch classes (NSynth).
HEAR_METRICS = {"top1_acc": "accuracy", "pitch_acc": "accuracy"}
_EMBEDDING_TYPES = ("scene", "event")
_PREDICTION_TYPES = ("multiclass", "multilabel")
_KFOLD = ("presplit_kfold", "new_split_kfold")
_SPLIT_MODES = ("trainvaltest",) + _KFOLD
_AUDIO = (".wav", ".flac", ".ogg", ".mp3")


def is_task_folder(name: str | Path) -> bool:
    """Whether ``name`` is a HEAR task folder (or its ``task_metadata.json``)."""
    path = Path(name).expanduser()
    return path.name == METADATA or (path / METADATA).is_file()


def find_tasks(data_dir: Path) -> list[Path]:
    """HEAR task folders in ``data_dir``: ``tasks/*/``, ``*/tasks/*/`` or ``*/`` (sorted)."""
    base = Path(data_dir).expanduser()
    if not base.is_dir():
        return []
    found = {p.parent for pattern in (f"tasks/*/{METADATA}", f"*/tasks/*/{METADATA}",
                                      f"*/{METADATA}") for p in base.glob(pattern)}
    return sorted(found)


class HearTaskDataset(Dataset):
    """The clips of a HEAR task folder, its splits and its task.

    Parameters
    ----------
    data_dir : Path
        Unused (the task folder holds everything); kept for the dataset contract.
    download : bool
        Unused: HEAR tasks are the user's files.
    task_dir : Path
        The task folder, or its ``task_metadata.json``.
    rate : int, optional
        The sample rate wanted (the embedder's); see :meth:`prefer_rate`.

    Raises
    ------
    DatasetError
        When the metadata is missing, unreadable or names an unknown type or split mode.
    """

    default_repeats = 1
    metadata_label = METADATA

    def __init__(self, data_dir: Path, *, download: bool = True, task_dir: Path,
                 rate: int | None = None):
        super().__init__(data_dir, download=download)
        folder = Path(task_dir).expanduser().absolute()
        self.root = folder.parent if folder.name == METADATA else folder
        self.meta = _read_metadata(self.root / METADATA)
        self.task_name = str(self.meta["task_name"])
        self.version = str(self.meta.get("version", "1"))
        # the folder's name also says the mode (full, 5h, ...): keep it in the run ids
        prefix = f"{self.task_name}-{self.version}"
        self.name = self.root.name if self.root.name.startswith(self.task_name) else prefix
        self.task, dropped = _task_info(self.meta)
        grid = self.postprocessing_grid() if self.task.kind == "event" else None
        if grid is not None:
            self.task = replace(self.task, event_grid=(tuple(grid["median_filter_ms"]),
                                                       tuple(grid["min_duration"])))
        if dropped:
            self.notes.append(f"metric(s) {dropped} of the task's evaluation list are not "
                              f"computed by bench; it reports {list(self.task.metrics)}")
        self._wanted = rate
        self._read_rate: int | None = None  # the rate folder the clips were read from
        self._vocabulary: list[str] | None = None
        self._sha256 = ""  # of the metadata, vocabulary and split files as read

    # -- the folder's parts -------------------------------------------------------------------
    @property
    def split_names(self) -> list[str]:
        """The split files' names in order: ``fold00``.. or ``train``, ``valid``, ``test``."""
        if self.meta["split_mode"] == "trainvaltest":
            return ["train", "valid", "test"]
        n = self.meta.get("nfolds")
        if not isinstance(n, int) or n < 2:
            raise DatasetError(f"{self.root / METADATA}: a {self.meta['split_mode']} task needs "
                               f"nfolds >= 2, found {n!r}", hint=_HINT)
        return [f"fold{i:02d}" for i in range(n)]

    def rates(self) -> list[int]:
        """The sample rates with an audio folder (``<rate>/``), ascending."""
        if not self.root.is_dir():
            return []
        return sorted(int(p.name) for p in self.root.iterdir() if p.is_dir() and p.name.isdigit())

    def prefer_rate(self, rate: int | None) -> int:
        """Read the audio at ``rate`` when the task has it (no resampling), else at the highest
        rate there; returns the rate chosen. Call before :meth:`clips` (the runner does, with
        the embedder's rate); a later call with another choice reads the clips again."""
        self._wanted = rate
        chosen = self.rate
        if self._clips is not None and self._read_rate != chosen:
            self._clips = None
        return chosen

    @property
    def rate(self) -> int:
        """The rate whose folder the clips are read from (see :meth:`prefer_rate`)."""
        rates = self.rates()
        if not rates:
            raise DatasetError(f"no audio folder in {self.root}: expected <sample rate>/<split>/ "
                               "(e.g. 16000/fold00/)", hint=_HINT)
        return self._wanted if self._wanted in rates else rates[-1]

    def vocabulary(self) -> list[str]:
        """``labelvocabulary.csv``'s labels, in its index order (read once)."""
        if self._vocabulary is not None:
            return list(self._vocabulary)
        path = self.root / VOCABULARY
        rows = _read_csv(path)
        if not rows or [h.strip() for h in rows[0][:2]] != ["idx", "label"]:
            raise DatasetError(f"{path}: expected the header idx,label, found "
                               f"{rows[0] if rows else 'an empty file'}", hint=_HINT)
        labels = [row[1].strip() for row in rows[1:] if len(row) >= 2]
        if len(labels) < 2 if self.task.kind == "multiclass" else not labels:
            raise DatasetError(f"{path} lists {len(labels)} label(s); the task needs "
                               f"{'two' if self.task.kind == 'multiclass' else 'one'} or more",
                               hint=_HINT)
        self._vocabulary = labels
        return list(labels)

    def postprocessing_grid(self) -> dict[str, list[float]] | None:
        """Event tasks: the median filter widths and minimum durations (ms) the task's metadata
        asks to choose from (``evaluation_params.event_postprocessing_grid``, as MAESTRO's
        does); ``None``: the evaluation kit's default grid."""
        params = self.meta.get("evaluation_params")
        grid = params.get("event_postprocessing_grid") if isinstance(params, dict) else None
        if not isinstance(grid, dict):
            return None
        try:
            out = {k: [float(v) for v in grid[k]] for k in ("median_filter_ms", "min_duration")}
        except (KeyError, TypeError, ValueError):
            raise DatasetError(f"{self.root / METADATA}: event_postprocessing_grid must list "
                               f"median_filter_ms and min_duration in ms, found {grid!r}",
                               hint=_HINT) from None
        if not all(out.values()):
            raise DatasetError(f"{self.root / METADATA}: event_postprocessing_grid has an empty "
                               f"list: {grid!r}", hint=_HINT)
        return out

    @property
    def classes(self) -> tuple[str, ...]:
        """Every vocabulary label, sorted (also those no clip carries)."""
        return tuple(sorted(set(self.vocabulary())))

    # -- reading ------------------------------------------------------------------------------
    def load_clips(self) -> list[Clip]:
        vocab = set(self.vocabulary())
        digest = hashlib.sha256()
        for name in (METADATA, VOCABULARY):
            digest.update((self.root / name).read_bytes())
        rate = self._read_rate = self.rate
        clips: list[Clip] = []
        for split in self.split_names:
            path = self.root / f"{split}.json"
            raw = _read_bytes(path)
            digest.update(raw)
            try:
                listing = json.loads(raw)
            except ValueError as exc:
                raise DatasetError(f"{path} is not valid JSON: {exc}", hint=_HINT) from exc
            if not isinstance(listing, dict):
                raise DatasetError(f"{path}: expected an object {{file: labels}}, found "
                                   f"{type(listing).__name__}", hint=_HINT)
            for file, value in listing.items():
                audio = self.root / str(rate) / split / file
                if audio.suffix.lower() not in _AUDIO:
                    audio = audio.with_name(audio.name + ".wav")
                clips.append(self._clip(f"{split}/{file}", audio, split, value, vocab, path))
        if not clips:
            raise DatasetError(f"the split files of {self.root} list no clips", hint=_HINT)
        self._sha256 = digest.hexdigest()
        return clips

    def _clip(self, clip_id: str, audio: Path, split: str, value: Any, vocab: set[str],
              source: Path) -> Clip:
        where = f"{source}, {clip_id.split('/', 1)[1]!r}"
        if not isinstance(value, list):
            raise DatasetError(f"{where}: expected a list of "
                               f"{'events' if self.task.kind == 'event' else 'labels'}, found "
                               f"{value!r}", hint=_HINT)
        if self.task.kind == "event":
            events = tuple(sorted((_event(item, where) for item in value),
                                  key=lambda e: (e.start, e.end, e.label)))
            _check_labels([e.label for e in events], vocab, where)
            labels = tuple(sorted({e.label for e in events}))
            return Clip(clip_id, audio, labels[0] if labels else "", split, labels=labels,
                        events=events)
        labels = tuple(str(v) for v in value)
        _check_labels(labels, vocab, where)
        if self.task.kind == "multiclass":
            if len(labels) != 1:
                raise DatasetError(f"{where}: a multiclass task gives each clip one label, "
                                   f"found {list(labels)}", hint=_HINT)
            return Clip(clip_id, audio, labels[0], split)
        return Clip(clip_id, audio, labels[0] if labels else "", split, labels=labels)

    # -- contract -----------------------------------------------------------------------------
    def folds(self) -> list[Fold]:
        """The split names in the task's order."""
        return list(self.split_names)

    def splits(self) -> list[Split]:
        """k-fold: test fold i, validate on fold i+1 (mod k), train on the rest (the HEAR kit's
        rule); trainvaltest: test on test, validate on valid, train on train."""
        names = self.split_names
        if self.meta["split_mode"] == "trainvaltest":
            return [Split("test", ("train",), ("valid",))]
        k = len(names)
        return [Split(names[i], tuple(n for j, n in enumerate(names)
                                      if j not in (i, (i + 1) % k)), (names[(i + 1) % k],))
                for i in range(k)]

    def prepare(self, progress: bool = True) -> None:
        """Read the task and check that it can be evaluated (audio folder and files there)."""
        clips = self.clips()
        if not any(c.path.is_file() for c in clips):
            raise DatasetError(f"none of the {len(clips)} audio files of {self.root} exists at "
                               f"{self.rate} Hz (the first is {clips[0].path})", hint=_HINT)

    def describe(self) -> dict[str, Any]:
        self.clips()  # the digest is of the files as read
        return {"name": self.name, "version": self.version, "task_name": self.task_name,
                "hear_task": str(self.root), "split_mode": self.meta["split_mode"],
                "kind": self.task.kind, "primary_metric": self.task.primary_metric,
                "sample_rate": self.rate, "labels_sha256": self._sha256}


# -- helpers ------------------------------------------------------------------------------------
def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"{path.name} is missing from {path.parent}", hint=_HINT) from None
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror or exc}", hint=_HINT) from exc


def _read_csv(path: Path) -> list[list[str]]:
    try:
        text = _read_bytes(path).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path} is not UTF-8 text", hint=_HINT) from exc
    return [row for row in csv.reader(text.splitlines()) if row]


def _read_metadata(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(_read_bytes(path))
    except ValueError as exc:
        raise DatasetError(f"{path} is not valid JSON: {exc}", hint=_HINT) from exc
    if not isinstance(meta, dict):
        raise DatasetError(f"{path}: expected a JSON object, found {type(meta).__name__}",
                           hint=_HINT)
    missing = [k for k in ("task_name", "embedding_type", "prediction_type", "split_mode")
               if k not in meta]
    if missing:
        raise DatasetError(f"{path} lacks {missing}", hint=_HINT)
    for key, known in (("embedding_type", _EMBEDDING_TYPES),
                       ("prediction_type", _PREDICTION_TYPES), ("split_mode", _SPLIT_MODES)):
        if meta[key] not in known:
            raise DatasetError(f"{path}: unknown {key} {meta[key]!r}; bench reads "
                               f"{' or '.join(known)}", hint=_HINT)
    return meta


def _task_info(meta: dict[str, Any]) -> tuple[TaskInfo, list[str]]:
    """The task's kind and metrics: HEAR's evaluation list under bench's names, the primary
    first, then the rest bench computes for the kind; a HEAR metric bench does not compute is
    left out (its primary then falls back to the kind's) and returned as the second item."""
    kind = "event" if meta["embedding_type"] == "event" else str(meta["prediction_type"])
    known = KIND_METRICS[kind]
    listed = meta.get("evaluation") or []
    named = [HEAR_METRICS.get(str(m), str(m)) for m in listed]
    ours = [m for m in named if m in known]
    metrics = tuple(dict.fromkeys(ours + list(known)))
    dropped = [str(m) for m, n in zip(listed, named) if n not in known]
    return TaskInfo(kind=kind, primary_metric=metrics[0], metrics=metrics), dropped


def _event(item: Any, where: str) -> Event:
    if not isinstance(item, dict) or not {"label", "start", "end"} <= item.keys():
        raise DatasetError(f"{where}: an event is {{label, start, end}} (ms), found {item!r}",
                           hint=_HINT)
    try:
        start, end = float(item["start"]) / 1000.0, float(item["end"]) / 1000.0
    except (TypeError, ValueError):
        raise DatasetError(f"{where}: event times must be numbers (ms), found {item!r}",
                           hint=_HINT) from None
    if not 0 <= start <= end:
        raise DatasetError(f"{where}: an event needs 0 <= start <= end, found {item!r}",
                           hint=_HINT)
    return Event(str(item["label"]), start, end)


def _check_labels(labels: Any, vocab: set[str], where: str) -> None:
    unknown = sorted(set(labels) - vocab)
    if unknown:
        raise DatasetError(f"{where}: label(s) {unknown} are not in {VOCABULARY} "
                           f"({len(vocab)} labels)", hint="add them to the vocabulary, or fix "
                                                          "the split file")

"""The steps of one run, whoever carries them out: open its parts, embed its clips, train and
test one (split, repeat), assemble its record.

The study graph's units (``bench.runs.units``) are made of these functions, so a run done by
``bench run`` in this process, by a sweep, or by workers of another executor computes the same
numbers. A finished (split, repeat) is kept in the run's ``partial/`` folder until the record is
written, which is what makes every way of running resumable.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable

from bench import datasets, embedders
from bench._version import __version__
from bench.errors import ConfigError, DamagedRecordError, storage_error
from bench.evaluation.protocol import run_fold
from bench.evaluation.settings import fingerprint
from bench.io.records import read_json, record_of, set_aside
from bench.runs.config import RunConfig
from bench.runs.identity import PlannedRun, slug
from bench.runs.record import (PARTIAL_DIR, RESULTS_FILE, SCHEMA_VERSION, ChosenPoint,
                               Environment, FoldRecord, RunRecord, Timings, TrainingOverlap,
                               git_sha, now_iso, write_json, write_predictions, write_results)
from bench.runs.record_parts import summaries
from bench.store.pipeline import (DamagedEntries, EmbedReport, embed_clips, load_matrix,
                                  open_namespace)
from bench.store.store import EmbeddingStore
from bench.util import interrupt
from bench.util.cpus import default_threads
from bench.util.threads import use_default_threads


def _write(what: str, write: Callable[[], Any], path: Path) -> Any:
    """Run one write of the run folder; an OSError becomes a one-line StorageError."""
    try:
        return write()
    except OSError as exc:
        raise storage_error(exc, path, doing=f"write {what}", option="--out") from exc


def finish_run(plan: PlannedRun, fold_records: list[FoldRecord],
               predictions: list[dict[str, Any]], report: EmbedReport,
               timings: dict[str, float]) -> RunRecord:
    """The run's record from its (fold, repeat) pieces, written with its predictions.

    ``timings`` holds ``embed_s``, ``classify_s`` and ``total_s``.
    """
    dataset, config, splits = plan.dataset, plan.config, plan.splits
    classes = tuple(dataset.classes)
    run_dir = plan.run_dir
    record = RunRecord(
        schema_version=SCHEMA_VERSION, run_id=plan.run_id, created=now_iso(),
        bench_version=__version__, git_sha=git_sha(),
        training_overlap=(TrainingOverlap(dataset=dataset.name, declared=plan.overlap)
                          if plan.overlap else None),
        embedder={**plan.spec.to_dict(), "trained_on": list(plan.spec.trained_on)},
        dataset={**dataset.describe(), "name": dataset.name, "content_sha256": plan.content,
                 "classes": list(classes), "n_clips": len(plan.clips),
                 "folds": [str(f) for f in dataset.folds()],
                 "splits": [{"test_fold": s.test_fold, "train_folds": list(s.train_folds)}
                            for s in splits]},
        protocol=plan.protocol.to_dict(), protocol_fingerprint=fingerprint(plan.protocol),
        config=config.to_dict(), seed=config.seed, tags=dict(config.tags),
        environment=Environment.current(config.device),
        **summaries(fold_records, classes), folds=fold_records,
        timings=Timings(embed_s=timings["embed_s"], classify_s=timings["classify_s"],
                        total_s=timings["total_s"],
                        embed_windows_per_s=report.windows_per_s if report.n_computed else None),
        embedding=report.to_dict(), skipped=report.skipped, warnings=plan.warnings, key=plan.key,
        path=str(run_dir / RESULTS_FILE))
    _write("the predictions file", lambda: write_predictions(
        run_dir, predictions, events=dataset.task.kind == "event"),
           run_dir / "predictions.csv")
    _write("the results file", lambda: write_results(run_dir, record), run_dir / RESULTS_FILE)
    return record


def embeddings(plan: PlannedRun, embedder: Any, store: EmbeddingStore, progress: bool = True,
               say: Callable[[str], None] = lambda msg: None):
    """Every clip's frames in one matrix (computing what the store lacks); a damaged entry
    found while loading is removed from the store and recomputed once.

    Returns
    -------
    X, offsets : ndarray
        See :func:`bench.store.pipeline.load_matrix`.
    used : list of Clip
        The clips in ``X`` (skipped ones left out).
    report : EmbedReport
    """
    config = plan.config
    for attempt in range(2):
        report, audio_ids = embed_clips(plan.clips, embedder, plan.spec, store,
                                        resampler=config.resampler,
                                        batch_size=config.embed_batch_size,
                                        skip_bad=config.skip_bad, progress=progress,
                                        identities=plan.identities,
                                        decode_workers=default_threads(config.threads))
        used = [c for c in plan.clips if c.id in audio_ids]
        try:
            X, offsets = load_matrix(used, open_namespace(store, plan.spec, config.resampler),
                                     audio_ids, progress=progress)
            break
        except DamagedEntries as exc:
            if attempt:
                raise
            say(f"warning: {len(exc.clip_ids)} stored embedding(s) failed verification; "
                f"recomputing them")
    say(f"embeddings: {report.n_cached} clips from the store, {report.n_computed} computed"
        + (f" ({report.windows_per_s:.1f} windows/s)" if report.n_computed else "")
        + (f", {len(report.skipped)} skipped" if report.skipped else ""))
    return X, offsets, used, report


def partial_path(run_dir: Path, split: Any, repeat: int) -> Path:
    """Where one finished (split, repeat) of a run is kept until the run's record is written."""
    return run_dir / PARTIAL_DIR / f"fold-{slug(str(split.test_fold))}-repeat-{repeat}.json"


def clear_partial(run_dir: Path) -> None:
    """Forget the finished (split, repeat) records of a run (before it is run again)."""
    for f in (run_dir / PARTIAL_DIR).glob("*.json"):
        f.unlink()


def read_partial(path: Path) -> tuple[FoldRecord, list[dict[str, Any]]] | None:
    """A finished (split, repeat): its fold record and predictions; ``None`` when not there.

    A damaged record (cut short, emptied, ``{}``: what a crash on a file system without
    ordered writes leaves) is bench's own intermediate state: it is set aside as
    ``<name>.damaged-<time>`` with a one-line warning, and the piece is computed again."""
    if not path.exists():
        return None
    what = "a finished fold's record"
    try:
        saved = read_json(path, what)
        predictions = saved.get("predictions")
        if not isinstance(predictions, list) or not all(isinstance(p, dict) for p in predictions):
            raise DamagedRecordError(f"{path} ({what}) is damaged or not bench's: no list of "
                                     f"predictions", path=path)
        return record_of(saved.get("record"), FoldRecord, path, what), predictions
    except DamagedRecordError as exc:
        try:
            moved = f"moved to {set_aside(path).name}"
        except FileNotFoundError:  # another worker of the study moved it first
            moved = "moved aside"
        warnings.warn(f"{exc.message}; {moved}, computing that fold again", stacklevel=2)
        return None


def classify_unit(plan: PlannedRun, data: Any, split_index: int, split: Any, repeat: int,
                  on_epoch: Callable[[int, int], None] | None = None,
                  first_chosen: ChosenPoint | None = None
                  ) -> tuple[FoldRecord, list[dict[str, Any]]]:
    """Train and test one (split, repeat) and keep it in ``partial/`` (the write is atomic,
    so a piece is there whole or not at all, whoever computed it). ``first_chosen``: split 0's
    ``chosen`` in this repeat, the only point trained under ``grid_search="first_split"``."""
    fixed = first_chosen if plan.protocol.grid_search == "first_split" else None
    with interrupt.deferred():  # a Ctrl-C stops at an epoch's end, or once the record is kept
        record, preds = run_fold(data, split, split_index, repeat, plan.protocol,
                                 plan.config.seed, device=plan.config.device, on_epoch=on_epoch,
                                 fixed=fixed, threads=plan.config.threads)
        part = partial_path(plan.run_dir, split, repeat)
        _write("a finished fold's record",
               lambda: write_json(part, {"record": record.to_dict(), "predictions": preds}),
               part)
    return record, preds


def open_parts(config: RunConfig, progress: bool = True, device: str | None = None):
    """The dataset (prepared), the embedder and its prepared spec, for a run or an embedding
    pass. Both names are resolved before any slow work, so a typo fails at once.

    ``device`` overrides ``config.device`` for the embedder (a client that only needs the
    spec, on a host without the run's GPU, opens it on the CPU)."""
    device = device or config.device
    check_device(device)
    set_threads(config.threads)
    dataset = datasets.create(config.dataset, data_dir=config.data_dir, download=config.download)
    embedder = embedders.create(config.embedder, device=device,
                                weights_dir=config.weights_dir, download=config.download,
                                options=config.embedder_options, precision=config.precision)
    try:
        dataset.prepare(progress=progress)
    except OSError as exc:  # e.g. synth generating into a read-only or full --data-dir
        raise storage_error(exc, config.data_dir, doing="prepare the dataset in",
                            option="--data-dir (or BENCH_DATA_DIR)") from exc
    spec = embedder.prepare()
    dataset.prefer_rate(spec.sample_rate)  # the audio copy that needs no resampling, if any
    return dataset, embedder, spec


def set_threads(threads: int | None) -> None:
    """Give torch ``--threads`` threads, or by default one per CPU this process may use
    (affinity mask and cgroup quota; torch's own default counts the machine's cores)."""
    use_default_threads(threads)


def check_device(device: str) -> None:
    """Fail early, with the reason, when a CUDA device is asked for but not usable."""
    if not device.startswith("cuda"):
        return
    import torch

    if not torch.cuda.is_available():
        raise ConfigError(f"--device {device} was asked for, but this torch ({torch.__version__}) "
                          f"sees no CUDA device", hint="use --device cpu, or install a CUDA "
                                                       "build of torch on a machine with a GPU")
    index = torch.device(device).index
    if index is not None and index >= torch.cuda.device_count():
        raise ConfigError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s)")

"""One study run, end to end: dataset -> embeddings in the store -> protocol -> results on disk.

The run directory's name is derived from everything that changes the numbers
(``bench.runs.identity``), so running the same configuration again finds it: a finished run is
reported, not recomputed (``rerun`` forces it), and a run killed half-way resumes from its
finished (fold, repeat) records in ``partial/``. The pieces (``embeddings``, ``classify_unit``,
``finish_run``) are also what a study's distributed tasks are made of (``bench.studies.tasks``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from bench import __version__, datasets, embedders
from bench.errors import ConfigError, storage_error
from bench.evaluation.protocol import check_task, fold_data, run_fold
from bench.evaluation.settings import fingerprint
from bench.runs.config import RunConfig
from bench.runs.identity import PlannedRun, plan_run, slug
from bench.runs.record import (PARTIAL_DIR, RESULTS_FILE, SCHEMA_VERSION, ChosenPoint,
                               Environment, FoldRecord, RunRecord, Timings, TrainingOverlap,
                               git_sha, now_iso, read_results, write_json, write_predictions,
                               write_results)
from bench.runs.record_parts import summaries
from bench.store.pipeline import (DamagedEntries, EmbedReport, embed_clips, load_matrix,
                                  open_namespace)
from bench.store.store import EmbeddingStore
from bench.util.cpus import default_threads
from bench.util.progress import bar


@dataclass
class RunOutcome:
    """What :func:`execute` did.

    Attributes
    ----------
    run_dir : Path
    record : RunRecord
        The ``results.json`` content (``record.path`` is that file).
    reused : bool
        The run was finished before: nothing was computed.
    resumed : int
        (fold, repeat) pieces taken from ``partial/`` of an interrupted earlier attempt.
    logged : object or None
        What MLflow tracking returned (``bench.tracking.logger.Logged``), ``None`` when off or failed.
    """

    run_dir: Path
    record: RunRecord
    reused: bool = False
    resumed: int = 0
    logged: Any = None


def execute(config: RunConfig, progress: bool = True,
            log: Callable[[str], None] | None = None) -> RunOutcome:
    """Carry out one run, or find it finished.

    MLflow logging is the caller's: :func:`bench.tracking.tracked.execute` runs and logs.

    Parameters
    ----------
    config : RunConfig
    progress : bool
        Show progress bars (stderr).
    log : callable, optional
        Receives one-line status messages (the command line prints them).
    """
    folders: list[Path] = []
    try:
        return _execute(config, progress, log, folders)
    finally:
        for run_dir in folders:
            _tidy(run_dir)


def _tidy(run_dir: Path) -> None:
    """Remove the run folder (and its ``partial/``) when a failed attempt left it empty, so a
    failed run leaves nothing behind; a folder with finished (fold, repeat) records stays."""
    for folder in (run_dir / PARTIAL_DIR, run_dir):
        try:
            folder.rmdir()  # only succeeds when empty
        except OSError:
            pass


def _write(what: str, write: Callable[[], Any], path: Path) -> Any:
    """Run one write of the run folder; an OSError becomes a one-line StorageError."""
    try:
        return write()
    except OSError as exc:
        raise storage_error(exc, path, doing=f"write {what}", option="--out") from exc


def _execute(config: RunConfig, progress: bool,
             log: Callable[[str], None] | None, folders: list[Path]) -> RunOutcome:
    """:func:`execute`; ``folders`` receives the run folder once it is known."""
    say = log or (lambda msg: None)
    t_start = time.perf_counter()
    dataset, embedder, spec = open_parts(config, progress)
    check_task(dataset.task, config.protocol)  # an unsupported task stops before embedding
    store = EmbeddingStore(config.cache_dir)
    plan = plan_run(config, dataset, spec, store, progress, getattr(embedder, "notes", ()))
    for w in plan.warnings:
        say(f"warning: {w}")
    run_dir = plan.run_dir
    if plan.done and not config.rerun:
        say(f"already done: {run_dir} (its results are reused)")
        return RunOutcome(run_dir, read_results(run_dir), reused=True)
    if config.rerun and (run_dir / PARTIAL_DIR).exists():
        for f in (run_dir / PARTIAL_DIR).glob("*.json"):
            f.unlink()
    folders.append(run_dir)  # removed again if this attempt fails before writing anything
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise storage_error(exc, run_dir, doing="create the run folder",
                            option="--out (or BENCH_RESULTS_DIR)", resumable=False) from exc
    t_embed = time.perf_counter()
    X, offsets, used, report = embeddings(plan, embedder, store, progress, say)
    embed_s = time.perf_counter() - t_embed
    t_classify = time.perf_counter()
    fold_records, predictions, resumed = _classify(plan, X, offsets, used, progress, say)
    classify_s = time.perf_counter() - t_classify
    record = finish_run(plan, fold_records, predictions, report,
                        {"embed_s": embed_s, "classify_s": classify_s,
                         "total_s": time.perf_counter() - t_start})
    return RunOutcome(run_dir, record, resumed=resumed)


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
    _write("the predictions file", lambda: write_predictions(run_dir, predictions),
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


def read_partial(path: Path) -> tuple[FoldRecord, list[dict[str, Any]]] | None:
    """A finished (split, repeat): its fold record and predictions; ``None`` when not there."""
    if not path.exists():
        return None
    saved = json.loads(path.read_text())
    return FoldRecord.from_dict(saved["record"], str(path)), saved["predictions"]


def classify_unit(plan: PlannedRun, data: Any, split_index: int, split: Any, repeat: int,
                  on_epoch: Callable[[int, int], None] | None = None,
                  first_chosen: ChosenPoint | None = None
                  ) -> tuple[FoldRecord, list[dict[str, Any]]]:
    """Train and test one (split, repeat) and keep it in ``partial/`` (the write is atomic,
    so a piece is there whole or not at all, whoever computed it). ``first_chosen``: split 0's
    ``chosen`` in this repeat, the only point trained under ``grid_search="first_split"``."""
    fixed = first_chosen if plan.protocol.grid_search == "first_split" else None
    record, preds = run_fold(data, split, split_index, repeat, plan.protocol, plan.config.seed,
                             device=plan.config.device, on_epoch=on_epoch, fixed=fixed,
                             threads=plan.config.threads)
    part = partial_path(plan.run_dir, split, repeat)
    _write("a finished fold's record",
           lambda: write_json(part, {"record": record.to_dict(), "predictions": preds}), part)
    return record, preds


def _classify(plan, X, offsets, clips, progress, say):
    """Every (split, repeat), each saved to ``partial/`` when done and taken from there when
    an earlier attempt finished it. Returns the fold records, predictions and resumed count."""
    protocol = plan.protocol
    data = fold_data(X, offsets, clips, tuple(plan.dataset.classes), protocol, plan.dataset.task)
    # grid_search="first_split": the point chosen in the first split of each repeat is the
    # only one the other splits of that repeat train
    first_chosen: dict[int, ChosenPoint] = {}
    units = plan.units
    fold_records: list[FoldRecord] = []
    predictions: list[dict[str, Any]] = []
    resumed = 0
    with bar(total=len(units) * protocol.max_epochs, desc="training", unit="epoch",
             enabled_=progress) as pbar:
        for i, split, repeat in units:
            saved = read_partial(partial_path(plan.run_dir, split, repeat))
            if saved is not None:
                fold_records.append(saved[0])
                predictions.extend(saved[1])
                resumed += 1
                pbar.update(protocol.max_epochs)
                continue
            pbar.set_description(f"fold {split.test_fold} repeat {repeat}")
            seen = [0]

            def on_epoch(epoch: int, n_active: int, _seen=seen) -> None:
                pbar.update(1)
                _seen[0] = epoch
                pbar.set_postfix_str(f"{n_active} grid points training", refresh=False)

            fixed = first_chosen.get(repeat) if i else None
            record, preds = classify_unit(plan, data, i, split, repeat, on_epoch, fixed)
            if i == 0:
                first_chosen[repeat] = record.chosen
            pbar.update(protocol.max_epochs - seen[0])
            fold_records.append(record)
            predictions.extend(preds)
            say(f"fold {split.test_fold} repeat {repeat}: test {record.metric_name} "
                f"{100 * record.score:.2f}% ({record.chosen.describe()})")
            for w in record.warnings or ():
                say(f"warning: fold {split.test_fold} repeat {repeat}: {w}")
    if resumed:
        say(f"resumed: {resumed} of {len(units)} (fold, repeat) finished by an earlier attempt")
    return fold_records, predictions, resumed


def embed_only(config: RunConfig, progress: bool = True):
    """Fill the store for ``config``'s embedder and dataset; return the EmbedReport."""
    dataset, embedder, spec = open_parts(config, progress)
    report, _ = embed_clips(dataset.clips(), embedder, spec, EmbeddingStore(config.cache_dir),
                            resampler=config.resampler, batch_size=config.embed_batch_size,
                            skip_bad=config.skip_bad, progress=progress,
                            decode_workers=default_threads(config.threads))
    return report


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
    return dataset, embedder, embedder.prepare()


def set_threads(threads: int | None) -> None:
    """Give torch ``--threads`` threads, or by default one per CPU this process may use
    (affinity mask and cgroup quota; torch's own default counts the machine's cores)."""
    import torch

    torch.set_num_threads(default_threads(threads))


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

"""One study run, end to end: dataset -> embeddings in the store -> protocol -> results on disk.

The run directory's name is derived from everything that changes the numbers (embedder spec
with weights sha256, dataset, resolved protocol, seed, resampler, tags), so running the same
configuration again finds it: a finished run is reported, not recomputed (``rerun`` forces it),
and a run killed half-way resumes from its finished (fold, repeat) records in ``partial/``.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from bench import __version__, datasets, embedders
from bench.datasets.checks import check_leakage
from bench.datasets.names import training_overlap
from bench.errors import ConfigError, storage_error
from bench.evaluation.protocol import fold_data, run_fold
from bench.evaluation.settings import fingerprint
from bench.runs.config import RunConfig
from bench.runs.record import (PARTIAL_DIR, RESULTS_FILE, SCHEMA_VERSION, AccuracySummary,
                               ChosenPoint, Environment, FoldRecord, RepeatSpread, RunRecord,
                               Timings, TrainingOverlap, git_sha, now_iso, read_results,
                               write_json, write_predictions, write_results)
from bench.store.pipeline import DamagedEntries, embed_clips, identify, load_matrix, open_namespace
from bench.store.store import EmbeddingStore
from bench.util.cpus import default_threads
from bench.util.progress import bar


def slug(text: str) -> str:
    """A name made safe for a folder name (runs, studies)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:60] or "x"


def run_id_prefix(dataset: str, embedder: str, preset: str, seed: int) -> str:
    """The readable start of a run directory's name; the rest is the run key's first 8 hex
    digits. Finding a configuration's runs without computing its key starts from here."""
    return f"{slug(dataset)}-{slug(embedder)}-{slug(preset)}-s{seed}-"


def run_key(config: RunConfig, spec_dict: dict[str, Any], dataset_desc: dict[str, Any],
            protocol: dict[str, Any]) -> str:
    """Hash of everything that identifies a run's numbers."""
    ident = {"embedder": spec_dict, "dataset": dataset_desc, "protocol": protocol,
             "seed": config.seed, "resampler": config.resampler, "tags": dict(config.tags),
             "skip_bad": config.skip_bad}
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()


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
    dataset, embedder, spec = _open(config, progress)
    clips = dataset.clips()
    warnings = list(getattr(embedder, "notes", [])) + list(check_leakage(clips))
    overlap = training_overlap(spec.trained_on, (dataset.name, config.dataset))
    if overlap:
        warnings.append(f"training-data overlap: {spec.name} declares it was trained on "
                        f"{', '.join(overlap)}, the dataset evaluated here; its accuracy is not "
                        f"an out-of-sample figure")
    for w in warnings:
        say(f"warning: {w}")
    protocol = config.protocol
    if protocol.repeats is None:
        protocol = protocol.replace(repeats=dataset.default_repeats)
    store = EmbeddingStore(config.cache_dir)
    identities = identify(clips, store, skip_bad=config.skip_bad, progress=progress)
    # the audio content is part of the run's identity: a replaced file makes a new run
    content = hashlib.sha256(json.dumps(sorted(identities[0].items())).encode()).hexdigest()
    dataset_desc = dataset.describe()
    # identity_dict: the protocol without the extended fields at their defaults, so runs made
    # before those fields existed keep their ids
    key = run_key(config, spec.to_dict(), {**dataset_desc, "content": content},
                  protocol.identity_dict())
    run_id = run_id_prefix(dataset.name, spec.name, protocol.preset, config.seed) + key[:8]
    run_dir = config.out_dir / run_id
    if (run_dir / RESULTS_FILE).exists() and not config.rerun:
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
    X, offsets, used, report = _embeddings(config, clips, embedder, spec, store, identities,
                                           progress, say)
    embed_s = time.perf_counter() - t_embed
    t_classify = time.perf_counter()
    splits = dataset.splits()
    fold_records, predictions, resumed = _classify(config, protocol, splits, X, offsets, used,
                                                   tuple(dataset.classes), run_dir, progress, say)
    classify_s = time.perf_counter() - t_classify

    classes = tuple(dataset.classes)
    per_class = {c: float(sum(r.per_class_accuracy.get(c, 0.0) for r in fold_records)
                          / max(1, sum(c in r.per_class_accuracy for r in fold_records)))
                 for c in classes}
    record = RunRecord(
        schema_version=SCHEMA_VERSION, run_id=run_id, created=now_iso(),
        bench_version=__version__, git_sha=git_sha(),
        training_overlap=(TrainingOverlap(dataset=dataset.name, declared=overlap) if overlap
                          else None),
        embedder={**spec.to_dict(), "trained_on": list(spec.trained_on)},
        dataset={**dataset_desc, "name": dataset.name, "content_sha256": content,
                 "classes": list(classes), "n_clips": len(clips),
                 "folds": [str(f) for f in dataset.folds()],
                 "splits": [{"test_fold": s.test_fold, "train_folds": list(s.train_folds)}
                            for s in splits]},
        protocol=protocol.to_dict(), protocol_fingerprint=fingerprint(protocol),
        config=config.to_dict(), seed=config.seed, tags=dict(config.tags),
        environment=Environment.current(config.device),
        accuracy=AccuracySummary.of(r.accuracy for r in fold_records),
        accuracy_over_repeats=RepeatSpread.of(fold_records),
        per_class_accuracy=per_class, folds=fold_records,
        timings=Timings(embed_s=embed_s, classify_s=classify_s,
                        total_s=time.perf_counter() - t_start,
                        embed_windows_per_s=report.windows_per_s if report.n_computed else None),
        embedding=report.to_dict(), skipped=report.skipped, warnings=warnings, key=key,
        path=str(run_dir / RESULTS_FILE))
    _write("the predictions file", lambda: write_predictions(run_dir, predictions),
           run_dir / "predictions.csv")
    _write("the results file", lambda: write_results(run_dir, record), run_dir / RESULTS_FILE)
    return RunOutcome(run_dir, record, resumed=resumed)


def _embeddings(config, clips, embedder, spec, store, identities, progress, say):
    """Every clip's frames in one matrix (computing what the store lacks); a damaged entry
    found while loading is removed from the store and recomputed once."""
    for attempt in range(2):
        report, audio_ids = embed_clips(clips, embedder, spec, store, resampler=config.resampler,
                                        batch_size=config.embed_batch_size,
                                        skip_bad=config.skip_bad, progress=progress,
                                        identities=identities,
                                        decode_workers=default_threads(config.threads))
        used = [c for c in clips if c.id in audio_ids]
        try:
            X, offsets = load_matrix(used, open_namespace(store, spec, config.resampler),
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


def _classify(config, protocol, splits, X, offsets, clips, classes, run_dir, progress, say):
    """Every (split, repeat), each saved to ``partial/`` when done and taken from there when
    an earlier attempt finished it. Returns the fold records, predictions and resumed count."""
    data = fold_data(X, offsets, clips, classes, protocol)
    # grid_search="first_split": the point chosen in the first split of each repeat is the
    # only one the other splits of that repeat train
    first_chosen: dict[int, ChosenPoint] = {}
    units = [(i, s, r) for i, s in enumerate(splits) for r in range(protocol.repeats)]
    fold_records: list[FoldRecord] = []
    predictions: list[dict[str, Any]] = []
    resumed = 0
    with bar(total=len(units) * protocol.max_epochs, desc="training", unit="epoch",
             enabled_=progress) as pbar:
        for i, split, repeat in units:
            part = run_dir / PARTIAL_DIR / f"fold-{slug(str(split.test_fold))}-repeat-{repeat}.json"
            if part.exists():
                saved = json.loads(part.read_text())
                done = FoldRecord.from_dict(saved["record"], str(part))
                fold_records.append(done)
                predictions.extend(saved["predictions"])
                if i == 0:
                    first_chosen[repeat] = done.chosen
                resumed += 1
                pbar.update(protocol.max_epochs)
                continue
            pbar.set_description(f"fold {split.test_fold} repeat {repeat}")
            seen = [0]

            def on_epoch(epoch: int, n_active: int, _seen=seen) -> None:
                pbar.update(1)
                _seen[0] = epoch
                pbar.set_postfix_str(f"{n_active} grid points training", refresh=False)

            fixed = (first_chosen.get(repeat) if i and protocol.grid_search == "first_split"
                     else None)
            record, preds = run_fold(data, split, i, repeat, protocol, config.seed,
                                     device=config.device, on_epoch=on_epoch, fixed=fixed)
            if i == 0:
                first_chosen[repeat] = record.chosen
            pbar.update(protocol.max_epochs - seen[0])
            _write("a finished fold's record",
                   lambda: write_json(part, {"record": record.to_dict(), "predictions": preds}),
                   part)
            fold_records.append(record)
            predictions.extend(preds)
            say(f"fold {split.test_fold} repeat {repeat}: test accuracy "
                f"{100 * record.accuracy:.2f}% ({record.chosen.describe()})")
            for w in record.warnings or ():
                say(f"warning: fold {split.test_fold} repeat {repeat}: {w}")
    if resumed:
        say(f"resumed: {resumed} of {len(units)} (fold, repeat) finished by an earlier attempt")
    return fold_records, predictions, resumed


def embed_only(config: RunConfig, progress: bool = True):
    """Fill the store for ``config``'s embedder and dataset; return the EmbedReport."""
    dataset, embedder, spec = _open(config, progress)
    report, _ = embed_clips(dataset.clips(), embedder, spec, EmbeddingStore(config.cache_dir),
                            resampler=config.resampler, batch_size=config.embed_batch_size,
                            skip_bad=config.skip_bad, progress=progress,
                            decode_workers=default_threads(config.threads))
    return report


def _open(config: RunConfig, progress: bool):
    """The dataset (prepared), the embedder and its prepared spec, for a run or an embedding
    pass. Both names are resolved before any slow work, so a typo fails at once."""
    check_device(config.device)
    set_threads(config.threads)
    dataset = datasets.create(config.dataset, data_dir=config.data_dir, download=config.download)
    embedder = embedders.create(config.embedder, device=config.device,
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

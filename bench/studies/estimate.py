"""How much compute a study takes, before it starts: windows to embed and GFLOP.

Embeddings are computed once per (embedder, dataset) and shared by every protocol and seed, so
the cost is counted per pair: clips x windows per clip (from each clip's duration and the
embedder's window and hop), times the embedder's ``gflop_per_window`` where it declares one
(for sequence embedders such as SoundNet: per second of audio). Clip durations come from the
files when the dataset is on disk (a sample of up to 300 clips is probed) and otherwise from the
published sizes of the datasets' table (:mod:`bench.datasets.meta`). CPU hours follow from a
per-core GFLOP/s figure: given, or measured here with a short 3x3 convolution in torch (the
operation that dominates L3 and VGGish); networks reach less than that peak, so read the hours
as a lower bound.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from bench import datasets, embedders
from bench.datasets import meta
from bench.datasets.names import dataset_key
from bench.audio.decode import probe
from bench.audio.frames import frame_count
from bench.errors import BenchError, ResultsError
from bench.evaluation.settings import identity_of
from bench.runs.identity import run_id_prefix
from bench.runs.record import PARTIAL_DIR, RESULTS_FILE, RunRecord, read_results
from bench.util import tables
from bench.util.threads import torch_threads

if TYPE_CHECKING:
    from bench.runs.config import RunConfig

_PROBE_SAMPLE = 300


@dataclass
class DatasetSize:
    name: str
    n_clips: int | None
    durations: list[float] | None   # seconds of the probed clips (a sample)
    n_splits: int | None
    source: str
    default_repeats: int | None = None  # trials per fold where the protocol leaves them open


@dataclass
class PairCost:
    """Embedding cost of one (embedder, dataset) pair."""

    embedder: str
    dataset: str
    windows: float | None           # windows (windowed) or seconds of audio (sequence)
    unit: str                       # "windows" or "audio s"
    gflop_per_unit: float | None
    note: str = ""
    embedder_arg: str = ""          # the name as the study gives it
    dim: int | None = None          # embedding dimension (the classifier's input)
    frames: float | None = None     # frames the classifier sees (windows, or audio s / hop)

    @property
    def gflop(self) -> float | None:
        if self.windows is None or self.gflop_per_unit is None:
            return None
        return self.windows * self.gflop_per_unit


def dataset_size(name: str, data_dir: Path) -> DatasetSize:
    """Clips, durations and splits of a dataset: from the files when present, else the facts."""
    ds = clips = None
    try:
        ds = datasets.create(name, data_dir=data_dir, download=False)
        clips = ds.clips()
    except (BenchError, OSError, NotImplementedError):
        pass
    repeats = ds.default_repeats if ds is not None else None
    if clips:
        n_splits = len(ds.splits())
        step = max(1, len(clips) // _PROBE_SAMPLE)
        sample = clips[::step]
        if all(c.path.exists() for c in sample):
            try:
                durations = [probe(c.path).duration for c in sample]
                return DatasetSize(name, len(clips), durations, n_splits,
                                   f"{len(sample)} of {len(clips)} files probed", repeats)
            except BenchError:
                pass
    # the published size (the datasets' table), found under any spelling of the name
    row = meta.find(dataset_key(ds.name if ds is not None else name))
    if row is not None and row.clip_s is not None and row.n_clips:
        return DatasetSize(name, row.n_clips, [row.clip_s], row.n_splits, row.size_note, repeats)
    if clips:
        return DatasetSize(name, len(clips), None, len(ds.splits()),
                           "files not on disk yet: durations unknown", repeats)
    return DatasetSize(name, None, None, None, "unknown until the dataset is on disk", repeats)


def pair_cost(embedder_name: str, size: DatasetSize) -> PairCost:
    """Windows and GFLOP to embed one dataset with one embedder (nothing is loaded)."""
    try:
        emb = embedders.create(embedder_name, download=False)
    except BenchError as exc:
        return PairCost(embedder_name, size.name, None, "windows", None, exc.message)
    spec, gflop = emb.spec, getattr(emb, "gflop_per_window", None)
    if size.n_clips is None or not size.durations:
        return PairCost(spec.name, size.name, None, "windows", gflop, size.source)
    if spec.windowed:
        per_clip = [frame_count(int(round(d * spec.sample_rate)), spec.window_samples,
                                spec.hop_samples) for d in size.durations]
        unit = "windows"
    else:
        per_clip, unit = list(size.durations), "audio s"
    windows = size.n_clips * sum(per_clip) / len(per_clip)
    return PairCost(spec.name, size.name, windows, unit, gflop,
                    "" if gflop is not None else "embedder declares no gflop_per_window",
                    dim=spec.dim, frames=windows if spec.windowed else windows / spec.hop_s)


def measure_gflops(seconds: float = 0.5) -> float:
    """Per-core GFLOP/s of a 3x3, 64->64 channel convolution in torch on one thread."""
    import torch

    with torch_threads(1):
        x = torch.randn(4, 64, 64, 48)
        w = torch.randn(64, 64, 3, 3)
        flop = 2 * 4 * 64 * 64 * 48 * 64 * 9
        torch.nn.functional.conv2d(x, w, padding=1)  # warm-up
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds or n < 2:
            torch.nn.functional.conv2d(x, w, padding=1)
            n += 1
        return flop * n / (time.perf_counter() - t0) / 1e9


def cpu_time(seconds: float) -> str:
    """Seconds of one core as s, min or CPU hours."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} CPU h"


def human(x: float | None) -> str:
    """3 significant figures with k/M/G/T suffixes; '?' for unknown."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "?"
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.3g}{suffix}"
    return f"{x:.3g}"


@dataclass
class StudyEstimate:
    """The plan of a study with its status and compute, for ``bench sweep --dry-run``."""

    rows: list[dict]
    pairs: list[PairCost]
    gflops: float
    gflops_source: str
    fits: int
    sizes: dict[str, DatasetSize] = field(default_factory=dict)

    @property
    def total_gflop(self) -> float:
        return sum(p.gflop or 0.0 for p in self.pairs)

    @property
    def todo_gflop(self) -> float:
        todo = {(r["embedder"], r["dataset"]) for r in self.rows if r["status"] != "done"}
        return sum(p.gflop or 0.0 for p in self.pairs if (p.embedder_arg, p.dataset) in todo)


def estimate(study, gflops: float | None = None) -> StudyEstimate:
    """Plan, status and compute of ``study`` (a :class:`bench.studies.study.Study`); nothing is run.

    ``gflops`` is the per-core GFLOP/s to convert GFLOP into CPU hours; measured when ``None``.
    """
    plan = study.plan()
    data_dir = plan[0].data_dir
    sizes = {d: dataset_size(d, data_dir) for d in study.datasets}
    pairs = []
    for d in study.datasets:
        for e in study.embedders:
            pc = pair_cost(e, sizes[d])
            pc.embedder_arg = e
            pairs.append(pc)
    rows, fits = [], 0
    for i, (cfg, (status, run_dir)) in enumerate(zip(plan, existing_status(plan))):
        size = sizes[cfg.dataset]
        repeats = cfg.protocol.repeats or size.default_repeats
        n_fits = (size.n_splits or 0) * (repeats or 0) * len(cfg.protocol.grid)
        fits += n_fits
        rows.append({"index": i + 1, "embedder": cfg.embedder, "dataset": cfg.dataset,
                     "protocol": cfg.protocol.preset, "seed": cfg.seed, "repeats": repeats,
                     "splits": size.n_splits, "fits": n_fits or None, "status": status,
                     "run_dir": run_dir})
    source = "given"
    if gflops is None:
        gflops, source = measure_gflops(), "measured: torch 3x3 conv, 1 thread"
    return StudyEstimate(rows, pairs, gflops, source, fits, sizes)


def existing_status(plan: Sequence[RunConfig]) -> list[tuple[str, Path | None]]:
    """For each planned run: ``("done", dir)`` when a finished run of it is on disk,
    ``("started k", dir)`` when a run directory of its embedder, dataset, preset and seed holds
    ``k`` finished (fold, repeat) pieces, else ``("todo", None)``.

    Nothing is loaded or computed (each dataset and embedder is opened once, for the names its
    runs are filed under, and each results file read once), so this is what the runner will most
    likely find (``bench sweep`` itself asks the runner): a results file is taken as the planned
    run when it records the same protocol, seed, tags, resampler and skip_bad; the audio content
    and the weights, which the run's key also holds, are not read.
    """
    def dataset_name(cfg: RunConfig) -> str:
        return datasets.create(cfg.dataset, data_dir=cfg.data_dir, download=False).name

    def embedder_name(cfg: RunConfig) -> str:
        return embedders.create(cfg.embedder, download=False).spec.name

    names: dict[tuple[Any, ...], str | None] = {}
    found: dict[tuple[Path, str], list[tuple[Path, dict | None, int]]] = {}

    def name(key: tuple[Any, ...], make: Callable[[RunConfig], str], cfg: RunConfig
             ) -> str | None:
        if key not in names:
            try:
                names[key] = make(cfg)
            except BenchError:
                names[key] = None
        return names[key]

    out: list[tuple[str, Path | None]] = []
    for cfg in plan:
        ds = name(("dataset", cfg.dataset, cfg.data_dir), dataset_name, cfg)
        emb = name(("embedder", cfg.embedder), embedder_name, cfg)
        if ds is None or emb is None:
            out.append(("todo", None))
            continue
        where = (cfg.out_dir, run_id_prefix(ds, emb, cfg.protocol.preset, cfg.seed))
        if where not in found:
            found[where] = _run_dirs(*where)
        out.append(_status(found[where], cfg))
    return out


def _run_dirs(out_dir: Path, prefix: str) -> list[tuple[Path, RunRecord | None, int]]:
    """Run directories named ``prefix*``: each with its results record (``None`` when it has
    none) and its number of finished (fold, repeat) pieces; an unreadable results file is
    left out."""
    dirs: list[tuple[Path, RunRecord | None, int]] = []
    for d in sorted(out_dir.glob(prefix + "*")) if out_dir.is_dir() else []:
        res = d / RESULTS_FILE
        if res.is_file():
            try:
                dirs.append((d, read_results(res), 0))
            except ResultsError:
                continue
        else:
            dirs.append((d, None, len(list((d / PARTIAL_DIR).glob("*.json")))))
    return dirs


def _status(dirs: list[tuple[Path, RunRecord | None, int]], config: RunConfig
            ) -> tuple[str, Path | None]:
    started: tuple[int, Path | None] = (0, None)
    for d, rec, pieces in dirs:
        if rec is not None:
            if _same_run(rec, config):
                return "done", d
        elif pieces > started[0]:
            started = (pieces, d)
    if started[1] is not None:
        return f"started {started[0]}", started[1]
    return "todo", None


def _same_run(rec: RunRecord, config: RunConfig) -> bool:
    # extended protocol fields at their defaults are absent from records made before they
    # existed: compare what identifies the protocol, as the run key does
    want = identity_of(config.protocol.to_dict())
    have = identity_of(dict(rec.protocol))
    if want.get("repeats") is None:  # the dataset's default: any number the run resolved
        want.pop("repeats")
        have.pop("repeats", None)
    recorded = rec.config or {}
    return (have == want and rec.run_seed == config.seed
            and rec.run_tags == dict(config.tags)
            and all(recorded.get(k) == getattr(config, k) for k in ("resampler", "skip_bad"))
            # records from before --precision existed were float32
            and recorded.get("precision", "float32") == config.precision)


def format_estimate(study, est: StudyEstimate) -> str:
    """The ``--dry-run`` text: the runs, the embedding work per (embedder, dataset), totals."""
    n = len(est.rows)
    lines = [f"study {study.name}: {n} runs = {len(study.embedders)} embedders x "
             f"{len(study.datasets)} datasets x {len(study.protocols)} protocols x "
             f"{len(study.seeds)} seeds", ""]
    lines.append(tables.text(
        ["#", "embedder", "dataset", "protocol", "seed", "splits", "repeats", "MLP fits",
         "status"],
        [[r["index"], r["embedder"], r["dataset"], r["protocol"], r["seed"],
          r["splits"] if r["splits"] is not None else "?", r["repeats"] or "?",
          r["fits"] or "?", r["status"]] for r in est.rows],
        align="rllllrrrl"))
    lines += ["", "embedding work (once per embedder and dataset; every protocol and seed "
                  "reuses the stored embeddings):"]
    lines.append(tables.text(
        ["embedder", "dataset", "work", "GFLOP/unit", "GFLOP", "CPU time", "note"],
        [[p.embedder, p.dataset, f"{human(p.windows)} {p.unit}",
          f"{p.gflop_per_unit:.3g}" if p.gflop_per_unit is not None else "?",
          human(p.gflop), cpu_time(p.gflop / est.gflops) if p.gflop else "?", p.note]
         for p in est.pairs], align="llrrrrl"))
    unknown = [p for p in est.pairs if p.gflop is None]
    lines += ["", f"total: {human(est.total_gflop)} GFLOP of embedding = "
                  f"{cpu_time(est.total_gflop / est.gflops)} of one core at {est.gflops:.1f} "
                  f"GFLOP/s ({est.gflops_source}); runs not yet done: "
                  f"{cpu_time(est.todo_gflop / est.gflops)}",
              f"classifier: {est.fits} MLP fits (splits x repeats x grid points), not "
              f"included above"]
    if unknown:
        lines.append(f"not counted: {len(unknown)} pair(s) of unknown cost (see notes)")
    lines.append("peak conv throughput is rarely reached; read the hours as a lower bound. "
                 "Embeddings already in the store are not computed again.")
    return "\n".join(lines)

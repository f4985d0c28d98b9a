"""The results schema: one run = one directory with a schema-versioned ``results.json``.

Layout of a run directory::

    <run_dir>/results.json       the record below (written last, atomically)
    <run_dir>/predictions.csv    one row per (test clip, repeat)
    <run_dir>/partial/           one JSON per finished (fold, repeat), for resuming

Accuracies are fractions in [0, 1]; tables print them in percent. See docs/results.md.
"""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from bench.errors import ResultsError
from bench.io.fileio import atomic_write_text

SCHEMA_VERSION = 1
RESULTS_FILE = "results.json"
PREDICTIONS_FILE = "predictions.csv"
PARTIAL_DIR = "partial"
#: the tag naming the study a run belongs to (its MLflow experiment)
STUDY_TAG = "study"
_SKIP_DIRS = frozenset({PARTIAL_DIR, "mlartifacts", "mlruns"})

REQUIRED_FIELDS = ("schema_version", "run_id", "created", "bench_version", "git_sha", "embedder",
                   "dataset", "protocol", "environment", "accuracy", "folds", "timings")
REQUIRED_FOLD_FIELDS = ("test_fold", "repeat", "accuracy", "val_accuracy", "chosen", "grid",
                        "per_class_accuracy")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def git_sha() -> str | None:
    """Commit of the bench checkout in use, or ``None`` when not installed from a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip()
    if out.returncode != 0 or len(sha) != 40:
        return None
    dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--", "."],
                           capture_output=True, text=True, timeout=5, check=False).stdout.strip()
    return sha + ("-dirty" if dirty else "")


def environment(device: str = "cpu") -> dict[str, Any]:
    """Versions of what produced the numbers."""
    import numpy

    env: dict[str, Any] = {"python": platform.python_version(), "numpy": numpy.__version__,
                           "platform": platform.platform(), "device": device,
                           "machine": platform.machine()}
    for mod in ("torch", "sklearn", "scipy", "soundfile", "resampy"):
        try:
            env[mod] = __import__(mod).__version__
        except Exception:  # not installed: recorded as absent, not an error
            env[mod] = None
    try:
        import torch

        env["torch_threads"] = torch.get_num_threads()
        if device.startswith("cuda") and torch.cuda.is_available():
            env["device_name"] = torch.cuda.get_device_name(torch.device(device))
    except ImportError:
        pass
    env["cpu_count"] = os.cpu_count()
    return env


def summary_stats(values: Iterable[float]) -> dict[str, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value) and count."""
    vals = [float(v) for v in values]
    if not vals:
        return {"mean": float("nan"), "std": float("nan"), "n": 0}
    mean = sum(vals) / len(vals)
    var = sum((v - mean) ** 2 for v in vals) / (len(vals) - 1) if len(vals) > 1 else 0.0
    return {"mean": mean, "std": math.sqrt(var), "n": len(vals)}


def repeat_spread(folds: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Each repeat's mean accuracy over its folds, and their mean, sd (ddof 1), min and max: the
    spread over repeats (a few-shot protocol's subsets differ per repeat)."""
    by: dict[int, list[float]] = {}
    for f in folds:
        by.setdefault(int(f["repeat"]), []).append(float(f["accuracy"]))
    values = [sum(v) / len(v) for _, v in sorted(by.items())]
    stats = summary_stats(values)
    return {"values": values, **stats,
            "min": min(values) if values else float("nan"),
            "max": max(values) if values else float("nan")}


def chosen_summary(chosen: dict[str, Any]) -> str:
    """The chosen grid point in words: ``lr 0.001, wd 0.0001`` (plus hidden shape and init when
    the grid varies them); a classifier without a learning rate gives its iterations."""
    lr = chosen.get("lr")
    if lr is None or lr != lr:  # NaN: logistic regression, no grid
        return f"{chosen.get('epochs', '?')} L-BFGS iterations"
    parts = [f"lr {lr:g}", f"wd {chosen.get('weight_decay', float('nan')):g}"]
    if "hidden_sizes" in chosen:
        parts.append(f"hidden {list(chosen['hidden_sizes'])}")
    if "init" in chosen:
        parts.append(str(chosen["init"]))
    return ", ".join(parts)


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as strict JSON, atomically.

    NaN and infinities are refused (``json`` would write ``NaN`` / ``Infinity``, which strict
    readers reject): producers write ``null`` for a number that does not exist, and a
    non-finite number left anywhere is a :class:`ResultsError` naming where it is.
    """
    try:
        text = json.dumps(obj, indent=2, sort_keys=False, default=_json_default, allow_nan=False)
    except ValueError as exc:
        where = _non_finite(obj)
        raise ResultsError(f"not writing {path}: {where or 'a value'} is not a finite number "
                           f"(strict JSON has no NaN or Infinity)",
                           hint="this is a bug in what produced the record; please report it"
                           ) from exc
    atomic_write_text(Path(path), text + "\n")


def _non_finite(obj: Any, where: str = "") -> str | None:
    """The path (``folds[2].val_loss``) of the first NaN or infinity in ``obj``."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return where or "the value"
    if isinstance(obj, dict):
        items = ((f"{where}.{k}" if where else str(k), v) for k, v in obj.items())
    elif isinstance(obj, (list, tuple)):
        items = ((f"{where}[{i}]", v) for i, v in enumerate(obj))
    else:
        return None
    for sub, v in items:
        found = _non_finite(v, sub)
        if found:
            return found
    return None


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def validate(record: dict[str, Any], source: str = "results") -> dict[str, Any]:
    """Check a record has the schema's required fields; return it unchanged."""
    if not isinstance(record, dict):
        raise ResultsError(f"{source}: expected a JSON object, found {type(record).__name__}")
    version = record.get("schema_version")
    if version is None:
        raise ResultsError(f"{source}: no schema_version; this is not a bench results file")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise ResultsError(f"{source}: schema_version {version!r} is newer than this bench "
                           f"understands ({SCHEMA_VERSION})", hint="upgrade bench to read it")
    missing = [f for f in REQUIRED_FIELDS if f not in record]
    if missing:
        raise ResultsError(f"{source}: missing field(s) {missing}")
    for i, fold in enumerate(record["folds"]):
        fmissing = [f for f in REQUIRED_FOLD_FIELDS if f not in fold]
        if fmissing:
            raise ResultsError(f"{source}: folds[{i}] is missing {fmissing}")
    return record


def write_results(run_dir: Path, record: dict[str, Any]) -> Path:
    """Validate and write ``results.json`` atomically; return its path."""
    validate(record, str(run_dir))
    path = Path(run_dir) / RESULTS_FILE
    write_json(path, record)
    return path


def read_results(path: Path) -> dict[str, Any]:
    """Read one run: a ``results.json`` or a run directory holding one."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    if not path.exists():
        raise ResultsError(f"no results file at {path}",
                           hint="pass a run directory made by `bench run` or its results.json")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ResultsError(f"cannot read {path}: {exc}") from exc
    record = validate(record, str(path))
    record.setdefault("_path", str(path))
    return record


def find_results(paths: Iterable[Path]) -> list[Path]:
    """Expand paths into results files: a file as is, a directory searched recursively."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_file():
            found.append(p)
        elif p.is_dir():
            # partial/ holds per-fold pieces; MLflow's artifact store (bench.tracking.logger keeps it
            # in the results directory) holds copies of results.json that are not runs
            hits = sorted(q for q in p.rglob(RESULTS_FILE)
                          if not _SKIP_DIRS.intersection(q.relative_to(p).parts))
            if not hits:
                raise ResultsError(f"no {RESULTS_FILE} under {p}")
            found.extend(hits)
        else:
            raise ResultsError(f"no such file or directory: {p}")
    return found


def load_runs(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Read every run under ``paths`` (files or directories)."""
    return [read_results(p) for p in find_results(paths)]


def write_predictions(run_dir: Path, rows: list[dict[str, Any]]) -> Path:
    """Write ``predictions.csv`` (one row per test clip and repeat) atomically."""
    path = Path(run_dir) / PREDICTIONS_FILE
    fields = ["clip_id", "test_fold", "repeat", "label", "predicted", "correct", "n_frames", "score"]
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    atomic_write_text(path, buf.getvalue())
    return path


def name_of(part: Any) -> str:
    """The name of a record's ``embedder`` or ``dataset`` (a mapping with ``name``, or a bare
    name)."""
    return str(part.get("name")) if isinstance(part, dict) else str(part)


def record_seed(record: dict[str, Any]) -> Any:
    """A record's root seed (``seed``, else the one in its ``config``; ``None`` when neither)."""
    return record.get("seed", (record.get("config") or {}).get("seed"))


def record_tags(record: dict[str, Any]) -> dict[str, str]:
    """A record's tags as strings (``tags``, else the ones in its ``config``)."""
    tags = record.get("tags") or (record.get("config") or {}).get("tags") or {}
    return {str(k): str(v) for k, v in tags.items()}


def format_summary(record: dict[str, Any]) -> str:
    """A readable table of one run: per (fold, repeat) accuracy and chosen grid point."""
    lines = []
    seed = record_seed(record)
    fp = record.get("protocol_fingerprint")
    lines.append(f"{name_of(record['embedder'])} on {name_of(record['dataset'])}  (protocol "
                 f"{record['protocol'].get('preset', '?')}" + (f" [{fp}]" if fp else "")
                 + f", seed {'?' if seed is None else seed})")
    lines.append(f"{'fold':>6} {'repeat':>6} {'test acc':>9} {'val acc':>8} {'lr':>8} {'wd':>8} "
                 f"{'epochs':>6}")
    for f in record["folds"]:
        chosen = f["chosen"]
        epochs = chosen.get("epochs", "")
        lines.append(f"{str(f['test_fold']):>6} {f['repeat']:>6} {100 * f['accuracy']:8.2f}% "
                     f"{_pct(f['val_accuracy'])} {_sci(chosen.get('lr'))} "
                     f"{_sci(chosen.get('weight_decay'))} {epochs!s:>6}")
    acc = record["accuracy"]
    lines.append(f"accuracy: {100 * acc['mean']:.2f}% ± {100 * acc['std']:.2f} "
                 f"(mean ± sd over {acc.get('n', len(record['folds']))} fold×repeat)"
                 + (f" [{fp}]" if fp else ""))
    spread = record.get("accuracy_over_repeats") or {}
    if spread.get("n", 0) > 1:
        lines.append(f"over repeats: {100 * spread['mean']:.2f}% ± {100 * spread['std']:.2f} "
                     f"(sd of {spread['n']} repeat means; min {100 * spread['min']:.2f}%, "
                     f"max {100 * spread['max']:.2f}%)")
    overlap = record.get("training_overlap")
    if overlap:
        lines.append(f"TRAINING-DATA OVERLAP: the embedder was trained on "
                     f"{', '.join(overlap['declared'])} = {overlap['dataset']}; not an "
                     f"out-of-sample accuracy")
    t = record.get("timings", {})
    lines.append(f"time: embed {t.get('embed_s', 0):.1f} s, classify {t.get('classify_s', 0):.1f} s")
    lines += [f"warning: {w}" for w in run_warnings(record)]
    return "\n".join(lines)


def _pct(x: Any) -> str:
    return "    n/a " if x is None else f"{100 * x:7.2f}%"


def run_warnings(record: dict[str, Any]) -> list[str]:
    """Every warning of a run, its own then each fold's (prefixed with the fold and repeat),
    each once: what the summary and the report print."""
    out = [str(w) for w in record.get("warnings") or ()]
    for f in record.get("folds") or ():
        out += [f"fold {f.get('test_fold')} repeat {f.get('repeat')}: {w}"
                for w in f.get("warnings") or ()]
    return list(dict.fromkeys(out))


def untrained_by_class(record: dict[str, Any]) -> dict[str, list[str]]:
    """Class -> the test folds in which it had no training clip (so its clips there were
    scored wrong whatever the embedding); empty for a sound run."""
    out: dict[str, list[str]] = {}
    for f in record.get("folds") or ():
        for cls in f.get("untrained_classes") or {}:
            fold = str(f.get("test_fold"))
            if fold not in out.setdefault(cls, []):
                out[cls].append(fold)
    return out


def _sci(x: float | None) -> str:
    """A grid value for the summary table; a classifier without one (logistic regression) has
    ``None`` there."""
    return f"{'-':>8}" if x is None or x != x else f"{x:>8.0e}"

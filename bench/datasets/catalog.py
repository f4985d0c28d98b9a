"""What `bench data` works on: the datasets with a download, and every registered dataset with
its status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.datasets import REGISTRY, Dataset, create, meta
from bench.datasets.hear_task import HearTaskDataset, find_tasks
from bench.datasets.official import OfficialDataset
from bench.errors import ConfigError, DatasetError


def official(name: str, data_dir: Path) -> OfficialDataset:
    """The dataset called ``name``, which must have a download; others are an error."""
    ds = create(name, data_dir=data_dir)
    if not isinstance(ds, OfficialDataset):
        raise ConfigError(f"dataset {name!r} has nothing to download: it is generated or "
                          "described by your own manifest",
                          hint=f"`bench data download` takes {', '.join(downloadable())}")
    return ds


def downloadable() -> list[str]:
    """The datasets of the table that come from an official release (they have a download)."""
    return [r.name for r in meta.rows()
            if issubclass(REGISTRY.resolve(r.name)[0], OfficialDataset)]


def catalog(data_dir: Path) -> list[dict[str, Any]]:
    """One row per dataset (aliases folded into their target): facts, presence and place."""
    rows: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in REGISTRY.entries():
        ident = (entry.target, repr(sorted(entry.kwargs.items())))
        if ident in seen:
            seen[ident]["aliases"].append(entry.name)
            continue
        row: dict[str, Any]
        try:
            ds = create(entry.name, data_dir=data_dir, download=False)
        except ConfigError as exc:  # a broken plugin must not break the listing
            row = {"name": entry.name, "clips": None, "classes": None, "size": "-",
                   "present": f"error: {exc.message}", "where": "-"}
        except Exception:  # noqa: BLE001 (a plugin that cannot even be built is listed, not fatal)
            row = _generated_row(entry.name, None)
        else:
            if isinstance(ds, OfficialDataset):
                row = ds.status()
                row["name"] = entry.name
            else:
                row = _generated_row(entry.name, ds)
        row["summary"] = entry.summary
        row["aliases"] = []
        seen[ident] = row
        rows.append(row)
    return rows + [_hear_row(folder, data_dir) for folder in find_tasks(data_dir)]


def _hear_row(folder: Path, data_dir: Path) -> dict[str, Any]:
    """A HEAR task folder found in the data directory: its path is the name to run it by."""
    row: dict[str, Any] = {"name": str(folder), "clips": None, "classes": None, "size": "-",
                           "present": "HEAR task", "where": str(folder), "aliases": []}
    try:
        ds = HearTaskDataset(data_dir, download=False, task_dir=folder)
        row["summary"] = f"HEAR task {ds.task_name} ({ds.task.kind}, {ds.task.primary_metric})"
        row["clips"], row["classes"] = len(ds.clips()), len(ds.classes)
    except DatasetError as exc:  # a broken task is listed with why, not fatal
        row["present"], row["summary"] = f"error: {exc.message}", "HEAR task"
    return row


def _generated_row(name: str, ds: Dataset | None) -> dict[str, Any]:
    """A dataset without a download (generated, or a plugin): where its files are, if known."""
    row: dict[str, Any] = {"name": name, "clips": None, "classes": None, "size": "-",
                           "present": "no download needed", "where": "-"}
    root = getattr(ds, "root", None)
    if isinstance(root, Path):
        row["where"] = str(root)
        row["present"] = "generated" if root.exists() else "generated on first use"
    return row

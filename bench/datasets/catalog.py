"""What `bench data` works on: the datasets with a download, and every registered dataset with
its status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.datasets import REGISTRY, Dataset, create, meta
from bench.datasets.official import OfficialDataset
from bench.errors import ConfigError


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
    return rows


def _generated_row(name: str, ds: Dataset | None) -> dict[str, Any]:
    """A dataset without a download (generated, or a plugin): where its files are, if known."""
    row: dict[str, Any] = {"name": name, "clips": None, "classes": None, "size": "-",
                           "present": "no download needed", "where": "-"}
    root = getattr(ds, "root", None)
    if isinstance(root, Path):
        row["where"] = str(root)
        row["present"] = "generated" if root.exists() else "generated on first use"
    return row

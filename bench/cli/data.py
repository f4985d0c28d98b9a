"""`bench data list | download D | verify D`: the datasets on this machine."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bench.cli.options import dir_option
from bench.datasets import create
from bench.datasets.catalog import catalog, official
from bench.util.paths import default_dir

_data_dir = dir_option("data", "Folder holding the datasets, or one dataset's own folder.")


def _resolve(data_dir: Path | None) -> Path:
    return Path(data_dir).expanduser() if data_dir else default_dir("data")


@click.group("data")
def data() -> None:
    """List, download and verify datasets (ESC-50, UrbanSound8K, DCASE 2013, manifests)."""


@data.command("list")
@_data_dir
def list_(data_dir: Path | None) -> None:
    """Every dataset: clips, classes, download size, whether a copy is present, and where."""
    rows = catalog(_resolve(data_dir))
    table = [("name", "clips", "classes", "size", "present", "where")]
    for r in rows:
        name = r["name"] + (f" ({', '.join(r['aliases'])})" if r["aliases"] else "")
        table.append((name, str(r["clips"] or "-"), str(r["classes"] or "-"), r["size"],
                      r["present"], r["where"]))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    for row in table:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1])


@data.command("download")
@click.argument("dataset")
@_data_dir
@click.option("--mirror", envvar="BENCH_DATA_MIRROR", show_envvar=True, default=None,
              help="Base URL serving the same files under their stored names, instead of the "
                   "official URLs.")
@click.option("--keep-archives", is_flag=True,
              help="Keep the downloaded archives in DATA_DIR/downloads after extraction.")
@click.option("--force", is_flag=True,
              help="Download and extract again, replacing a copy that is already there.")
def download(dataset: str, data_dir: Path | None, mirror: str | None, keep_archives: bool,
             force: bool) -> None:
    """Download DATASET (resumable, checksums verified) and extract it into DATA_DIR."""
    ds = official(dataset, _resolve(data_dir))
    before = ds.locate()
    root = ds.fetch(progress=True, keep_archives=keep_archives, force=force, mirror=mirror)
    if before is not None and not force:
        click.echo(f"{ds.title} is already at {root} (`bench data verify {ds.name}` checks it; "
                   "--force downloads it again)")
    else:
        click.echo(f"{ds.title} is ready at {root}")


@data.command("verify")
@click.argument("dataset")
@_data_dir
@click.option("--deep", is_flag=True,
              help="Decode every audio file completely (slower); by default headers and file "
                   "structure are checked, which finds missing and truncated files.")
def verify(dataset: str, data_dir: Path | None, deep: bool) -> None:
    """Check that every file of DATASET is present and readable; exit 1 when not."""
    ds = create(dataset, data_dir=_resolve(data_dir), download=False)
    report = ds.verify(deep=deep, progress=True)
    click.echo(f"{report.dataset}: {report.checked} audio files checked at {report.root}")
    for path in report.missing:
        click.echo(f"  missing: {path}")
    for path, reason in report.damaged:
        click.echo(f"  damaged: {path}: {reason}")
    for note in report.notes:
        click.echo(f"  note: {note}")
    if report.ok:
        click.echo("ok")
    else:
        click.echo(f"NOT OK: {len(report.missing)} missing, {len(report.damaged)} damaged")
        sys.exit(1)

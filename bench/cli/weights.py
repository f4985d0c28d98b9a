"""``bench weights list | fetch NAME | import NAME PATH``."""

from __future__ import annotations

from pathlib import Path

import click

from bench.cli.options import dir_option
from bench.embedders import catalog, weights as core
from bench.util import tables

_DIR = dir_option("weights")


@click.group()
def weights() -> None:
    """List, fetch and import the official weights of the embedders."""


@weights.command("list")
@_DIR
@click.option("--json", "as_json", is_flag=True, help="Print JSON rows instead of a table.")
def list_(weights_dir: Path | None, as_json: bool) -> None:
    """Every embedder with weights: dims, sample rate, file, source, presence, sha256."""
    import json

    rows = catalog.weights_rows(weights_dir)
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in rows], indent=2))
        return
    click.echo(f"weights directory: {core.weights_dir(weights_dir)}")
    table = [(r.name, r.dim, r.sample_rate, r.file,
              "yes" + ("" if r.official is not False else " (unofficial)") if r.present
              else "no", (r.sha256 or "-")[:16]) for r in rows]
    click.echo(tables.text(("name", "dim", "sr", "file", "present", "sha256"), table,
                           align="lrrlll"))
    sources = dict.fromkeys((r.file, r.url) for r in rows)
    click.echo("\nsources:")
    for file, url in sources:
        click.echo(f"  {file}: {url}")


@weights.command()
@click.argument("name")
@_DIR
@click.option("--version", default=None,
              help="Release where there are several (OpenL3: v0_4_0, the default, or v0_2_0).")
@click.option("--mirror", default=None, metavar="URL",
              help="Base URL of a mirror holding the files under their published names "
                   "(also $BENCH_WEIGHTS_MIRROR).")
def fetch(name: str, weights_dir: Path | None, version: str | None, mirror: str | None) -> None:
    """Download the weights embedder NAME needs (checked; resumes)."""
    row = catalog.needing_weights(name)
    for r in core.fetch(row, weights_dir, version=version, mirror=mirror):
        click.echo(f"{r.entry.filename}: {r.path} (sha256 {r.sha256})")


@weights.command("import")
@click.argument("name")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_DIR
@click.option("--force", is_flag=True,
              help="Accept a file whose checksum differs from the published one (its sha256 is "
                   "recorded with every result).")
def import_(name: str, path: Path, weights_dir: Path | None, force: bool) -> None:
    """Install a copy of a weights file you have (checked) for embedder NAME."""
    row = catalog.needing_weights(name)
    r = core.import_weights(row, path, weights_dir, force=force)
    note = {True: "official", False: "NOT the official file", None: "structure checked"}
    click.echo(f"{r.entry.filename}: {r.path} (sha256 {r.sha256}; {note[r.official]})")

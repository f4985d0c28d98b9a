"""`bench cache list | verify | clear`."""

from __future__ import annotations

from pathlib import Path

import click

from bench.cli.options import dir_option
from bench.errors import ConfigError
from bench.store.store import EmbeddingStore
from bench.util.paths import default_dir

CACHE_DIR = dir_option("embeddings")


def _store(cache_dir: Path | None):
    return EmbeddingStore(cache_dir or default_dir("embeddings"))


@click.group()
def cache() -> None:
    """The embedding store: what is in it, check it, empty it."""


@cache.command("list")
@CACHE_DIR
def list_(cache_dir: Path | None) -> None:
    """One line per embedder configuration: key, embedder, clips, size."""
    store = _store(cache_dir)
    rows = store.namespaces()
    click.echo(f"store: {store.base}")
    if not rows:
        click.echo("(empty)")
        return
    click.echo(f"{'namespace':<14} {'embedder':<24} {'clips':>7} {'size':>10}")
    for r in rows:
        click.echo(f"{r['namespace'][:12]:<14} {r['embedder']:<24} {r['entries']:>7} "
                   f"{r['bytes'] / 2**20:>8.1f} MB")


@cache.command()
@CACHE_DIR
@click.option("--no-repair", is_flag=True, help="Only report; remove nothing.")
@click.option("--deep", is_flag=True,
              help="Also read every remembered audio file again: finds a file edited in place "
                   "with its size and mtime kept (slow: all the audio is read).")
@click.option("--no-audio", is_flag=True, help="Do not check the audio files at all.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def verify(cache_dir: Path | None, no_repair: bool, deep: bool, no_audio: bool,
           quiet: bool) -> None:
    """Check every stored embedding against its sha256, and every audio file this host
    remembers against its size and mtime (with --deep: its bytes); remove what is damaged or
    stale so the next run recomputes it. Exit 1 if anything was wrong."""
    if deep and no_audio:
        raise ConfigError("--deep reads the audio files again and --no-audio skips them: give "
                          "one of the two")
    store = _store(cache_dir)
    res = store.verify(rehash_audio=deep, check_audio=not no_audio, repair=not no_repair,
                       progress=not quiet)
    how = "re-hashed" if res.audio_rehashed else "checked by size and mtime"
    click.echo(f"{res.entries_checked} entries checked: {len(res.entries_damaged)} damaged; "
               f"{res.audio_checked} audio files {how}: "
               f"{len(res.audio_changed)} changed or gone; {res.orphans_removed} stray files removed")
    for p in res.entries_damaged:
        click.echo(f"  damaged: {p}")
    for p in res.audio_changed:
        click.echo(f"  audio changed: {p}")
    if not res.ok:
        click.echo("removed; the next run recomputes them" if not no_repair
                   else "run without --no-repair to remove them")
        raise SystemExit(1)


@cache.command()
@CACHE_DIR
@click.option("--namespace", default=None, help="Only this namespace (key or unique prefix).")
@click.option("--yes", is_flag=True, help="Do not ask.")
def clear(cache_dir: Path | None, namespace: str | None, yes: bool) -> None:
    """Delete stored embeddings (all, or one namespace)."""
    store = _store(cache_dir)
    what = f"namespace {namespace}" if namespace else f"every embedding in {store.base}"
    if not yes:
        click.confirm(f"delete {what}?", abort=True)
    n = store.clear(namespace)
    click.echo(f"removed {n} entries")

"""Making an embedder's weights files ready to load: found, fetched on first use, or given.

This is what an embedder's ``prepare()`` calls. When a file cannot be had, one
:class:`~bench.errors.WeightsError` says which file, from where, with which sha256, and the
command that installs a copy.
"""

from __future__ import annotations

from pathlib import Path

from bench.embedders.weights.fetcher import fetch_one, first_present, slots_of
from bench.embedders.weights.files import NeedsWeights, Resolved, WeightsFile
from bench.embedders.weights.copies import gunzip, locate, missing_error, resolved
from bench.embedders.weights.records import explicit_record, sha256_of, weights_dir
from bench.errors import DownloadError, WeightsError


def resolve(embedder: NeedsWeights, directory: Path | None = None, *, download: bool = True,
            explicit: dict[str, Path | None] | None = None, progress: bool = True
            ) -> dict[str, Resolved]:
    """Find (or fetch) every file an embedder needs.

    Parameters
    ----------
    embedder : NeedsWeights
        Its name and files (an embedder family's table row).
    directory : Path, optional
        Weights directory (default :func:`~bench.embedders.weights.records.weights_dir`).
    download : bool
        Fetch a missing file where the network allows.
    explicit : dict, optional
        slot -> path of a file to use instead of looking in the directory.
    progress : bool
        Show download progress.

    Returns
    -------
    dict
        slot -> :class:`~bench.embedders.weights.files.Resolved`.

    Raises
    ------
    WeightsError
        When a file is missing and cannot be fetched; the message names the file, its URL and
        sha256 and the ``bench weights import`` command.
    """
    name = embedder.name
    directory = weights_dir(directory)
    explicit = explicit or {}
    out: dict[str, Resolved] = {}
    for slot, alternatives in slots_of(embedder).items():
        given = explicit.get(slot)
        if given is not None:
            out[slot] = _resolve_explicit(name, alternatives, Path(given), directory)
            continue
        found = first_present(alternatives, directory)
        if found is None:
            f = alternatives[0]
            if not download:
                raise missing_error(name, f, directory, "downloads are switched off")
            try:
                fetch_one(f, directory, progress=progress)
            except DownloadError as exc:
                raise missing_error(name, f, directory, str(exc.message)) from exc
            path = locate(f, directory)
            assert path is not None
            found = (f, path)
        out[slot] = resolved(*found)
    return out


def _resolve_explicit(name: str, alternatives: list[WeightsFile], path: Path,
                      directory: Path) -> Resolved:
    path = path.expanduser()
    if not path.is_file():
        raise WeightsError(f"weights file for {name} not found: {path}")
    # the entry is the preferred alternative: which release the file is does not matter here
    # (the embedder loads it next, checking its structure and any frontend layer)
    f = alternatives[0]
    # nothing is written next to a file we do not own: its sha256 record, and the file
    # decompressed from a .gz (named for the exact .gz it came from), go to the weights directory
    record = explicit_record(path, directory)
    if path.name.endswith(".gz"):
        digest = sha256_of(path, record=record)
        local = directory / f".explicit-{digest[:16]}-{path.name[:-3]}"
        directory.mkdir(parents=True, exist_ok=True)
        if not local.is_file():
            gunzip(path, local)
        return resolved(f, local)
    return resolved(f, path, record=record)

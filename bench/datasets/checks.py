"""Checks on a dataset's clip list: leakage between folds, and files present and readable.

One place for the guards every dataset shares, official or the user's own. The runner calls
:func:`check_leakage` before it evaluates anything; ``bench data verify`` calls both.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Iterable, Sequence

from bench.audio.decode import NO_SAMPLES, load, probe
from bench.datasets.clips import Clip, VerifyReport
from bench.errors import AudioError, DatasetError
from bench.util.progress import bar

#: at most this many examples are named in one message
EXAMPLES = 5


def check_leakage(clips: Iterable[Clip]) -> list[str]:
    """Refuse a clip listed in two folds; warn where one source recording spans folds.

    Parameters
    ----------
    clips : iterable of Clip
        The whole dataset.

    Returns
    -------
    list of str
        One warning per source recording whose clips lie in more than one fold (clips cut
        from one recording in the training and the test split inflate accuracy). Empty when
        there is none or no clip names its source.

    Raises
    ------
    DatasetError
        When one clip (the same id, or the same audio file) appears in two folds, or the same
        id twice.
    """
    by_id: dict[str, list[Clip]] = defaultdict(list)
    by_path: dict[Path, list[Clip]] = defaultdict(list)
    by_source: dict[str, list[Clip]] = defaultdict(list)
    for clip in clips:
        by_id[clip.id].append(clip)
        by_path[_key(clip.path)].append(clip)
        if clip.source not in (None, ""):
            by_source[str(clip.source)].append(clip)

    twice = [(cid, cs) for cid, cs in by_id.items() if len({c.fold for c in cs}) > 1]
    twice += [(str(p), cs) for p, cs in by_path.items()
              if len({c.fold for c in cs}) > 1 and len({c.id for c in cs}) > 1]
    if twice:
        lines = [f"{what} in folds {sorted({str(c.fold) for c in cs})}"
                 for what, cs in twice[:EXAMPLES]]
        more = f" and {len(twice) - EXAMPLES} more" if len(twice) > EXAMPLES else ""
        raise DatasetError(f"{len(twice)} clip(s) are listed in two folds, so they would be "
                           f"trained and tested on: {'; '.join(lines)}{more}",
                           hint="give every clip exactly one fold in the dataset's metadata")
    dupes = [cid for cid, cs in by_id.items() if len(cs) > 1]
    if dupes:
        raise DatasetError(f"{len(dupes)} clip id(s) are listed more than once: "
                           f"{', '.join(dupes[:EXAMPLES])}",
                           hint="list every clip once")

    warnings = []
    for path, cs in by_path.items():
        if len(cs) > 1 and len({c.fold for c in cs}) == 1:
            warnings.append(f"audio file {path} is listed {len(cs)} times in fold {cs[0].fold} "
                            f"(ids {', '.join(c.id for c in cs[:EXAMPLES])}); it counts "
                            "that many times")
    for source, cs in sorted(by_source.items()):
        folds = {c.fold for c in cs}
        if len(folds) < 2:
            continue
        labels = sorted({c.label for c in cs})
        same = ("with the same label" if len(labels) == 1
                else f"with labels {', '.join(labels)}")
        where = ", ".join(f"{c.id} (fold {c.fold})" for c in cs[:EXAMPLES])
        warnings.append(f"source recording {source} spans folds "
                        f"{sorted(str(f) for f in folds)} {same}: {where}")
    return warnings


def _key(path: Path) -> Path:
    # resolve() would touch the disk for every clip; normpath-level identity is enough here
    return Path(path).absolute()


def check_files(clips: Sequence[Clip], report: VerifyReport, *, deep: bool = False,
                progress: bool = True) -> VerifyReport:
    """Add every missing or unreadable audio file of ``clips`` to ``report``.

    Parameters
    ----------
    clips : sequence of Clip
        What to check.
    report : VerifyReport
        Filled in place (``checked``, ``missing``, ``damaged``) and returned.
    deep : bool
        Decode every file completely; otherwise read its header and check its structure
        (which finds truncated WAV files without reading the samples).
    progress : bool
        Show a bar.
    """
    for clip in bar(clips, total=len(clips), desc=f"verify {report.dataset}", unit="file",
                    enabled_=progress):
        report.checked += 1
        if not clip.path.is_file():
            report.missing.append(str(clip.path))
            continue
        try:
            if deep:
                load(clip.path)  # refuses a file without samples itself
            elif probe(clip.path).frames == 0:
                raise AudioError(f"audio file {clip.path} {NO_SAMPLES}", reason=NO_SAMPLES)
        except AudioError as exc:
            report.damaged.append((str(clip.path), exc.reason))  # the report names the file
    return report


def leakage_into_report(clips: Sequence[Clip], report: VerifyReport) -> VerifyReport:
    """Run :func:`check_leakage` and record its outcome in ``report`` (an error as damage)."""
    try:
        report.notes.extend(check_leakage(clips))
    except DatasetError as exc:
        report.damaged.append(("(metadata)", exc.message))
    return report

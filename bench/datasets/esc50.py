"""ESC-50: 2000 environmental recordings, 50 classes x 40, five official folds of 400.

Piczak, "ESC: Dataset for Environmental Sound Classification", ACM MM 2015. Clips are 5 s,
44.1 kHz mono 16-bit WAV named ``{fold}-{src}-{take}-{target}.wav`` under ``audio/``; the
metadata ``meta/esc50.csv`` has the columns ``filename,fold,target,category,esc10,src_file,take``.

The release is a GitHub repository whose zip archive GitHub rebuilds on request, so the archive
has no stable checksum; the metadata file is checked instead (md5 below). A copy is found as
``<data_dir>/ESC-50-master`` (the archive's folder), ``<data_dir>/ESC-50`` (a git checkout), or
``data_dir`` itself.
"""

from __future__ import annotations

from pathlib import Path

from bench.datasets.base import Clip
from bench.datasets.official import OfficialDataset, Package, parse_int, read_csv_rows
from bench.download import Remote
from bench.errors import DatasetError

META = "meta/esc50.csv"
META_MD5 = "54a0d0055a10bb7df84ad340a148722e"
COLUMNS = ("filename", "fold", "target", "category", "esc10", "src_file", "take")
N_FOLDS = 5


class ESC50(OfficialDataset):
    """ESC-50 with its five official folds; the label is the ``category`` column.

    ``Clip.source`` is the ``src_file`` column (the Freesound recording a clip was cut from),
    so that a recording whose clips fall into two folds is reported.
    """

    name = "esc50"
    title = "ESC-50"
    version = f"master (meta/esc50.csv md5 {META_MD5})"
    homepage = "https://github.com/karolpiczak/ESC-50"
    default_repeats = 5
    n_clips = 2000
    n_classes = 50
    download_bytes = 600 * 1024 * 1024  # approximate: GitHub rebuilds the archive
    folders = ("ESC-50-master", "ESC-50", "esc50", "ESC50")
    download_folder = "ESC-50-master"
    required = (META, "audio")
    file_md5 = {META: META_MD5}
    packages = (
        Package(Remote("https://github.com/karolpiczak/ESC-50/archive/master.zip",
                       "ESC-50-master.zip"), expect=("ESC-50-master",)),
    )

    def read_clips(self, root: Path) -> list[Clip]:
        meta = root / META
        clips = []
        for line, row in enumerate(read_csv_rows(meta, COLUMNS), start=2):
            fold = parse_int(row["fold"], "fold", meta, line)
            if not 1 <= fold <= N_FOLDS:
                raise DatasetError(f"{meta}, line {line}: fold must be 1..{N_FOLDS}, found {fold}",
                                   hint="this metadata file is damaged; replace it")
            name, label = row["filename"], row["category"]
            if not name or not label:
                raise DatasetError(f"{meta}, line {line}: empty filename or category",
                                   hint="this metadata file is damaged; replace it")
            clips.append(Clip(id=name, path=root / "audio" / name, label=label, fold=fold,
                              source=row["src_file"] or None))
        return sorted(clips, key=lambda c: (c.fold, c.id))

    def hand_layout(self) -> str:
        return (f"{self.data_dir / 'ESC-50-master'}/ (or a git checkout named ESC-50/) holding "
                "meta/esc50.csv and audio/*.wav")

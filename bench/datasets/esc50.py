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
from bench.datasets.meta import DatasetMeta
from bench.datasets.official import OfficialDataset, Package, read_fold_table
from bench.io.download import Remote

META = "meta/esc50.csv"
META_MD5 = "54a0d0055a10bb7df84ad340a148722e"
COLUMNS = ("filename", "fold", "target", "category", "esc10", "src_file", "take")
N_FOLDS = 5

DATASET_META = DatasetMeta(
    name="esc50", target="bench.datasets.esc50:ESC50",
    summary="ESC-50: 2000 clips of 5 s, 50 classes, 5 official folds", title="ESC-50",
    spellings=("ESC-50",), n_splits=N_FOLDS, default_repeats=5, n_clips=2000, n_classes=50,
    clip_s=5.0, size_note="ESC-50: 2000 clips of 5 s", paper=True, plot_order=1)


class ESC50(OfficialDataset):
    """ESC-50 with its five official folds; the label is the ``category`` column.

    ``Clip.source`` is the ``src_file`` column (the Freesound recording a clip was cut from),
    so that a recording whose clips fall into two folds is reported.
    """

    meta = DATASET_META
    version = f"master (meta/esc50.csv md5 {META_MD5})"
    homepage = "https://github.com/karolpiczak/ESC-50"
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
        return read_fold_table(root / META, COLUMNS, name="filename", label="category",
                               source="src_file", n_folds=N_FOLDS,
                               path_of=lambda fold, name: root / "audio" / name)

    def hand_layout(self) -> str:
        return (f"{self.data_dir / 'ESC-50-master'}/ (or a git checkout named ESC-50/) holding "
                "meta/esc50.csv and audio/*.wav")

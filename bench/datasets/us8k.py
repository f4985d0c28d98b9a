"""UrbanSound8K: 8732 urban sound excerpts (up to 4 s), 10 classes, ten official folds.

Salamon, Jacoby & Bello, "A Dataset and Taxonomy for Urban Sound Research", ACM MM 2014.
``UrbanSound8K/audio/fold1..fold10/*.wav`` and ``metadata/UrbanSound8K.csv`` with the columns
``slice_file_name,fsID,start,end,salience,fold,classID,class``. The files vary: many sample
rates, 8/16/24-bit PCM and float, WAVE_FORMAT_EXTENSIBLE headers, mono and stereo,
1399 clips shorter than 4 s (the shortest 0.055 s); :mod:`bench.audio.decode` reads them all.

The archive on Zenodo is stable and checked by its md5. A copy is found as
``<data_dir>/UrbanSound8K`` or ``data_dir`` itself.
"""

from __future__ import annotations

from pathlib import Path

from bench.datasets.base import Clip
from bench.datasets.meta import DatasetMeta
from bench.datasets.official import OfficialDataset, Package, read_fold_table
from bench.io.download import Remote

META = "metadata/UrbanSound8K.csv"
COLUMNS = ("slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class")
ARCHIVE_MD5 = "9aa69802bbf37fb986f71ec1483a196e"
N_FOLDS = 10

DATASET_META = DatasetMeta(
    name="us8k", target="bench.datasets.us8k:UrbanSound8K",
    summary="UrbanSound8K: 8732 clips up to 4 s, 10 classes, 10 official folds",
    title="UrbanSound8K", aliases=("urbansound8k",), spellings=("UrbanSound", "Urban8K"),
    n_splits=N_FOLDS, default_repeats=2, n_clips=8732, n_classes=10, clip_s=4.0,
    size_note="UrbanSound8K: 8732 clips of at most 4 s (1399 shorter), counted as 4 s: "
              "an upper bound", paper=True, plot_order=0)


class UrbanSound8K(OfficialDataset):
    """UrbanSound8K with its ten official folds; the label is the ``class`` column.

    ``Clip.source`` is the ``fsID`` column (the Freesound recording a slice was cut from). The
    official folds keep the slices of one recording together; where they do not, the leakage
    check says so.
    """

    meta = DATASET_META
    version = f"1.0 (zenodo 1203745, archive md5 {ARCHIVE_MD5})"
    homepage = "https://urbansounddataset.weebly.com/urbansound8k.html"
    download_bytes = 6_000_000_000  # about 5.6 GiB; the md5 is what is checked
    folders = ("UrbanSound8K", "urbansound8k", "us8k")
    download_folder = "UrbanSound8K"
    required = (META, "audio")
    packages = (
        Package(Remote("https://zenodo.org/record/1203745/files/UrbanSound8K.tar.gz",
                       "UrbanSound8K.tar.gz", md5=ARCHIVE_MD5), expect=("UrbanSound8K",)),
    )

    def read_clips(self, root: Path) -> list[Clip]:
        return read_fold_table(root / META, COLUMNS, name="slice_file_name", label="class",
                               source="fsID", n_folds=N_FOLDS,
                               path_of=lambda fold, name: root / "audio" / f"fold{fold}" / name)

    def hand_layout(self) -> str:
        return (f"{self.data_dir / 'UrbanSound8K'}/ holding metadata/UrbanSound8K.csv and "
                "audio/fold1..fold10/*.wav")

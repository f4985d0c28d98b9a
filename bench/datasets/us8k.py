"""UrbanSound8K: 8732 urban sound excerpts (up to 4 s), 10 classes, ten official folds.

Salamon, Jacoby & Bello, "A Dataset and Taxonomy for Urban Sound Research", ACM MM 2014.
``UrbanSound8K/audio/fold1..fold10/*.wav`` and ``metadata/UrbanSound8K.csv`` with the columns
``slice_file_name,fsID,start,end,salience,fold,classID,class``. The files vary: many sample
rates, 8/16/24-bit PCM and float, WAVE_FORMAT_EXTENSIBLE headers, mono and stereo,
1399 clips shorter than 4 s (the shortest 0.055 s); :mod:`bench.audio` reads them all.

The archive on Zenodo is stable and checked by its md5. A copy is found as
``<data_dir>/UrbanSound8K`` or ``data_dir`` itself.
"""

from __future__ import annotations

from pathlib import Path

from bench.datasets.base import Clip
from bench.datasets.official import OfficialDataset, Package, parse_int, read_csv_rows
from bench.download import Remote
from bench.errors import DatasetError

META = "metadata/UrbanSound8K.csv"
COLUMNS = ("slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class")
ARCHIVE_MD5 = "9aa69802bbf37fb986f71ec1483a196e"
N_FOLDS = 10


class UrbanSound8K(OfficialDataset):
    """UrbanSound8K with its ten official folds; the label is the ``class`` column.

    ``Clip.source`` is the ``fsID`` column (the Freesound recording a slice was cut from). The
    official folds keep the slices of one recording together; where they do not, the leakage
    check says so.
    """

    name = "us8k"
    title = "UrbanSound8K"
    version = f"1.0 (zenodo 1203745, archive md5 {ARCHIVE_MD5})"
    homepage = "https://urbansounddataset.weebly.com/urbansound8k.html"
    default_repeats = 2
    n_clips = 8732
    n_classes = 10
    download_bytes = 6_000_000_000  # about 5.6 GiB; the md5 is what is checked
    folders = ("UrbanSound8K", "urbansound8k", "us8k")
    download_folder = "UrbanSound8K"
    required = (META, "audio")
    packages = (
        Package(Remote("https://zenodo.org/record/1203745/files/UrbanSound8K.tar.gz",
                       "UrbanSound8K.tar.gz", md5=ARCHIVE_MD5), expect=("UrbanSound8K",)),
    )

    def read_clips(self, root: Path) -> list[Clip]:
        meta = root / META
        clips = []
        for line, row in enumerate(read_csv_rows(meta, COLUMNS), start=2):
            fold = parse_int(row["fold"], "fold", meta, line)
            if not 1 <= fold <= N_FOLDS:
                raise DatasetError(f"{meta}, line {line}: fold must be 1..{N_FOLDS}, found {fold}",
                                   hint="this metadata file is damaged; replace it")
            name, label = row["slice_file_name"], row["class"]
            if not name or not label:
                raise DatasetError(f"{meta}, line {line}: empty slice_file_name or class",
                                   hint="this metadata file is damaged; replace it")
            clips.append(Clip(id=name, path=root / "audio" / f"fold{fold}" / name, label=label,
                              fold=fold, source=row["fsID"] or None))
        return sorted(clips, key=lambda c: (c.fold, c.id))

    def hand_layout(self) -> str:
        return (f"{self.data_dir / 'UrbanSound8K'}/ holding metadata/UrbanSound8K.csv and "
                "audio/fold1..fold10/*.wav")

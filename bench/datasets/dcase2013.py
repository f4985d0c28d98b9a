"""DCASE 2013 acoustic scene classification: train on the development set, test on the evaluation set.

Giannoulis, Benetos, Stowell, Rossignol, Lagrange & Plumbley, IEEE AASP Challenge 2013. Two sets
of 100 recordings (10 classes x 10), 30 s, stereo, 44.1 kHz, 16-bit: the public development set
``scenes_stereo/`` and the private evaluation set ``scenes_stereo_testset/``. Files are named
``<class><NN>.wav`` and the label is the name without its two digits.

The evaluation set's item also carries ``dcase2013_task1_filenamekey.csv``, the key between the
file names used during the challenge and the recordings. What is known of its format (from code
that reads it): comma-separated, a header line, one row per evaluation recording, four columns,
the first a fold (``fold1``..``fold5``, the challenge's own cross-validation) and the fourth a
file name. The column order is not relied upon: a row's label is the cell that is a class name,
or else the class in a ``<class><NN>.wav`` cell, and every ``.wav`` cell of the row is a name
the recording may carry. The key is consulted only for evaluation files whose name does not
carry a class.

A copy is found as ``<data_dir>/scenes_stereo`` + ``<data_dir>/scenes_stereo_testset`` (also
inside ``<data_dir>/dcase2013/``); the key file next to them or inside the evaluation folder.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from bench.datasets.base import Clip
from bench.datasets.meta import DatasetMeta
from bench.datasets.official import OfficialDataset, Package
from bench.io.download import Remote
from bench.errors import DatasetError

CLASSES = ("bus", "busystreet", "office", "openairmarket", "park", "quietstreet", "restaurant",
           "supermarket", "tube", "tubestation")
DEV, EVAL = "scenes_stereo", "scenes_stereo_testset"
KEY = "dcase2013_task1_filenamekey.csv"
_NAMED = re.compile(r"^([a-z]+)(\d{2})\.wav$", re.IGNORECASE)
_ITEM = "https://archive.org/download/dcase2013_scene_classification"

DATASET_META = DatasetMeta(
    name="dcase2013", target="bench.datasets.dcase2013:DCASE2013",
    summary="DCASE 2013 scenes: 10 classes, train = development set, test = evaluation set",
    title="DCASE 2013 scene classification", short_title="DCASE 2013 SCD",
    spellings=("DCASE2013-SCD", "DCASE 2013", "dcase2013_task1", "DCASE2013 scenes"),
    n_splits=1, default_repeats=1, n_clips=200, n_classes=len(CLASSES), clip_s=30.0,
    size_note="DCASE 2013 SCD: 100 + 100 clips of 30 s", paper=True, plot_order=2)


def label_from_name(name: str) -> str | None:
    """``'busystreet07.wav'`` -> ``'busystreet'``; ``None`` when the name carries no class."""
    m = _NAMED.match(name)
    if m and m.group(1).lower() in CLASSES:
        return m.group(1).lower()
    return None


def _as_class(cell: str) -> str | None:
    norm = re.sub(r"[\s_\-/]", "", cell.strip().lower())
    return norm if norm in CLASSES else None


def read_key(path: Path) -> dict[str, str]:
    """File name (lower case, with and without ``.wav``) -> class, from the filename key."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = [r for r in csv.reader(fh) if any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"cannot read the DCASE 2013 filename key {path}: {exc}",
                           hint="download it again: bench data download dcase2013 --force") from exc
    key: dict[str, str] = {}
    for row in rows:
        cells = [c.strip() for c in row]
        label = next((c for c in map(_as_class, cells) if c), None)
        label = label or next((c for c in map(label_from_name, cells) if c), None)
        if label is None:
            continue  # the header line, or a row without a recognisable class
        for cell in cells:
            base = Path(cell.replace("\\", "/")).name.lower()
            if base.endswith(".wav"):
                key[base] = label
                key[base[:-4]] = label
    if not key:
        raise DatasetError(f"the DCASE 2013 filename key {path} maps no file to a class",
                           hint="this is not the official key file; download it again")
    return key


class DCASE2013(OfficialDataset):
    """DCASE 2013 scenes with the official split: one train/test split, one trial."""

    meta = DATASET_META
    version = "2013 (development + evaluation set)"
    homepage = "https://dcase.community/challenge2013/task-acoustic-scene-classification"
    fixed_split = True
    download_bytes = 361_748_263 + 371_994_727 + 8_572
    folders = ("dcase2013", "DCASE2013")
    required = (DEV, EVAL)
    packages = (
        Package(Remote(f"{_ITEM}/scenes_stereo.zip", "scenes_stereo.zip", size=361_748_263,
                       md5="abdefde136d84de33b0f20a0f13a6b97"), wrap=DEV),
        Package(Remote(f"{_ITEM}_testset/scenes_stereo_testset.zip", "scenes_stereo_testset.zip",
                       size=371_994_727), wrap=EVAL),
        Package(Remote(f"{_ITEM}_testset/{KEY}", KEY, size=8_572), unpack=False),
    )

    def read_clips(self, root: Path) -> list[Clip]:
        clips, key, key_path = [], None, None
        for folder, fold in ((DEV, "train"), (EVAL, "test")):
            audio = _audio_dir(root / folder)
            for path in sorted(audio.iterdir()):
                if path.suffix.lower() != ".wav" or path.name.startswith("._"):
                    continue
                label = label_from_name(path.name)
                if label is None and fold == "test":
                    if key is None:
                        key_path = self.key_path(root)
                        key = read_key(key_path)
                    label = key.get(path.name.lower()) or key.get(path.stem.lower())
                if label is None:
                    where = f" nor in the key {key_path}" if fold == "test" else ""
                    raise DatasetError(
                        f"{path}: the name carries no class (expected <class><NN>.wav with a "
                        f"class among {', '.join(CLASSES)}){where}",
                        hint="restore the official file names, or remove files that do not "
                             "belong to the dataset")
                clips.append(Clip(id=f"{folder}/{path.name}", path=path, label=label, fold=fold))
        return clips

    def key_path(self, root: Path) -> Path:
        """Where the filename key is: next to the two folders, or inside the evaluation one."""
        for where in (root / KEY, root / EVAL / KEY, self.data_dir / KEY):
            if where.is_file():
                return where
        raise DatasetError(
            f"some files in {root / EVAL} are not named <class><NN>.wav, and the key "
            f"{KEY} that gives their classes is not at {root / KEY}",
            hint=f"download it ({self.packages[2].remote.url}) and place it at {root / KEY}")

    def extracted_folders(self, root: Path) -> list[Path]:
        return [root / DEV, root / EVAL]

    def hand_layout(self) -> str:
        return (f"{self.data_dir / DEV}/ and {self.data_dir / EVAL}/ holding the .wav files, "
                f"and {self.data_dir / KEY}")


def _audio_dir(folder: Path) -> Path:
    # some copies were unpacked into a folder of the same name: scenes_stereo/scenes_stereo
    nested = folder / folder.name
    if nested.is_dir() and not any(p.suffix.lower() == ".wav" for p in folder.iterdir()):
        return nested
    return folder

"""The datasets' facts table (bench.datasets.meta): what the registry, the name normaliser, the
cost estimate, the paper preset and the figures read, checked against the datasets themselves
(miniature replicas of the official layouts) and against the spellings bench accepted before."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from bench.datasets import REGISTRY, create, meta
from bench.datasets.catalog import downloadable
from bench.datasets.names import dataset_key, training_overlap
from bench.studies.estimate import dataset_size
from bench.studies.study import PAPER_DATASETS
from datasets_fixtures import accept_esc50_meta, make_dcase2013, make_esc50, make_us8k


def test_the_registry_is_the_table_in_its_old_order():
    assert REGISTRY.names()[:7] == ["synth", "synth-mini", "synth-large", "esc50", "us8k",
                                    "urbansound8k", "dcase2013"]
    assert REGISTRY.entry("urbansound8k").summary == "alias of us8k"
    assert REGISTRY.entry("synth-mini").kwargs == {"clips_per_class": 10,
                                                  "dataset_name": "synth-mini"}
    assert downloadable() == ["esc50", "us8k", "dcase2013"]


def test_every_row_lives_in_the_file_of_its_class():
    # a new dataset is one file: its class and its row side by side, found without a list
    for row in meta.rows():
        module = importlib.import_module(row.target.partition(":")[0])
        declared = module.DATASET_META
        assert row in (declared if isinstance(declared, tuple) else (declared,)), row.name


@pytest.mark.parametrize("written, key", [
    ("esc50", "esc50"), ("ESC-50", "esc50"), ("esc-50", "esc50"),
    ("us8k", "us8k"), ("UrbanSound8K", "us8k"), ("urbansound", "us8k"), ("Urban8K", "us8k"),
    ("dcase2013", "dcase2013"), ("DCASE2013-SCD", "dcase2013"), ("dcase-2013", "dcase2013"),
    ("dcase2013_scd", "dcase2013"), ("dcase2013task1", "dcase2013"),
    ("DCASE 2013 scenes", "dcase2013"),
    ("synth-mini", "synth-mini"), ("Synth_Mini", "synth-mini"),
    ("My Birds", "mybirds"), ("my-birds", "mybirds"),
])
def test_one_normaliser_for_every_spelling(written, key):
    # the union of what analysis.check.dataset_key and datasets.names.fold accepted before
    assert dataset_key(written) == key


def test_training_overlap_reads_the_same_normaliser():
    assert training_overlap(["AudioSet", "UrbanSound"], ["urbansound8k", "us8k"]) == ["UrbanSound"]
    assert training_overlap(["ESC-50"], ["us8k"]) == []


@pytest.mark.parametrize("name, make", [("esc50", make_esc50), ("us8k", make_us8k),
                                        ("dcase2013", make_dcase2013)])
def test_rows_agree_with_the_datasets(tmp_path, monkeypatch, name, make):
    row = meta.get(name)
    root = make(tmp_path)
    if name == "esc50":
        accept_esc50_meta(monkeypatch, root)
    ds = create(name, data_dir=tmp_path, download=False)
    ds.prepare(progress=False)
    # the replicas keep the official splits (and fewer clips): the row's split count is theirs
    assert len(ds.splits()) == row.n_splits
    assert (ds.name, ds.title, ds.default_repeats) == (row.name, row.title, row.default_repeats)
    assert (ds.n_clips, ds.n_classes) == (row.n_clips, row.n_classes)


def test_the_estimate_counts_from_the_table_before_the_files_exist(tmp_path):
    size = dataset_size("urbansound8k", tmp_path)  # an alias finds the row
    assert (size.n_clips, size.durations, size.n_splits, size.default_repeats) == \
        (8732, [4.0], 10, 2)
    assert dataset_size("dcase2013", tmp_path).n_clips == 200
    assert dataset_size("esc50", tmp_path).durations == [5.0]


def test_the_paper_and_its_figures_read_the_table():
    assert PAPER_DATASETS == ("esc50", "us8k", "dcase2013")
    # the paper's figures: UrbanSound8K, ESC-50, DCASE 2013; the others after, by name
    assert sorted(["synth", "dcase2013", "esc50", "us8k", "a-plugin"], key=meta.plot_sort_key) \
        == ["us8k", "esc50", "dcase2013", "a-plugin", "synth"]
    assert [meta.get(n).label for n in ("us8k", "esc50", "dcase2013", "synth-mini")] == \
        ["UrbanSound8K", "ESC-50", "DCASE 2013 SCD", "synth-mini"]
    assert meta.find("urbansound8k") is meta.get("us8k") and meta.find("nope") is None

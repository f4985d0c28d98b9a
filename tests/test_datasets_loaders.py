"""ESC-50, UrbanSound8K and DCASE 2013 on miniature replicas of their official layouts: located
where a user puts them, the right clips, labels, folds and splits; checksums of metadata; verify
finds missing and truncated files; leakage checks; CSV manifests."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench.audio.decode import load
from bench.cli import main
from bench.datasets import create
from bench.datasets.base import Clip, Split
from bench.datasets.checks import check_leakage
from bench.datasets.esc50 import ESC50, META
from bench.errors import DatasetError
from datasets_fixtures import (DCASE_ANON, US8K_FORMATS, accept_esc50_meta, make_dcase2013,
                               make_esc50, make_us8k, md5, truncate)


# -- ESC-50 --------------------------------------------------------------------------------------

def test_esc50_clips_labels_folds_and_sources(tmp_path, monkeypatch):
    root = make_esc50(tmp_path)
    accept_esc50_meta(monkeypatch, root)
    ds = create("esc50", data_dir=tmp_path, download=False)
    ds.prepare(progress=False)
    clips = ds.clips()
    assert len(clips) == 20 and ds.root == root
    assert ds.classes == ("dog", "rain")
    assert ds.folds() == [1, 2, 3, 4, 5]
    assert [s.test_fold for s in ds.splits()] == [1, 2, 3, 4, 5]
    assert ds.splits()[0] == Split(1, (2, 3, 4, 5))
    assert ds.default_repeats == 5
    by_id = {c.id: c for c in clips}
    # the file name carries {fold}-{src}-{take}-{target}; the loader takes the csv's columns
    c = by_id["3-100311-A-10.wav"]
    assert (c.fold, c.label, c.source) == (3, "rain", "100311")
    assert c.path == root / "audio" / "3-100311-A-10.wav" and c.path.is_file()
    for clip in clips:  # the name's fold and target agree with the columns
        fold, _, _, target = clip.id[:-4].split("-")
        assert int(fold) == clip.fold and {"0": "dog", "10": "rain"}[target] == clip.label
    warnings = check_leakage(clips)
    assert len(warnings) == 1 and "900001" in warnings[0] and "dog, rain" in warnings[0]


@pytest.mark.parametrize("layout", ["parent", "straight", "checkout", "nested"])
def test_esc50_is_found_where_users_put_it(tmp_path, monkeypatch, layout):
    if layout == "parent":
        root = make_esc50(tmp_path)
        data_dir = tmp_path
    elif layout == "straight":  # --data-dir pointing at the dataset's own folder
        root = make_esc50(tmp_path, folder="my-copy")
        data_dir = root
    elif layout == "checkout":  # `git clone` names the folder ESC-50
        root = make_esc50(tmp_path, folder="ESC-50")
        data_dir = tmp_path
    else:
        root = make_esc50(tmp_path / "ESC-50-master")
        data_dir = tmp_path
    accept_esc50_meta(monkeypatch, root)
    ds = create("esc50", data_dir=data_dir, download=False)
    ds.prepare(progress=False)
    assert ds.root == root and len(ds.clips()) == 20


def test_esc50_metadata_checksum(tmp_path, monkeypatch):
    root = make_esc50(tmp_path, crlf=True)
    ds = create("esc50", data_dir=tmp_path, download=False)
    # the replica is not the official file: refused, with both checksums named
    with pytest.raises(DatasetError) as err:
        ds.prepare(progress=False)
    assert "54a0d0055a10bb7df84ad340a148722e" in err.value.message and "md5" in err.value.message
    # a checkout with CRLF line ends has the official content: accepted
    lf = hashlib.md5((root / META).read_bytes().replace(b"\r\n", b"\n")).hexdigest()
    assert lf != md5(root / META)
    monkeypatch.setattr(ESC50, "file_md5", {META: lf})
    create("esc50", data_dir=tmp_path, download=False).prepare(progress=False)


def test_missing_dataset_says_how_to_get_it(tmp_path):
    for name, words in (("esc50", "ESC-50-master"), ("us8k", "UrbanSound8K"),
                        ("dcase2013", "scenes_stereo_testset")):
        ds = create(name, data_dir=tmp_path, download=False)
        with pytest.raises(DatasetError) as err:
            ds.prepare(progress=False)
        assert f"bench data download {name}" in err.value.hint and words in err.value.hint


# -- UrbanSound8K --------------------------------------------------------------------------------

def test_us8k_clips_folds_and_every_format_decodes(tmp_path):
    root = make_us8k(tmp_path)
    for name in ("us8k", "urbansound8k"):
        ds = create(name, data_dir=tmp_path, download=False)
        ds.prepare(progress=False)
        assert ds.root == root
    clips = ds.clips()
    assert len(clips) == 20 and ds.classes == ("dog_bark", "siren")
    assert ds.folds() == list(range(1, 11)) and len(ds.splits()) == 10
    assert ds.default_repeats == 2
    for i, clip in enumerate(sorted(clips, key=lambda c: (c.fold, c.label))):
        assert clip.path == root / "audio" / f"fold{clip.fold}" / clip.id
        subtype, _, ch, sr, sec = US8K_FORMATS[i % len(US8K_FORMATS)]
        y, got_sr = load(clip.path)
        assert got_sr == sr and len(y) == int(round(sec * sr)) and np.isfinite(y).all()
        assert 0.05 < np.abs(y).max() <= 0.5 + 1e-2
    warnings = check_leakage(clips)
    assert len(warnings) == 1 and "777" in warnings[0]


def test_us8k_nested_copy_and_straight_pointer(tmp_path):
    root = make_us8k(tmp_path / "UrbanSound8K")  # UrbanSound8K/UrbanSound8K
    assert create("us8k", data_dir=tmp_path, download=False).root == root
    assert create("us8k", data_dir=root, download=False).root == root


def test_us8k_damaged_metadata_names_line(tmp_path):
    root = make_us8k(tmp_path)
    meta = root / "metadata" / "UrbanSound8K.csv"
    lines = meta.read_text().splitlines()
    fields = lines[3].split(",")
    fields[5] = "x"  # the fold column
    lines[3] = ",".join(fields)
    meta.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=r"line 4: fold must be an integer"):
        create("us8k", data_dir=tmp_path, download=False).prepare(progress=False)
    meta.write_text("slice_file_name,fold,class\n")
    with pytest.raises(DatasetError, match=r"lacks column\(s\) \['fsID'"):
        create("us8k", data_dir=tmp_path, download=False).prepare(progress=False)


# -- DCASE 2013 ----------------------------------------------------------------------------------

@pytest.mark.parametrize("nested", [False, True])
def test_dcase2013_train_dev_test_eval_with_key(tmp_path, nested):
    make_dcase2013(tmp_path, nested=nested)
    ds = create("dcase2013", data_dir=tmp_path, download=False)
    ds.prepare(progress=False)
    clips = ds.clips()
    assert ds.splits() == [Split("test", ("train",))] and ds.folds() == ["train", "test"]
    assert ds.default_repeats == 1
    train = [c for c in clips if c.fold == "train"]
    test = [c for c in clips if c.fold == "test"]
    assert len(train) == 6 and len(test) == 4 and ds.classes == ("bus", "park")
    assert {c.id for c in train} == {f"scenes_stereo/{n}.wav" for n in
                                     ("bus01", "bus03", "bus05", "park01", "park03", "park05")}
    # bus02.wav exists in the evaluation set too: ids stay unique
    anon = next(c for c in test if c.path.name == DCASE_ANON["park02"])
    assert anon.label == "park"  # from the key: the name carries no class
    assert sorted(c.label for c in test) == ["bus", "bus", "park", "park"]
    assert check_leakage(clips) == []


def test_dcase2013_in_its_own_folder_and_missing_key(tmp_path):
    make_dcase2013(tmp_path / "dcase2013")
    ds = create("dcase2013", data_dir=tmp_path, download=False)
    assert ds.root == tmp_path / "dcase2013" and len(ds.clips()) == 10
    (tmp_path / "dcase2013" / "dcase2013_task1_filenamekey.csv").unlink()
    with pytest.raises(DatasetError) as err:
        create("dcase2013", data_dir=tmp_path, download=False).clips()
    assert "dcase2013_task1_filenamekey.csv" in err.value.message
    assert "archive.org" in err.value.hint


def test_dcase2013_unlabelled_dev_file_is_refused(tmp_path):
    make_dcase2013(tmp_path)
    (tmp_path / "scenes_stereo" / "mystery.wav").write_bytes(
        (tmp_path / "scenes_stereo" / "bus01.wav").read_bytes())
    with pytest.raises(DatasetError, match="mystery.wav: the name carries no class"):
        create("dcase2013", data_dir=tmp_path, download=False).clips()


# -- verify --------------------------------------------------------------------------------------

def test_verify_finds_missing_and_truncated_files(tmp_path, monkeypatch):
    root = make_esc50(tmp_path)
    accept_esc50_meta(monkeypatch, root)
    ok = create("esc50", data_dir=tmp_path, download=False).verify(progress=False)
    assert ok.ok and ok.checked == 20 and ok.missing == [] and ok.damaged == []
    gone = root / "audio" / "2-100211-A-10.wav"
    cut = root / "audio" / "4-100400-A-0.wav"
    gone.unlink()
    truncate(cut, 0.6)
    report = create("esc50", data_dir=tmp_path, download=False).verify(progress=False)
    assert not report.ok and report.missing == [str(gone)]
    assert [p for p, _ in report.damaged] == [str(cut)] and "truncated" in report.damaged[0][1]
    assert any("bench data download esc50 --force" in n for n in report.notes)

    result = CliRunner().invoke(main, ["data", "verify", "esc50", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert f"missing: {gone}" in result.output and f"damaged: {cut}" in result.output
    assert "NOT OK: 1 missing, 1 damaged" in result.output


@pytest.mark.parametrize("maker,name", [(make_us8k, "us8k"), (make_dcase2013, "dcase2013")])
def test_verify_other_datasets(tmp_path, maker, name):
    maker(tmp_path)
    result = CliRunner().invoke(main, ["data", "verify", name, "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.output.rstrip().endswith("ok")
    ds = create(name, data_dir=tmp_path, download=False)
    victim = ds.clips()[-1].path
    truncate(victim, 0.3)
    result = CliRunner().invoke(main, ["data", "verify", name, "--data-dir", str(tmp_path),
                                       "--deep"])
    assert result.exit_code == 1 and f"damaged: {victim}" in result.output


def test_verify_metadata_checksum_and_absent_copy(tmp_path):
    make_esc50(tmp_path)  # the replica's csv is not the official one
    report = create("esc50", data_dir=tmp_path, download=False).verify(progress=False)
    assert not report.ok and report.damaged[0][0].endswith("esc50.csv")
    empty = tmp_path / "empty"
    result = CliRunner().invoke(main, ["data", "verify", "us8k", "--data-dir", str(empty)])
    assert result.exit_code == 1 and "bench data download us8k" in result.output


# -- leakage -------------------------------------------------------------------------------------

def _clip(cid, fold, label="a", source=None, path=None):
    return Clip(cid, Path(path or f"/d/{cid}.wav"), label, fold, source)


def test_leakage_clip_in_two_folds_is_an_error():
    with pytest.raises(DatasetError, match=r"listed in two folds.*x in folds \['1', '2'\]"):
        check_leakage([_clip("x", 1), _clip("x", 2), _clip("y", 1)])
    # the same audio file under two ids in two folds is the same clip
    with pytest.raises(DatasetError, match="listed in two folds"):
        check_leakage([_clip("x", 1, path="/d/s.wav"), _clip("y", 2, path="/d/s.wav")])
    with pytest.raises(DatasetError, match="listed more than once"):
        check_leakage([_clip("x", 1), _clip("x", 1)])


def test_leakage_source_spanning_folds_is_a_warning():
    clips = [_clip("a1", 1, "dog", "s1"), _clip("a2", 2, "dog", "s1"),
             _clip("b1", 1, "cat", "s2"), _clip("b2", 1, "cat", "s2"),
             _clip("c1", 3, "cat", "s3"), _clip("c2", 4, "dog", "s3"), _clip("d", 5)]
    w = check_leakage(clips)
    assert len(w) == 2
    assert "s1" in w[0] and "same label" in w[0] and "a1 (fold 1)" in w[0]
    assert "s3" in w[1] and "cat, dog" in w[1]
    assert check_leakage([_clip("a", 1, source="s"), _clip("b", 1, source="s")]) == []


# -- manifests -----------------------------------------------------------------------------------

def _wavs(folder: Path, n: int) -> list[Path]:
    from datasets_fixtures import tone, write_wav

    return [write_wav(folder / f"clip{i}.wav", tone("low" if i % 2 else "noise", 0.3, 16000, i),
                      16000) for i in range(n)]


def test_manifest_relative_absolute_paths_and_named_folds(tmp_path):
    files = _wavs(tmp_path / "audio", 4)
    man = tmp_path / "lists" / "mine.csv"
    man.parent.mkdir()
    man.write_text("label,path,fold,source,extra\n"
                   "a,../audio/clip0.wav,north,r1,x\n"
                   f"b,{files[1]},north,,y\n"
                   "a,..\\audio\\clip2.wav,south,r1,\n"
                   "\n"
                   "b,../audio/clip3.wav,south,,\n")
    ds = create(str(man), data_dir=tmp_path, download=False)
    ds.prepare(progress=False)
    clips = ds.clips()
    assert [c.path.resolve() for c in clips] == [f.resolve() for f in files]
    assert [c.fold for c in clips] == ["north", "north", "south", "south"]
    assert ds.classes == ("a", "b") and ds.name == "mine"
    assert ds.splits() == [Split("north", ("south",)), Split("south", ("north",))]
    assert clips[0].id == "../audio/clip0.wav" and clips[2].id == "../audio/clip2.wav"
    assert "r1" in check_leakage(clips)[0]
    assert ds.describe()["manifest_sha256"] == hashlib.sha256(man.read_bytes()).hexdigest()


def test_manifest_integer_folds_semicolons_and_fixed_split(tmp_path):
    _wavs(tmp_path, 4)
    man = tmp_path / "m.csv"
    man.write_text("path;label;fold\nclip0.wav;a;1\nclip1.wav;b;1\nclip2.wav;a;2\nclip3.wav;b;10\n")
    ds = create(str(man), data_dir=tmp_path)
    assert ds.folds() == [1, 2, 10] and len(ds.splits()) == 3
    man2 = tmp_path / "s.csv"
    man2.write_text("path,label,split,fold\nclip0.wav,a,train,1\nclip1.wav,b,TRAIN,1\n"
                    "clip2.wav,a,test,2\nclip3.wav,b,test,2\n")
    ds2 = create(str(man2), data_dir=tmp_path)
    ds2.prepare(progress=False)
    assert ds2.splits() == [Split("test", ("train",))] and ds2.folds() == ["train", "test"]
    assert [c.fold for c in ds2.clips()] == ["train", "train", "test", "test"]
    assert any("fold column is not used" in n for n in ds2.verify(progress=False).notes)


@pytest.mark.parametrize("text,match", [
    ("path,fold\nclip0.wav,1\n", r"lacks column\(s\) \['label'\]"),
    ("path,label,split\nclip0.wav,a,train\nclip1.wav,b,dev\n", "line 3: split must be train or test"),
    ("path,label,fold\nclip0.wav,a,1\nclip1.wav,,2\n", "line 3: empty label"),
    ("path,label,fold\nclip0.wav,a,1,zzz\n", "line 2: 4 fields"),
    ("path,label,fold\nclip0.wav,a,1\nclip1.wav,a,2\n", "single class"),
    ("path,label,fold\nclip0.wav,a,1\nclip1.wav,b,1\n", "single fold"),
    ("path,label,fold\nnope0.wav,a,1\nnope1.wav,b,2\n", "none of the 2 files"),
    ("path,label,fold\nclip0.wav,a,1\nclip0.wav,b,2\n", None),
    ("", "is empty"),
])
def test_manifest_bad_input_is_explained(tmp_path, text, match):
    _wavs(tmp_path, 2)
    man = tmp_path / "m.csv"
    man.write_text(text)
    ds = create(str(man), data_dir=tmp_path)
    if match is None:  # one file in two folds: refused by the leakage guard
        ds.prepare(progress=False)
        with pytest.raises(DatasetError, match="listed in two folds"):
            check_leakage(ds.clips())
        return
    with pytest.raises(DatasetError, match=match):
        ds.prepare(progress=False)


def test_manifest_missing_file_and_verify(tmp_path):
    _wavs(tmp_path, 3)
    (tmp_path / "clip2.wav").unlink()
    man = tmp_path / "m.csv"
    man.write_text("path,label,fold\nclip0.wav,a,1\nclip1.wav,b,2\nclip2.wav,a,2\n")
    with pytest.raises(DatasetError, match="no manifest at"):
        create(str(tmp_path / "absent.csv"), data_dir=tmp_path).prepare(progress=False)
    result = CliRunner().invoke(main, ["data", "verify", str(man)])
    assert result.exit_code == 1 and f"missing: {tmp_path / 'clip2.wav'}" in result.output

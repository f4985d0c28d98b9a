"""Bad inputs get one line each: numeric options and study fields out of range, non-finite
numbers kept out of results.json, weights files named as the user gave them, a hostile VGGish
pickle refused without torch's 'weights_only=False' advice."""

from __future__ import annotations

import json
import os

import pytest
import torch
from click.testing import CliRunner
from embedder_fixtures import gzip_file, l3_arrays, write_keras_l3

from bench.cli import main
from bench.embedders import vggish_files, weights
from bench.embedders.catalog import needing_weights
from bench.errors import ConfigError, ResultsError, WeightsError
from bench.evaluation.selection import GridPoint
from bench.runs.record import write_json
from bench.studies.study import study_from_dict


@pytest.mark.parametrize("args, says", [
    (["--lr", "-1"], "learning rate (--lr) must be a finite number > 0 and <= 1, found -1"),
    (["--lr", "nan"], "learning rate (--lr) must be a finite number > 0 and <= 1, found nan"),
    (["--lr", "inf"], "learning rate (--lr) must be a finite number > 0 and <= 1, found inf"),
    (["--lr", "0"], "learning rate (--lr) must be"),
    (["--wd", "-1"], "weight decay (--wd) must be a finite number >= 0 and <= 1, found -1"),
    (["--wd", "nan"], "weight decay (--wd) must be"),
    (["--seed", "-1"], "seed must be an integer >= 0"),
])
def test_out_of_range_grid_and_seed_options_are_one_line_errors(tmp_path, args, says):
    out = tmp_path / "runs"
    res = CliRunner().invoke(main, ["run", "-e", "mfcc", "-d", "synth-mini", "--no-tracking",
                                    "--out", str(out), "--data-dir", str(tmp_path / "d"),
                                    *args])
    assert res.exit_code == 2, res.output
    assert says in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1
    assert not out.exists() and not (tmp_path / "d").exists()  # nothing ran, nothing saved


@pytest.mark.parametrize("protocol, says", [
    ({"max_epochs": "ten"}, "max_epochs must be an integer >= 1, found 'ten'"),
    ({"max_epochs": 2.5}, "max_epochs must be an integer"),
    ({"learning_rates": [float("nan")]}, "learning rate (--lr) must be"),
    ({"weight_decays": [-1e-4]}, "weight decay (--wd) must be"),
    ({"val_fraction": 1.5}, "val_fraction must be a finite number > 0 and < 1"),
    ({"adam_beta1": 1.0}, "adam_beta1 must be a finite number >= 0 and < 1"),
    ({"adam_eps": 0}, "adam_eps must be a finite number > 0"),
    ({"hidden_sizes": [512, 0]}, "hidden size must be an integer >= 1"),
    ({"batch_size": True}, "batch_size must be an integer"),
])
def test_study_file_protocol_fields_are_range_checked(protocol, says):
    with pytest.raises(ConfigError) as err:
        study_from_dict({"name": "s", "embedders": ["mfcc"], "datasets": ["synth-mini"],
                         "protocol": {"preset": "paper", **protocol}})
    assert says in err.value.message


@pytest.mark.parametrize("field, value, says", [
    ("seeds", [-3], "seed must be an integer >= 0"),
    ("embed_batch_size", 0, "embed_batch_size must be an integer >= 1"),
    ("device", 5, "device must be a name"),
])
def test_study_file_run_fields_are_checked(field, value, says):
    study = {"name": "s", "embedders": ["mfcc"], "datasets": ["synth-mini"], field: value}
    with pytest.raises(ConfigError) as err:
        study_from_dict(study).plan()
    assert says in err.value.message


def test_yaml_style_number_strings_still_work():
    study = study_from_dict({"name": "s", "embedders": ["mfcc"], "datasets": ["synth-mini"],
                             "protocol": {"learning_rates": ["1e-3"], "max_epochs": "3"}})
    (proto,) = study.protocols
    assert proto.learning_rates == (1e-3,) and proto.max_epochs == 3


def test_results_json_is_strict(tmp_path):
    point = GridPoint(lr=1e-3, weight_decay=0.0)  # a network that never had a finite loss
    d = point.to_dict()
    assert d["val_loss"] is None and d["val_accuracy"] is None
    record = {"folds": [{"grid": [d], "val_loss": float("inf")}]}
    with pytest.raises(ResultsError, match=r"folds\[0\]\.val_loss is not a finite number"):
        write_json(tmp_path / "results.json", record)
    assert not (tmp_path / "results.json").exists()
    record["folds"][0]["val_loss"] = None
    write_json(tmp_path / "results.json", record)
    text = (tmp_path / "results.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))


def test_weights_import_errors_name_the_users_file(tmp_path):
    arrays = l3_arrays(7)
    arrays["convs"][3][0] = arrays["convs"][3][0][:, :, :64]
    bad = write_keras_l3(tmp_path / "my-model.h5", arrays)
    junk = tmp_path / "my-download.h5.gz"
    junk.write_bytes(b"not gzip at all")
    for src in (bad, gzip_file(bad, tmp_path / "my-model.h5.gz"), junk):
        with pytest.raises(WeightsError) as err:
            weights.import_weights(needing_weights("l3-m256-env"), src, tmp_path / "w")
        text = str(err.value)
        assert str(src) in text or src.name in text, text
        assert ".import." not in text and ".part" not in text, text


def test_hostile_vggish_pickle_is_refused_naming_the_global(tmp_path):
    evil = tmp_path / "vggish-10086976.pth"
    torch.save({"features.0.weight": os.getcwd}, evil)  # any importable callable would run
    with pytest.raises(WeightsError) as err:
        vggish_files.load_state(evil)
    text = str(err.value)
    assert "getcwd" in text and "refused" in text and str(evil) in text
    assert "weights_only" not in text and "False" not in text
    other = tmp_path / "downloaded.pth"  # not named as a VGGish file: its content is checked
    other.write_bytes(evil.read_bytes())
    with pytest.raises(WeightsError) as err:
        weights.import_weights(needing_weights("vggish"), other, tmp_path / "w")
    assert str(other) in str(err.value)
    assert "getcwd" in str(err.value) and ".import." not in str(err.value)
    assert "weights_only" not in str(err.value)

"""The Python API: ``bench.evaluate`` is ``bench run``, ``bench.compare`` is ``bench stats``, and
``import bench`` stays light."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from analysis_fixtures import accuracies_near, make_record, write_run
from click.testing import CliRunner

import bench
from bench.cli import main
from bench.errors import ConfigError
from bench.runs.record import RunRecord, read_results

QUICK = {"max_epochs": 3, "learning_rates": (1e-3,), "weight_decays": (1e-4, 1e-3), "seed": 2}
QUICK_ARGS = ["--max-epochs", "3", "--lr", "1e-3", "--wd", "1e-4", "--wd", "1e-3", "--seed", "2"]
#: what differs between two computations of the same run: when and how fast it ran
VOLATILE = ("created", "timings", "embedding")


def _numbers(record: RunRecord) -> dict:
    d = record.to_dict()
    for k in VOLATILE:
        d.pop(k)
    for f in d["folds"]:
        f.pop("classify_s")
    d["config"].pop("out_dir")  # not part of a run's identity: its key and id do not cover it
    return d


def test_import_bench_is_light():
    code = ("import sys, bench; bench.__version__; "
            "print(sorted(m for m in ('bench.api', 'numpy', 'torch', 'scipy', 'mlflow', "
            "'matplotlib', 'soundfile') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]"]
    assert {"evaluate", "load_runs", "compare", "Embedder", "Dataset"} <= set(dir(bench))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        bench.nope  # noqa: B018


def test_evaluate_gives_the_numbers_bench_run_writes(synth_mini_root, mfcc_store, tmp_path):
    where = {"data_dir": synth_mini_root, "cache_dir": mfcc_store}
    res = CliRunner().invoke(main, ["run", "-e", "mfcc", "-d", "synth-mini", "-q",
                                    "--no-tracking", "--data-dir", str(synth_mini_root),
                                    "--cache-dir", str(mfcc_store), "--out",
                                    str(tmp_path / "cli"), *QUICK_ARGS])
    assert res.exit_code == 0, res.output
    (cli_dir,) = (tmp_path / "cli").iterdir()
    from_cli = read_results(cli_dir)

    record = bench.evaluate("mfcc", "synth-mini", out_dir=tmp_path / "api", tracking=False,
                            progress=False, **where, **QUICK)
    assert isinstance(record, RunRecord)
    assert record.path == str(tmp_path / "api" / cli_dir.name / "results.json")
    assert record.run_id == from_cli.run_id and record.key == from_cli.key
    assert _numbers(record) == _numbers(from_cli)
    assert record.protocol["max_epochs"] == 3 and len(record.folds) == 5
    assert all(len(f.grid) == 2 and f.chosen.epochs <= 3 for f in record.folds)
    # what it returned is what it wrote
    assert read_results(record.path).to_dict() == record.to_dict()

    # the run `bench run` wrote is found, not recomputed: the record is the file
    again = bench.evaluate("mfcc", "synth-mini", out_dir=tmp_path / "cli", tracking=False,
                           progress=False, **where, **QUICK)
    assert again.to_dict() == json.loads((cli_dir / "results.json").read_text())
    assert [r.run_id for r in bench.load_runs(tmp_path)] == [from_cli.run_id] * 2


def test_evaluate_refuses_unknown_settings_and_instances(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown setting\(s\) \['max_epoch'\]"):
        bench.evaluate("mfcc", "synth-mini", max_epoch=3, out_dir=tmp_path)
    from bench.embedders.mfcc import MFCCEmbedder

    with pytest.raises(ConfigError, match="not an instance"):
        bench.evaluate(MFCCEmbedder(), "synth-mini", out_dir=tmp_path)
    assert not list(tmp_path.iterdir())


def test_an_embedder_class_is_its_import_path():
    from bench.api import _target
    from bench.embedders.mfcc import MFCCEmbedder

    assert _target(MFCCEmbedder, bench.Embedder) == "bench.embedders.mfcc:MFCCEmbedder"
    assert _target("mfcc", bench.Embedder) == "mfcc"
    with pytest.raises(ConfigError, match="Dataset subclass"):
        _target(MFCCEmbedder, bench.Dataset)


def test_compare_is_what_bench_stats_computes(tmp_path):
    for i, name in enumerate(("mfcc", "vggish", "soundnet")):
        write_run(tmp_path, make_record(name, accuracies=accuracies_near(0.5 + 0.1 * i),
                                        repeats=2, run_id=name))
    runs = bench.load_runs(tmp_path)
    assert sorted(r.embedder_name for r in runs) == ["mfcc", "soundnet", "vggish"]
    assert [r.run_id for r in bench.load_runs([tmp_path / "mfcc"])] == ["mfcc"]
    result = bench.compare(runs, method="exact", n_boot=200)
    out = CliRunner().invoke(main, ["stats", str(tmp_path), "--format", "json", "--method",
                                    "exact", "--n-boot", "200"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == json.loads(json.dumps(result.to_dict()))
    # three embeddings on one dataset: three pairs, each over the 10 (fold, repeat) of both runs
    assert len(result.comparisons) == 3 and all(c.n == 10 for c in result.comparisons)
    with pytest.raises(ConfigError, match="unknown comparison setting"):
        bench.compare(runs, n_bootstrap=10)

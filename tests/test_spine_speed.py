"""Speed settings never change the numbers: thread count (the golden run, bit for bit), decoding
workers; precision and resampler are part of a run's and the store's identity; the GPU check
script runs on the CPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench import embedders
from bench.cli import main
from bench.errors import ConfigError
from bench.runs.config import RunConfig
from bench.store.format import namespace_description, namespace_key

ROOT = Path(__file__).resolve().parents[1]


def _golden(threads: str, root, out, cache):
    # the golden run's command (Makefile `golden`), with a thread count and 12 epochs: every fold
    # still trains all nine grid points through the same kernels (patience 20 never stops them
    # early), at a quarter of the golden run's time; the whole golden run is test_spine_e2e's
    res = CliRunner().invoke(main, ["run", "-e", "mfcc", "-d", "synth-mini", "--seed", "0", "-q",
                                    "--no-tracking", "--data-dir", str(root), "--cache-dir",
                                    str(cache), "--out", str(out), "--threads", threads,
                                    "--max-epochs", "12"])
    assert res.exit_code == 0, res.output
    run_dir = next(Path(out).iterdir())
    return (json.loads((run_dir / "results.json").read_text()),
            (run_dir / "predictions.csv").read_text())


@pytest.mark.slow
def test_the_golden_run_is_bit_identical_with_one_and_two_threads(synth_mini_root, tmp_path):
    # separate stores, so that the embeddings too are computed under each thread count
    one, preds_one = _golden("1", synth_mini_root, tmp_path / "o1", tmp_path / "c1")
    two, preds_two = _golden("2", synth_mini_root, tmp_path / "o2", tmp_path / "c2")
    assert one["config"]["threads"] == 1 and two["config"]["threads"] == 2
    assert one["run_id"] == two["run_id"]  # threads are not part of the identity
    assert preds_one == preds_two
    for a, b in zip(one["folds"], two["folds"]):
        assert a["accuracy"] == b["accuracy"] and a["chosen"] == b["chosen"]
        assert [(g["val_loss"], g["val_accuracy"], g["epochs"]) for g in a["grid"]] == \
               [(g["val_loss"], g["val_accuracy"], g["epochs"]) for g in b["grid"]]


def test_decoding_workers_store_the_same_embeddings(synth_mini_root, tmp_path):
    from bench.datasets import create
    from bench.store.pipeline import embed_clips, load_matrix, open_namespace
    from bench.store.store import EmbeddingStore

    clips = create("synth-mini", data_dir=synth_mini_root).clips()[:9]
    e = embedders.create("mfcc")
    spec = e.prepare()
    out = []
    for workers in (0, 2):
        store = EmbeddingStore(tmp_path / f"s{workers}")
        report, ids = embed_clips(clips, e, spec, store, progress=False, decode_workers=workers)
        assert report.n_computed == 9
        out.append(load_matrix(clips, open_namespace(store, spec, "kaiser_best"), ids,
                               progress=False))
    np.testing.assert_array_equal(out[0][0], out[1][0])
    np.testing.assert_array_equal(out[0][1], out[1][1])


def test_precision_reaches_the_spec_and_the_store_key():
    f32 = embedders.create("l3-m256-music").spec
    bf16 = embedders.create("l3-m256-music", precision="bfloat16").spec
    assert dict(bf16.options)["precision"] == "bfloat16"
    assert dict(f32.options)["precision"] == "float32"
    keys = {namespace_key(namespace_description(s.to_dict(), r))
            for s in (f32, bf16) for r in ("kaiser_best", "soxr_vhq")}
    assert len(keys) == 4
    with pytest.raises(ConfigError, match="CUDA"):
        embedders.create("vggish", precision="float16")
    with pytest.raises(ConfigError, match="float32 only"):
        embedders.create("mfcc", precision="bfloat16")
    with pytest.raises(ConfigError, match="precision"):
        RunConfig(embedder="mfcc", dataset="synth", precision="float64")


def test_precision_on_the_command_line_and_in_study_files(tmp_path):
    from bench.studies.study import study_from_dict

    res = CliRunner().invoke(main, ["run", "-e", "mfcc", "-d", "synth-mini", "--no-tracking",
                                    "--precision", "bfloat16", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "float32 only" in res.output and "Traceback" not in res.output
    study = study_from_dict({"name": "p", "embedders": ["soundnet"], "datasets": ["synth"],
                             "precision": "bfloat16", "resampler": "soxr_vhq"})
    config = study.plan()[0]
    assert (config.precision, config.resampler) == ("bfloat16", "soxr_vhq")
    for cmd in ("run", "embed", "sweep"):
        help_ = CliRunner().invoke(main, [cmd, "--help"]).output
        assert "--precision" in help_ and "bfloat16" in help_


def test_gpu_check_runs_on_the_cpu():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--device",
                          "cpu", "--quick"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    for family in ("l3-m256", "l3-m128", "l3-linear", "vggish", "soundnet"):
        rows = [ln.split() for ln in lines if ln.startswith(family + " ")]
        assert [r[1] for r in rows] == ["float32", "bfloat16"]
        assert float(rows[0][2]) == 0.0 and rows[0][4] == "ok"  # the CPU against itself
        assert 0 < float(rows[1][2]) < 0.05  # bfloat16 moves the numbers, a little
    assert "float32 parity within 0.0001: PASS" in out.stdout
    assert "(same)" in out.stdout

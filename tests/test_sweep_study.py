"""Study files, the paper preset, the --dry-run estimate, and a sweep with a failing run
(--keep-going), its summary, report and MLflow records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sweep_fixtures import WINDOWS

from bench.cli import main
from bench.audio.frames import frame_count
from bench.errors import ConfigError, UnknownNameError
from bench.studies.study import PAPER_EMBEDDERS, load_study, study_from_dict, study_preset
from bench.studies.estimate import dataset_size, estimate, format_estimate

ROOT = Path(__file__).resolve().parents[1]


def test_example_study_file_plans_every_combination():
    study = load_study(ROOT / "examples" / "study-small.yaml")
    plan = study.plan()
    assert len(plan) == len(study.embedders) * len(study.datasets) * len(study.protocols) * \
        len(study.seeds)
    assert {(c.embedder, c.dataset, c.protocol.preset, c.seed) for c in plan} == {
        (e, d, p.preset, s) for e in study.embedders for d in study.datasets
        for p in study.protocols for s in study.seeds}
    assert all(dict(c.tags)["study"] == study.name for c in plan)


def test_study_keys_protocols_and_paths(tmp_path):
    study = study_from_dict({
        "name": "s", "embedders": "mfcc", "datasets": ["synth", "synth-mini"],
        "protocols": ["l3embedding", {"preset": "paper", "max_epochs": 7,
                                      "learning_rates": [0.01]}],
        "repeats": 3, "seeds": [1, 2], "tags": {"k": 1}, "out_dir": "rel",
        "tracking": False}, base=tmp_path)
    assert len(study.plan()) == 1 * 2 * 2 * 2
    l3, paper = study.protocols
    assert l3.val_unit == "frame" and l3.repeats == 3
    assert paper.max_epochs == 7 and paper.learning_rates == (0.01,) and paper.repeats == 3
    cfg = study.plan()[0]
    assert cfg.out_dir == tmp_path / "rel" and cfg.tracking is False
    assert dict(cfg.tags) == {"k": "1", "study": "s"}


@pytest.mark.parametrize("data, match", [
    ({"embedders": ["mfcc"], "datasets": ["synth"]}, "needs a name"),
    ({"name": "s", "embedders": ["mfcc"], "datasets": ["synth"], "colour": 1}, "unknown key"),
    ({"name": "s", "embedders": ["mfcc"], "datasets": ["synth"], "seed": 1, "seeds": [2]},
     "not both"),
    ({"name": "s", "embedders": ["mfcc", "mfcc"], "datasets": ["synth"]}, "more than once"),
    ({"name": "s", "embedders": ["mfcc"], "datasets": ["synth"],
      "protocol": {"max_epoch": 3}}, "unknown protocol field"),
    ({"name": "s", "embedders": ["mfcc"], "datasets": ["synth"], "repeats": 0}, "repeats"),
    ({"name": "s", "datasets": ["synth"]}, "no embedders"),
])
def test_bad_study_files_say_what_is_wrong(data, match):
    with pytest.raises(ConfigError, match=match):
        study_from_dict(data)


def test_misspelt_names_fail_before_anything_runs():
    study = study_from_dict({"name": "s", "embedders": ["l3-m256-musik"], "datasets": ["esc50"]})
    with pytest.raises(UnknownNameError, match="l3-m256-musik"):
        study.check_names()


def test_paper_preset_and_its_compute_estimate():
    study = study_preset("paper")
    assert set(study.embedders) == {f"l3-{f}-{c}" for f in ("linear", "m128", "m256")
                                    for c in ("music", "env")} | {"vggish", "soundnet"}
    assert study.embedders == PAPER_EMBEDDERS and study.datasets == ("esc50", "us8k",
                                                                    "dcase2013")
    est = estimate(study, gflops=10.0)
    assert len(est.rows) == 24
    repeats = {r["dataset"]: r["repeats"] for r in est.rows}
    assert repeats == {"esc50": 5, "us8k": 2, "dcase2013": 1}
    # 1 s windows every 0.1 s from t=0, tail dropped: 5 s -> 41, 4 s -> 31, 30 s -> 291
    windows = {(p.embedder, p.dataset): p.windows for p in est.pairs}
    assert windows[("l3-m256-music", "esc50")] == pytest.approx(2000 * 41)
    assert windows[("l3-m256-music", "us8k")] == pytest.approx(8732 * 31)
    assert windows[("vggish", "dcase2013")] == pytest.approx(200 * 291)
    from bench import embedders

    g = embedders.create("l3-m256-music").gflop_per_window
    assert 15 < g < 25  # about 20 GFLOP per window (docs/embedders.md: 20.4)
    pair = next(p for p in est.pairs if (p.embedder, p.dataset) == ("l3-m256-music", "esc50"))
    assert pair.gflop == pytest.approx(2000 * 41 * g)
    # MLP fits: splits x repeats x 9 grid points
    fits = {r["dataset"]: r["fits"] for r in est.rows}
    assert fits == {"esc50": 5 * 5 * 9, "us8k": 10 * 2 * 9, "dcase2013": 1 * 1 * 9}
    text = format_estimate(study, est)
    total_h = sum(p.gflop for p in est.pairs if p.gflop) / 10.0 / 3600
    assert f"{total_h:.1f} CPU h of one core at 10.0 GFLOP/s" in text


def test_estimate_probes_the_files_of_a_present_dataset(synth_mini_root):
    from bench.audio.decode import probe
    from bench.datasets import create
    from bench.studies.estimate import pair_cost

    size = dataset_size("synth-mini", synth_mini_root)
    assert size.n_clips == 120 and size.n_splits == 5 and "probed" in size.source
    clips = create("synth-mini", data_dir=synth_mini_root).clips()
    want = sum(frame_count(round(probe(c.path).duration * 8000), 8000, 4000) for c in clips)
    assert pair_cost("sweep_fixtures:TinyA", size).windows == pytest.approx(want)


def test_sweep_keep_going_summary_report_and_tracking(tmp_path, synth_mini_root, monkeypatch):
    import bench.evaluation.protocol
    import bench.runs.steps

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("BENCH_PROGRESS", "0")
    folds = []
    original = bench.evaluation.protocol.run_fold

    def counted(*args, **kwargs):
        folds.append(args[1].test_fold)
        return original(*args, **kwargs)

    monkeypatch.setattr(bench.runs.steps, "run_fold", counted)
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump({
        "name": "keep-going-test",
        "embedders": ["sweep_fixtures:TinyA", "sweep_fixtures:Broken"],
        "datasets": ["synth-mini"],
        "protocol": {"max_epochs": 2, "patience": 1, "learning_rates": [1e-3],
                     "weight_decays": [1e-4]},
        "resampler": "kaiser_fast", "out_dir": str(tmp_path / "runs"),
        "data_dir": str(synth_mini_root), "cache_dir": str(tmp_path / "cache")}))
    runner = CliRunner()
    WINDOWS.clear()

    res = runner.invoke(main, ["sweep", str(study), "-q"])  # stops at the failure
    assert res.exit_code != 0 and isinstance(res.exception, RuntimeError)
    state_path = tmp_path / "runs" / "studies" / "keep-going-test" / "sweep.json"
    state = json.loads(state_path.read_text())
    assert [r["status"] for r in state["runs"]] == ["computed", "failed"]

    res = runner.invoke(main, ["sweep", str(study), "-q", "--keep-going"])
    assert res.exit_code == 2, res.output
    assert "1 of 2 runs failed" in res.output
    state = json.loads(state_path.read_text())
    assert [r["status"] for r in state["runs"]] == ["done earlier", "failed"]
    assert "tiny broken on purpose" in state["runs"][1]["error"]
    assert state["counts"] == {"done earlier": 1, "failed": 1}
    # tiny-a was embedded and classified once, in the first invocation only
    assert folds == [1, 2, 3, 4, 5]
    assert WINDOWS["tiny-a"] > 0
    table = res.output
    assert "done earlier" in table and "failed: RuntimeError: tiny broken on purpose" in table
    acc = json.loads(Path(state["runs"][0]["run_dir"], "results.json").read_text())["accuracy"]
    assert f"{100 * acc['mean']:.2f}" in table

    report = Path(state["report"]["markdown"])
    assert report.is_file() and "tiny-a" in report.read_text()
    assert (state_path.parent / "summary.md").read_text().count("\n|") >= 3

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}")
    exp = client.get_experiment_by_name("keep-going-test")
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 1 + 5  # logged by both invocations, recorded once
    assert [r["tracked"] for r in state["runs"]] == ["unchanged", None]

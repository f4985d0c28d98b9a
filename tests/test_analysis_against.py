"""bench check --against: pairing by identity, "not comparable" with the fields named, per-metric
tolerances (points and sd), JUnit XML, the Markdown table, exit codes, and the golden run."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.stats import wilcoxon

from analysis_fixtures import make_record, write_run
from bench.analysis import against as ag
from bench.analysis.check_metrics import METRICS, Tolerance, parse_tolerances
from bench.cli import main
from bench.errors import ConfigError

GOLDEN = Path(__file__).resolve().parents[1] / "results" / "golden"
OLD = [0.60, 0.70, 0.80, 0.65, 0.75]          # mean 70.0 points, sd 7.9057 points


def _tol(spec=None, fold=None):
    return parse_tolerances(spec, fold)


def test_tolerance_syntax():
    t = _tol()
    assert t == {"acc": Tolerance(2.0), "acc.fold": Tolerance(6.0)}
    assert _tol("1.5") == {"acc": Tolerance(1.5), "acc.fold": Tolerance(4.5)}
    assert _tol("acc=1.0,acc.fold=3") == {"acc": Tolerance(1.0), "acc.fold": Tolerance(3.0)}
    assert _tol("acc=2sd")["acc"] == Tolerance(2.0, in_sd=True)
    assert _tol("acc=2sd")["acc.fold"] == Tolerance(6.0, in_sd=True)  # 3 x its base
    assert _tol("2", fold=4)["acc.fold"] == Tolerance(4.0)
    assert Tolerance(2, True).resolve(1.5) == 3.0 and Tolerance(2).resolve(1.5) == 2.0
    for bad, match in (("mAP=0.01", "unknown metric 'mAP'"), ("acc=x", "number"),
                       ("acc=-1", ">= 0"), ("acc=1,acc=2", "twice"), ("acc=nan", ">= 0")):
        with pytest.raises(ConfigError, match=match):
            _tol(bad)
    with pytest.raises(ConfigError, match="both"):
        _tol("acc.fold=1", fold=2)
    assert set(METRICS) == {"acc", "acc.fold"}


def _check(new, old, spec=None, **kw):
    return ag.check_against(new, old, _tol(spec), against="old", **kw)


def _case(result, metric="acc"):
    (case,) = [c for c in result.cases if c.metric == metric]
    return case


def test_unchanged_passes_and_degraded_fails_with_independent_numbers():
    old = make_record("mfcc", "synth", OLD)
    res = _check([make_record("mfcc", "synth", OLD)], [old])
    assert res.exit_code == 0 and [c.verdict for c in res.cases] == ["ok", "ok"]
    assert _case(res).delta == 0 and _case(res).p == 1.0

    new_acc = [0.55, 0.66, 0.72, 0.60, 0.70]
    res = _check([make_record("mfcc", "synth", new_acc)], [old], "acc=1.0,acc.fold=6")
    case = _case(res)
    assert res.exit_code == 1 and case.verdict == "regression" and case.failed
    assert case.old == pytest.approx(100 * np.mean(OLD))
    assert case.new == pytest.approx(100 * np.mean(new_acc))
    assert case.delta == pytest.approx(100 * (np.mean(new_acc) - np.mean(OLD)))
    assert case.p == pytest.approx(wilcoxon(np.subtract(new_acc, OLD)).pvalue) and case.n == 5
    fold = _case(res, "acc.fold")
    assert fold.delta == pytest.approx(100 * np.mean(np.abs(np.subtract(new_acc, OLD))))
    assert fold.verdict == "ok"  # 5.6 <= 6

    # a rise beyond the tolerance fails both ways unless --one-sided
    up = make_record("mfcc", "synth", [a + 0.05 for a in OLD])
    assert _case(_check([up], [old])).verdict == "rose"
    res = _check([up], [old], "acc=2,acc.fold=9", one_sided=True)
    assert res.exit_code == 0


def test_sd_tolerance_and_per_fold_rule():
    old = make_record("mfcc", "synth", OLD)
    sd = 100 * np.std(OLD, ddof=1)                    # 7.906 points
    below = make_record("mfcc", "synth", [a - 0.07 for a in OLD])   # -7 points
    above = make_record("mfcc", "synth", [a - 0.09 for a in OLD])   # -9 points
    spec = "acc=1sd,acc.fold=100"
    assert _case(_check([below], [old], spec)).verdict == "ok"
    case = _case(_check([above], [old], spec))
    assert case.verdict == "regression" and case.tolerance == pytest.approx(sd)
    assert case.tolerance_spec == "1sd"

    # folds swapped: the mean holds, per-fold mean |d| = (10+10+0+10+10)/5 = 8 points
    swapped = make_record("mfcc", "synth", [0.70, 0.60, 0.80, 0.75, 0.65])
    res = _check([swapped], [old], "acc=1,acc.fold=5")
    assert _case(res).verdict == "ok"
    fold = _case(res, "acc.fold")
    assert fold.verdict == "moved" and fold.delta == pytest.approx(8.0) and res.exit_code == 1
    fewer = make_record("mfcc", "synth", OLD[:4], folds=(1, 2, 3, 4))
    fold = _case(_check([fewer], [old], "acc=50,acc.fold=50"), "acc.fold")
    assert fold.verdict == "missing folds" and "fold 5 repeat 0" in fold.detail


@pytest.mark.parametrize("change, named", [
    ({"protocol": {"max_epochs": 4}}, "max_epochs: 50 -> 4"),
    ({"embedder_spec": {"weights_sha256": "ab" * 32}}, "embedder.weights_sha256: None -> abab"),
    ({"embedder_spec": {"options": {"n_mfcc": 13}}}, "embedder.options"),
    ({"seed": 3}, "seed: 0 -> 3"),
    ({"n_clips": 199}, "dataset.n_clips: 200 -> 199"),
])
def test_changed_identity_is_not_comparable_naming_the_field(change, named):
    old = make_record("mfcc", "synth", OLD)
    res = _check([make_record("mfcc", "synth", OLD, **change)], [old])
    assert res.exit_code == 2 and not res.failed
    assert {c.verdict for c in res.cases} == {"not comparable"}
    assert any(named in d for d in res.not_comparable[0].differs), res.not_comparable[0].differs
    assert _case(res).delta is None  # the numbers are shown, never compared


def test_pairing_over_presets_seeds_and_leftovers():
    old = [make_record("mfcc", "synth", OLD, run_id="p0"),
           make_record("mfcc", "synth", OLD, run_id="p1", seed=1),
           make_record("mfcc", "synth", OLD, preset="linear", run_id="l0"),
           make_record("vggish", "synth", OLD, run_id="gone")]
    new = [make_record("mfcc", "synth", OLD, seed=1, run_id="n-p1"),
           make_record("mfcc", "synth", OLD, run_id="n-p0"),
           make_record("mfcc", "synth", OLD, preset="linear", protocol={"max_epochs": 7},
                       run_id="n-l0"),
           make_record("soundnet", "synth", OLD, run_id="fresh")]
    res = _check(new, old)
    by = {(p.new.run_id if p.new else None, p.old.run_id if p.old else None): p
          for p in res.pairs}
    assert set(by) == {("n-p1", "p1"), ("n-p0", "p0"), ("n-l0", "l0"), ("fresh", None),
                       (None, "gone")}
    assert by[("n-l0", "l0")].differs and not by[("n-p0", "p0")].differs
    verdicts = {(c.embedder, c.run, c.metric): c.verdict for c in res.cases}
    assert verdicts[("soundnet", "paper s0", "acc")] == "new run"
    assert verdicts[("vggish", "paper s0", "acc")] == "no new run"
    assert verdicts[("mfcc", "linear s0", "acc")] == "not comparable"
    assert res.exit_code == 2
    # without the changed run: new and vanished runs are skipped, not failures
    assert _check(new[:2] + new[3:], old).exit_code == 0


def test_runs_sharing_preset_and_seed_get_unique_case_names():
    from bench.evaluation.settings import fingerprint

    runs = [make_record("mfcc", "synth", OLD, run_id="a"),
            make_record("mfcc", "synth", OLD, protocol={"max_epochs": 30}, run_id="b")]
    res = _check(runs, runs)
    assert res.exit_code == 0 and len(res.cases) == 4
    names = {c.run for c in res.cases}
    assert names == {f"paper s0 {fingerprint(r.protocol)}" for r in runs} and len(names) == 2


def _runs(root: Path, records) -> Path:
    for r in records:
        write_run(root, r)
    return root


def test_cli_junit_and_markdown_for_a_degraded_folder(tmp_path):
    old_dir = _runs(tmp_path / "main", [make_record("mfcc", "synth", OLD),
                                        make_record("vggish", "synth", OLD)])
    new_dir = _runs(tmp_path / "pr", [make_record("mfcc", "synth", [a - 0.05 for a in OLD]),
                                      make_record("vggish", "synth", OLD)])
    xml, md = tmp_path / "out" / "check.xml", tmp_path / "out" / "check.md"
    out = CliRunner().invoke(main, ["check", str(new_dir), "--against", str(old_dir),
                                    "--tolerance", "acc=1.0,acc.fold=10", "--junit", str(xml),
                                    "--markdown", str(md)])
    assert out.exit_code == 1, out.output
    suite = ET.parse(xml).getroot().find("testsuite")
    assert suite.get("tests") == "4" and suite.get("failures") == "1"
    cases = {(c.get("classname"), c.get("name")): c for c in suite.iter("testcase")}
    assert set(cases) == {(f"bench.synth.{e}", f"{m} [paper s0]") for e in ("mfcc", "vggish")
                          for m in ("acc", "acc.fold")}
    failure = cases[("bench.synth.mfcc", "acc [paper s0]")].find("failure")
    assert failure.get("type") == "regression"
    assert failure.get("message") == ("regression: old=70.00 new=65.00 delta=-5.00 "
                                      "tolerance=1.00")
    assert all(c.find("failure") is None for k, c in cases.items() if k[1] != "acc [paper s0]"
               or "vggish" in k[0])
    text = md.read_text(encoding="utf-8")
    assert "**FAIL (regression): 3 ok, 1 out of tolerance" in text
    row = next(ln for ln in text.splitlines() if ln.startswith("| synth | mfcc | paper s0 | acc |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[4:8] == ["70.00", "65.00", "-5.00", "1.00"]
    assert cells[8] == "0.0625 (n=5)" and cells[9] == "❌ regression"  # exact test, 5 negatives

    # the same folder against itself passes; usage errors exit 2
    out = CliRunner().invoke(main, ["check", str(old_dir), "--against", str(old_dir)])
    assert out.exit_code == 0 and "PASS: 4 ok" in out.output
    for args in ([], ["--against", str(old_dir), "--reference", "paper"],
                 ["--reference", "paper", "--junit", str(xml)],
                 ["--reference", "paper", "--tolerance", "acc=2sd"],
                 ["--against", str(old_dir), "--tolerance", "mAP=0.01"]):
        out = CliRunner().invoke(main, ["check", str(new_dir), *args])
        assert out.exit_code == 2 and "Traceback" not in out.output, (args, out.output)


def test_not_comparable_in_junit_and_markdown(tmp_path):
    old_dir = _runs(tmp_path / "main", [make_record("mfcc", "synth", OLD)])
    new_dir = _runs(tmp_path / "pr", [make_record("mfcc", "synth", OLD,
                                                  protocol={"scaler_fit": "train+val"})])
    xml, md = tmp_path / "c.xml", tmp_path / "c.md"
    out = CliRunner().invoke(main, ["check", str(new_dir), "--against", str(old_dir),
                                    "--junit", str(xml), "--markdown", str(md)])
    assert out.exit_code == 2 and "scaler_fit: train -> train+val" in out.output
    errors = list(ET.parse(xml).getroot().iter("error"))
    assert len(errors) == 2 and all("scaler_fit" in e.get("message") for e in errors)
    assert "⚠️ not comparable" in md.read_text(encoding="utf-8")


def test_golden_run_against_itself_and_a_degraded_copy(tmp_path):
    """What the project's CI checks on every change (tests/test_spine_e2e.py reruns the golden
    run and checks it --against results/golden): an unchanged golden passes, one fold 25 points
    lower fails, an edited protocol is not comparable."""
    out = CliRunner().invoke(main, ["check", str(GOLDEN), "--against", str(GOLDEN),
                                    "--tolerance", "acc=5,acc.fold=10"])
    assert out.exit_code == 0, out.output
    copy = tmp_path / "golden"
    shutil.copytree(GOLDEN, copy)
    results = next(copy.glob("*/results.json"))
    data = json.loads(results.read_text())
    data["folds"][0]["accuracy"] -= 0.25
    results.write_text(json.dumps(data))
    gold_mean = 100 * np.mean([f["accuracy"] for f in json.loads(
        next(GOLDEN.glob("*/results.json")).read_text())["folds"]])
    out = CliRunner().invoke(main, ["check", str(copy), "--against", str(GOLDEN),
                                    "--tolerance", "acc=4,acc.fold=10"])
    assert out.exit_code == 1, out.output
    assert f"{gold_mean:.2f}  {gold_mean - 5:.2f}  -5.00" in out.output  # 25 points / 5 folds
    data["protocol"]["patience"] = 10
    results.write_text(json.dumps(data))
    out = CliRunner().invoke(main, ["check", str(copy), "--against", str(GOLDEN)])
    assert out.exit_code == 2 and "patience: 20 -> 10" in out.output

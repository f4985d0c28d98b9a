"""bench check: references (paper, CSV, results), tolerances, per-fold rule, exit codes."""

from __future__ import annotations

import csv

import pytest
from click.testing import CliRunner

from analysis_fixtures import make_record, write_run
from bench.analysis import check as chk
from bench.cli import main
from bench.errors import ResultsError

FOLDS = (1, 2, 3, 4, 5)


def _const(value):
    return lambda f, r: value


def test_paper_reference_is_shipped_and_matches_the_shared_csv():
    ref = chk.load_reference("paper")
    assert chk.paper_csv_path().is_file()
    assert ref.lookup("esc50", "l3-m256-music").accuracy == 79.82
    assert ref.lookup("us8k", "l3-m256-env").accuracy == 79.34
    assert ref.lookup("us8k", "l3-m256-music").accuracy == 78.23      # from the text (4.4)
    assert ref.lookup("dcase2013", "soundnet").accuracy == 76
    assert ref.lookup("UrbanSound8K", "vggish").accuracy == 73.43     # dataset alias
    assert ref.lookup("esc50", "mfcc") is None
    # every test_accuracy row of the CSV is represented with the value of its first row
    with open(chk.paper_csv_path(), encoding="utf-8") as fh:
        rows = list(csv.DictReader(ln for ln in fh if not ln.startswith("#")))
    first = {}
    for r in rows:
        if r["metric"] == "test_accuracy":
            first.setdefault((r["dataset"], r["embedder"]), float(r["value"]))
    assert {k: e.accuracy for k, e in ref.entries.items()} == first
    assert ref.metric_rows("diminishing_returns_after_samples", "us8k")[0]["value"] == "13000000"


def _paper_run(delta_points, embedder="l3-m256-music", dataset="esc50"):
    return make_record(embedder, dataset, _const((79.82 + delta_points) / 100))


@pytest.mark.parametrize("delta,tol,code", [(1.5, 2.0, 0), (-1.99, 2.0, 0), (2.0, 2.0, 0),
                                            (2.5, 2.0, 1), (-3.0, 2.0, 1), (0.3, 0.2, 1)])
def test_check_tolerance(delta, tol, code):
    res = chk.check([_paper_run(delta)], chk.load_reference("paper"), tolerance=tol)
    assert res.exit_code == code
    (row,) = res.rows
    assert row.delta == pytest.approx(delta)


def test_check_nothing_comparable_and_mixed():
    ref = chk.load_reference("paper")
    assert chk.check([make_record("mfcc", "synth")], ref).exit_code == 2
    res = chk.check([make_record("mfcc", "synth"), _paper_run(0.5)], ref)
    assert res.exit_code == 0 and len(res.comparable) == 1
    res = chk.check([_paper_run(0.5), _paper_run(9.0, "vggish")], ref)
    assert res.exit_code == 1 and [r.embedder for r in res.failed] == ["vggish"]


def test_checkpoint_runs_do_not_match_the_final_model():
    ref = chk.load_reference("paper")
    rec = make_record("l3-m256-music", "esc50", _const(0.5), tags={"train_samples": "13e6"})
    assert chk.check([rec], ref).exit_code == 2


def test_csv_reference_file(tmp_path):
    p = tmp_path / "ref.csv"
    p.write_text("# my numbers\ndataset,embedder,value\nsynth,mfcc,80.0\n", encoding="utf-8")
    ref = chk.load_reference(p)
    assert chk.check([make_record("mfcc", "synth", _const(0.79))], ref, tolerance=1.5
                     ).exit_code == 0
    assert chk.check([make_record("mfcc", "synth", _const(0.75))], ref, tolerance=1.5
                     ).exit_code == 1
    bad = tmp_path / "bad.csv"
    bad.write_text("dataset,embedder,value\nsynth,mfcc,0.8x\n", encoding="utf-8")
    with pytest.raises(ResultsError, match="not a number"):
        chk.load_reference(bad)
    frac = tmp_path / "frac.csv"
    frac.write_text("dataset,embedder,value\nsynth,mfcc,180\n", encoding="utf-8")
    with pytest.raises(ResultsError, match="percent"):
        chk.load_reference(frac)
    with pytest.raises(ResultsError, match="columns"):
        (tmp_path / "cols.csv").write_text("a,b\n1,2\n", encoding="utf-8")
        chk.load_reference(tmp_path / "cols.csv")


def test_results_reference_per_fold_rule(tmp_path):
    gold = [0.60, 0.70, 0.80, 0.65, 0.75]
    write_run(tmp_path / "golden", make_record("mfcc", "synth", gold, seed=0, run_id="g"))
    ref = chk.load_reference(tmp_path / "golden")
    e = ref.lookup("synth", "mfcc")
    assert e.accuracy == pytest.approx(70.0) and len(e.per_fold) == 5

    same = make_record("mfcc", "synth", gold, run_id="same")
    res = chk.check([same], ref, tolerance=1.0)
    assert res.exit_code == 0 and res.rows[0].fold_mad == 0.0

    # same mean, folds swapped: the mean passes, per-fold mean |d| = (10+10+0+10+10)/5 = 8 fails
    shuffled = make_record("mfcc", "synth", [0.70, 0.60, 0.80, 0.75, 0.65])
    res = chk.check([shuffled], ref, tolerance=1.0, fold_tolerance=5.0)
    (row,) = res.rows
    assert row.mean_ok and row.fold_mad == pytest.approx(8.0) and not row.folds_ok
    assert res.exit_code == 1 and row.status == "FAIL (per-fold)"
    assert chk.check([shuffled], ref, tolerance=1.0, fold_tolerance=8.0).exit_code == 0
    # default per-fold tolerance: FOLD_TOLERANCE_FACTOR x tolerance
    assert chk.check([shuffled], ref, tolerance=4.0).rows[0].fold_tolerance == pytest.approx(
        chk.FOLD_TOLERANCE_FACTOR * 4.0)

    # a lost fold fails even with matching numbers on the others
    fewer = make_record("mfcc", "synth", gold[:4], folds=(1, 2, 3, 4))
    res = chk.check([fewer], ref, tolerance=50, fold_tolerance=50)
    assert res.exit_code == 1 and res.rows[0].missing_keys == ["fold 5 repeat 0"]

    # protocol and seed differences are reported, not failed
    other = make_record("mfcc", "synth", gold, seed=3, protocol={"scaler_fit": "train+val"})
    (row,) = chk.check([other], ref, tolerance=1.0).rows
    assert row.ok
    assert any("scaler_fit" in n for n in row.notes) and any("seed 3" in n for n in row.notes)


def test_two_reference_runs_of_one_embedder_refused(tmp_path):
    write_run(tmp_path, make_record("mfcc", "synth", run_id="a"))
    write_run(tmp_path, make_record("mfcc", "synth", run_id="b"))
    with pytest.raises(ResultsError, match="two reference runs"):
        chk.load_reference(tmp_path)


def test_cli_check_exit_codes(tmp_path):
    runner = CliRunner()
    ok = write_run(tmp_path / "runs", _paper_run(1.0), "ok")
    bad = write_run(tmp_path / "runs", _paper_run(-4.0, "vggish"), "bad")
    other = write_run(tmp_path / "runs", make_record("mfcc", "synth"), "other")

    out = runner.invoke(main, ["check", str(ok), "--reference", "paper"])
    assert out.exit_code == 0, out.output
    assert "within tolerance" in out.output

    out = runner.invoke(main, ["check", str(ok), str(bad), "--reference", "paper",
                               "--tolerance", "2"])
    assert out.exit_code == 1
    tail = out.output.split("OUT OF TOLERANCE")[1]
    assert "vggish" in tail and "l3-m256-music" not in tail

    out = runner.invoke(main, ["check", str(bad), "--reference", "paper", "--tolerance", "5"])
    assert out.exit_code == 0

    out = runner.invoke(main, ["check", str(other), "--reference", "paper"])
    assert out.exit_code == 2 and "nothing comparable" in out.output

    out = runner.invoke(main, ["check", str(ok), "--reference", str(tmp_path / "nope.csv")])
    assert out.exit_code == 2 and "no reference" in out.output

    out = runner.invoke(main, ["check", str(other), "--reference", str(other)])
    assert out.exit_code == 0 and "per-fold" in out.output

"""The study graph's units, carried out in this process in the graph's order: the run they
assemble is the runner's, also when later splits depend on the first
(``grid_search="first_split"``, the hear preset), and each unit is idempotent."""

from __future__ import annotations

import json

import pytest
from sweep_fixtures import record_numbers

from bench.runs.graph import CLASSIFY, EMBED, FINISH
from bench.runs.runner import execute
from bench.runs.units import merge_reports, perform
from bench.studies.dispatch import plan_study
from bench.studies.study import study_from_dict


@pytest.mark.parametrize("protocol", [
    {"preset": "paper", "max_epochs": 2, "learning_rates": [1e-3], "weight_decays": [1e-4]},
    {"preset": "hear", "max_epochs": 6, "grid_sample": 2},  # first_split: chained units
])
def test_units_in_graph_order_give_the_runners_record(tmp_path, synth_mini_root, protocol):
    study = study_from_dict({
        "name": "tasks", "embedders": ["mfcc"], "datasets": ["synth-mini"],
        "protocol": protocol, "repeats": 2, "data_dir": str(synth_mini_root),
        "cache_dir": str(tmp_path / "cache"), "out_dir": str(tmp_path / "tasks"),
        "tracking": False, "dask": {"shard_clips": 50}})
    planned = plan_study(study)
    [plan], [ticket], graph = planned.plans, planned.tickets, planned.graph
    embeds = [u for u in graph.units if u.kind == EMBED]
    assert [(u.start, u.stop) for u in embeds] == [(0, 50), (50, 100), (100, 120)]
    assert graph.counts() == {"embed": 3, "classify": 5 * 2, "finish": 1}
    results = {}
    for unit in graph.units:  # each after what it depends on, as every executor runs them
        results[unit.key] = perform(unit, ticket, [results[d] for d in unit.deps], 1)
    reports = [results[u.key] for u in embeds]
    assert sum(r.n_computed for r in reports) == 120 == sum(r.n_clips for r in reports)
    again = perform(embeds[0], ticket, [], 1)  # idempotent: all stored, nothing computed
    assert again.n_computed == 0 and again.n_cached == 50

    done = [results[u.key] for u in graph.units if u.kind == CLASSIFY]
    assert all(u.computed for u in done) and len(done) == 5 * 2
    unit = next(u for u in graph.units if u.kind == CLASSIFY and (u.split, u.repeat) == (3, 1))
    repeated = perform(unit, ticket, [results[d] for d in unit.deps], 1)
    assert not repeated.computed and repeated.score == results[unit.key].score
    [finish] = [u for u in graph.units if u.kind == FINISH]
    record = results[finish.key].record.to_dict()

    want = execute(study.plan()[0].replace(out_dir=tmp_path / "runner",
                                           cache_dir=tmp_path / "runner-cache"),
                   progress=False).record.to_dict()
    assert record["run_id"] == want["run_id"]
    assert record_numbers(record) == record_numbers(want)
    if protocol["preset"] == "hear":  # the later splits trained split 0's choice only
        def point(fold: dict) -> dict:
            return {k: v for k, v in fold["chosen"].items() if k not in ("epochs", "best_epoch")}

        for f in record["folds"]:
            first = next(g for g in record["folds"]
                         if g["repeat"] == f["repeat"] and g["test_fold"] == 1)
            assert point(f) == point(first)
            assert len(f["grid"]) == (2 if f["test_fold"] == 1 else 1)
    on_disk = json.loads((plan.run_dir / "results.json").read_text())
    assert on_disk["accuracy"] == want["accuracy"]


def test_a_later_run_of_a_pair_reports_its_clips_as_stored():
    from bench.store.pipeline import EmbedReport

    shards = [EmbedReport(n_clips=50, n_computed=50, n_windows=400, seconds=2.0, namespace="n"),
              EmbedReport(n_clips=20, n_cached=5, n_computed=15, n_windows=90, seconds=1.0,
                          skipped=[{"clip_id": "x", "path": "p", "reason": "r"}],
                          namespace="n")]
    owner = merge_reports(shards, owner=True)
    assert (owner.n_clips, owner.n_cached, owner.n_computed, owner.n_windows,
            owner.seconds) == (70, 5, 65, 490, 3.0)
    later = merge_reports(shards, owner=False)
    assert (later.n_clips, later.n_cached, later.n_computed, later.n_windows,
            later.seconds) == (70, 70, 0, 0, 0.0)
    assert later.skipped == owner.skipped == shards[1].skipped

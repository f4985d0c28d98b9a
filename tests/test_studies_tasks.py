"""The Dask executor's task functions, called in this process in the order the graph allows:
the run they assemble is the runner's, also when later splits depend on the first
(``grid_search="first_split"``, the hear preset), and each task is idempotent."""

from __future__ import annotations

import json

import pytest
from sweep_fixtures import record_numbers

from bench.runs.runner import execute
from bench.studies.dask_run import plan_study
from bench.studies.study import study_from_dict
from bench.studies.tasks import (RunTicket, classify_task, embed_task, finish_task,
                                 merge_reports)

@pytest.mark.parametrize("protocol", [
    {"preset": "paper", "max_epochs": 2, "learning_rates": [1e-3], "weight_decays": [1e-4]},
    {"preset": "hear", "max_epochs": 6, "grid_sample": 2},  # first_split: chained tasks
])
def test_tasks_in_graph_order_give_the_runners_record(tmp_path, synth_mini_root, protocol):
    study = study_from_dict({
        "name": "tasks", "embedders": ["mfcc"], "datasets": ["synth-mini"],
        "protocol": protocol, "repeats": 2, "data_dir": str(synth_mini_root),
        "cache_dir": str(tmp_path / "cache"), "out_dir": str(tmp_path / "tasks"),
        "tracking": False, "dask": {"shard_clips": 50}})
    graph = plan_study(study, lambda m: None)
    [plan] = graph.plans
    [(pair, runs)] = graph.pairs.items()
    assert graph.shards[pair] == [(0, 50), (50, 100), (100, 120)]
    ticket = RunTicket.of(plan)
    reports = [embed_task(ticket, a, b, 1) for a, b in graph.shards[pair]]
    assert sum(r.n_computed for r in reports) == 120 == sum(r.n_clips for r in reports)
    again = embed_task(ticket, 0, 50, 1)  # idempotent: all stored, nothing computed
    assert again.n_computed == 0 and again.n_cached == 50

    firsts, done = {}, []
    for s, r in sorted(ticket.units):  # split 0 of each repeat first, as the graph orders
        done.append(classify_task(ticket, s, r, reports, 1, firsts.get(r) if s else None))
        if s == 0:
            firsts[r] = done[-1]
    assert all(u.computed for u in done) and len(done) == 5 * 2
    repeated = classify_task(ticket, 3, 1, reports, 1, firsts[1])
    assert not repeated.computed and repeated.accuracy == done[7].accuracy
    record = finish_task(ticket, reports, True, done).record.to_dict()

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

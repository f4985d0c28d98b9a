"""The study graph (``bench.runs.graph``): which units a study has and what each waits for,
and the dry run's wall time scheduled over the same graph."""

from __future__ import annotations

from bench.runs.graph import CLASSIFY, EMBED, FINISH, RunShape, build_graph, shards
from bench.studies.walltime import TaskPlan, wall_time


def _runs():
    # two runs share one embedding pass (pair p), a third has its own; run 1 is first_split
    return [RunShape("a", "p", 5, 2, 2), RunShape("b", "p", 5, 3, 1, first_split=True),
            RunShape("c", "q", 3, 1, 1)]


def test_units_and_their_dependencies():
    graph = build_graph(_runs(), shard_clips=2)
    assert graph.counts() == {EMBED: 3 + 2, CLASSIFY: 4 + 3 + 1, FINISH: 3}
    by_key = {u.key: u for u in graph.units}
    p_embeds = ("embed-p-0", "embed-p-2", "embed-p-4")
    assert [(by_key[k].start, by_key[k].stop, by_key[k].run) for k in p_embeds] == [
        (0, 2, 0), (2, 4, 0), (4, 5, 0)]
    # every_split: each (split, repeat) waits for the pair's embed units only
    assert by_key["classify-a-1-1"].deps == p_embeds
    # first_split: a later split also waits for split 0 of its repeat
    assert by_key["classify-b-0-0"].deps == p_embeds
    assert by_key["classify-b-2-0"].deps == p_embeds + ("classify-b-0-0",)
    # finish: after the embed units and every classify unit of its run; the pair's first run
    # owns (reports) the embedding work
    assert by_key["finish-a"].deps == p_embeds + tuple(
        f"classify-a-{s}-{r}" for s in range(2) for r in range(2))
    assert (by_key["finish-a"].owner, by_key["finish-b"].owner, by_key["finish-c"].owner) == (
        True, False, True)
    # the order is a dependency order, classify units in the record's order
    seen: set[str] = set()
    for u in graph.units:
        assert set(u.deps) <= seen, u.key
        seen.add(u.key)
    assert [(u.split, u.repeat) for u in graph.units if u.kind == CLASSIFY and u.run == 0] == [
        (0, 0), (0, 1), (1, 0), (1, 1)]


def test_done_runs_have_no_units_and_their_pair_is_still_owned_by_its_first_run():
    runs = _runs()
    runs[0] = RunShape("a", "p", 5, 2, 2, done=True)
    runs[2] = RunShape("c", "q", 3, 1, 1, done=True)
    graph = build_graph(runs)
    assert graph.counts() == {EMBED: 1, CLASSIFY: 3, FINISH: 1}
    assert [u.run for u in graph.units if u.kind == EMBED] == [0]  # run a's ticket embeds
    assert not next(u for u in graph.units if u.kind == FINISH).owner
    assert shards(5, None) == [(0, 5)] and shards(0, 3) == [(0, 0)]


def test_wall_time_waits_for_the_first_split():
    # one embed unit (2 s), then run b: split 0 (3 s), then splits 1 and 2 (3 s each), which
    # on many workers run side by side: 2 + 3 + 3 = 8 s; on one worker all the work, 11 s
    graph = build_graph([RunShape("b", "p", 5, 3, 1, first_split=True)])
    costs = {u.key: {EMBED: 2.0, CLASSIFY: 3.0, FINISH: 0.0}[u.kind] for u in graph.units}
    plan = TaskPlan(graph, costs, 0)
    assert wall_time(plan, 8) == 8.0
    assert wall_time(plan, 1) == 11.0
    assert plan.work() == (2.0, 9.0)
    # without the chain the three splits start together after the embedding: 5 s
    free = build_graph([RunShape("b", "p", 5, 3, 1)])
    assert wall_time(TaskPlan(free, {u.key: costs[u.key] for u in free.units}, 0), 8) == 5.0

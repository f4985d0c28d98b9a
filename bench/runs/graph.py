"""A study as data: its units of work and what each waits for, built in this one place.

Every way of running (``bench run`` in this process, the sweep, the Dask and process-pool
executors) and the wall-time estimate read the same graph:

* one **embed** unit per shard of clips of each (embedder, dataset) pair (runs that share the
  store namespace and the audio share one embedding pass; the pair's first run owns it);
* one **classify** unit per (run, split, repeat), after its pair's embed units; under
  ``grid_search="first_split"`` a later split also waits for split 0 of its repeat, whose
  chosen grid point is the only one it trains;
* one **finish** unit per run, after its pair's embed units and its classify units.

Units are plain data (kind, key, run index, dependencies); what a unit does is
:func:`bench.runs.units.perform`. An executor is then only "run these units in dependency
order": :attr:`Graph.units` is such an order, so a loop is the simplest executor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.runs.identity import PlannedRun
from bench.store.format import namespace_description, namespace_key

EMBED, CLASSIFY, FINISH = "embed", "classify", "finish"


@dataclass(frozen=True)
class RunShape:
    """What the graph needs to know of one run (a planned run, or an estimate's row).

    Attributes
    ----------
    name : str
        Unique in the study (the run id): part of every unit's key.
    pair : str
        The embedding pass the run shares with others (store namespace and audio content).
    n_clips, splits, repeats : int
    first_split : bool
        The protocol searches the grid on the first split only.
    done : bool
        Finished before (and not to be rerun): the run has no units.
    """

    name: str
    pair: str
    n_clips: int
    splits: int
    repeats: int
    first_split: bool = False
    done: bool = False

    @classmethod
    def of(cls, plan: PlannedRun) -> "RunShape":
        return cls(plan.run_id, pair_key(plan), len(plan.clips), len(plan.splits),
                   plan.protocol.repeats, plan.protocol.grid_search == "first_split",
                   plan.done and not plan.config.rerun)


@dataclass(frozen=True)
class Unit:
    """One unit of work.

    Attributes
    ----------
    kind : {"embed", "classify", "finish"}
    key : str
        Unique and stable (the run id, the pair, the shard or the split): a second client of
        a Dask scheduler shares the work instead of repeating it.
    run : int
        The run it works for, an index of :attr:`Graph.runs` (embed: the pair's first run).
    deps : tuple of str
        Keys of the units whose results it takes, in this order.
    start, stop : int
        Embed: the clips of the shard, in the dataset's order.
    split, repeat : int
        Classify: the split index and the repeat.
    owner : bool
        Finish: this run reports its pair's embedding work (the later runs of a pair found
        the clips in the store, as in a sequential sweep).
    """

    kind: str
    key: str
    run: int
    deps: tuple[str, ...] = ()
    start: int = 0
    stop: int = 0
    split: int = 0
    repeat: int = 0
    owner: bool = False


@dataclass
class Graph:
    """The runs of a study and their units, each unit after the units it depends on."""

    runs: list[RunShape]
    units: list[Unit]

    def counts(self) -> dict[str, int]:
        """Units of each kind."""
        return {k: sum(u.kind == k for u in self.units) for k in (EMBED, CLASSIFY, FINISH)}


def pair_key(plan: PlannedRun) -> str:
    """What one embed pass serves: the store namespace and the audio content."""
    ns = namespace_key(namespace_description(plan.spec.to_dict(), plan.config.resampler))
    return f"{ns[:16]}-{plan.content[:16]}"


def shards(n_clips: int, shard_clips: int | None) -> list[tuple[int, int]]:
    """``(start, stop)`` of each embed unit's clips: consecutive, at most ``shard_clips``
    (``None``: one shard of every clip)."""
    size = shard_clips or max(1, n_clips)
    return [(s, min(s + size, n_clips)) for s in range(0, n_clips, size)] or [(0, 0)]


def build_graph(runs: list[RunShape], shard_clips: int | None = None) -> Graph:
    """The units of ``runs`` (those not done), pair by pair in the order the runs come.

    Parameters
    ----------
    runs : list of RunShape
    shard_clips : int, optional
        Clips per embed unit (``None``: one embed unit per pair).
    """
    pairs: dict[str, list[int]] = {}
    for i, run in enumerate(runs):
        pairs.setdefault(run.pair, []).append(i)
    units: list[Unit] = []
    for pair, members in pairs.items():
        todo = [i for i in members if not runs[i].done]
        if not todo:
            continue
        owner = members[0]
        embeds = tuple(f"embed-{pair}-{a}" for a, _ in shards(runs[owner].n_clips, shard_clips))
        units += [Unit(EMBED, key, owner, start=a, stop=b)
                  for key, (a, b) in zip(embeds, shards(runs[owner].n_clips, shard_clips))]
        for i in todo:
            units += _run_units(runs[i], i, embeds, owner=i == owner)
    return Graph(runs, units)


def _run_units(run: RunShape, index: int, embeds: tuple[str, ...], owner: bool) -> list[Unit]:
    """One run's classify units in the record's order (split by split, each repeat), then its
    finish unit."""
    classify: list[Unit] = []
    first: dict[int, str] = {}
    for s in range(run.splits):
        for r in range(run.repeats):
            # grid_search="first_split": the later splits of a repeat train split 0's choice
            chained = (first[r],) if run.first_split and s else ()
            unit = Unit(CLASSIFY, f"classify-{run.name}-{s}-{r}", index, embeds + chained,
                        split=s, repeat=r)
            first.setdefault(r, unit.key)
            classify.append(unit)
    return classify + [Unit(FINISH, f"finish-{run.name}", index,
                            embeds + tuple(u.key for u in classify), owner=owner)]


def dependency_results(unit: Unit, results: dict[str, Any]) -> list[Any]:
    """The results ``unit`` takes, in the order of its ``deps``."""
    return [results[d] for d in unit.deps]

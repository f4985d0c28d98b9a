"""A run's identity, found before anything is computed: its key, its id and folder, its work.

The key is the sha256 of everything that changes a run's numbers (embedder spec with weights
sha256, dataset and its audio content, resolved protocol, seed, resampler, tags), so the same
configuration always finds the same run directory, whoever computes it: the runner in one
process, or the units of a study spread over many (``bench.runs.units``).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.datasets.checks import check_leakage
from bench.datasets.names import training_overlap
from bench.runs.config import RunConfig
from bench.runs.record import RESULTS_FILE
from bench.store.pipeline import identify
from bench.store.store import EmbeddingStore


def slug(text: str) -> str:
    """A name made safe for a folder name (runs, studies)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:60] or "x"


def run_id_prefix(dataset: str, embedder: str, preset: str, seed: int) -> str:
    """The readable start of a run directory's name; the rest is the run key's first 8 hex
    digits. Finding a configuration's runs without computing its key starts from here."""
    return f"{slug(dataset)}-{slug(embedder)}-{slug(preset)}-s{seed}-"


def run_key(config: RunConfig, spec_dict: dict[str, Any], dataset_desc: dict[str, Any],
            protocol: dict[str, Any]) -> str:
    """Hash of everything that identifies a run's numbers."""
    ident = {"embedder": spec_dict, "dataset": dataset_desc, "protocol": protocol,
             "seed": config.seed, "resampler": config.resampler, "tags": dict(config.tags),
             "skip_bad": config.skip_bad}
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class PlannedRun:
    """A run found before anything is computed: its identity, its place, its work.

    :func:`execute` makes one and carries it out in this process; an executor of many runs
    (``bench.studies``) makes one per run on its client and again on each worker, where it
    checks that the key agrees (the same dataset content and embedder seen everywhere).

    Attributes
    ----------
    config : RunConfig
    dataset : Dataset
        Prepared.
    spec : EmbedderSpec
        The prepared embedder's spec (weights sha256 included).
    clips : list of Clip
    protocol : ProtocolConfig
        Resolved (``repeats`` filled in from the dataset when the protocol leaves it open).
    identities : tuple
        What :func:`bench.store.pipeline.identify` returned for ``clips``.
    content : str
        sha256 over the clips' audio identities (part of the run's identity).
    key, run_id : str
    run_dir : Path
    warnings : list of str
        The embedder's notes, leakage warnings about the clips, a training-data overlap.
    overlap : list of str
        Datasets the embedder declares it was trained on that are this one.
    notes : tuple of str
        The embedder's own warnings (part of ``warnings``).
    """

    config: RunConfig
    dataset: Any
    spec: Any
    clips: list[Any]
    protocol: Any
    identities: tuple[dict[str, str], list[dict[str, str]]]
    content: str
    key: str
    run_id: str
    run_dir: Path
    warnings: list[str]
    overlap: list[str]
    notes: tuple[str, ...] = ()

    @property
    def splits(self) -> list[Any]:
        return self.dataset.splits()

    @property
    def units(self) -> list[tuple[int, Any, int]]:
        """Every (split index, split, repeat) of the run, in the order the record lists them."""
        return [(i, s, r) for i, s in enumerate(self.splits) for r in range(self.protocol.repeats)]

    @property
    def done(self) -> bool:
        return (self.run_dir / RESULTS_FILE).exists()


def plan_run(config: RunConfig, dataset: Any, spec: Any, store: EmbeddingStore,
             progress: bool = True, notes: list[str] | tuple[str, ...] = ()) -> PlannedRun:
    """The identity of ``config``'s run (hashing the audio files this host has not seen).

    ``notes`` are the embedder's own warnings (``embedder.notes``), kept with the run's."""
    clips = dataset.clips()
    warnings = list(notes) + list(check_leakage(clips))
    overlap = training_overlap(spec.trained_on, (dataset.name, config.dataset))
    if overlap:
        warnings.append(f"training-data overlap: {spec.name} declares it was trained on "
                        f"{', '.join(overlap)}, the dataset evaluated here; its accuracy is not "
                        f"an out-of-sample figure")
    protocol = config.protocol
    if protocol.repeats is None:
        protocol = protocol.replace(repeats=dataset.default_repeats)
    identities = identify(clips, store, skip_bad=config.skip_bad, progress=progress)
    # the audio content is part of the run's identity: a replaced file makes a new run
    content = hashlib.sha256(json.dumps(sorted(identities[0].items())).encode()).hexdigest()
    # identity_dict: the protocol without the extended fields at their defaults, so runs made
    # before those fields existed keep their ids
    key = run_key(config, spec.to_dict(), {**dataset.describe(), "content": content},
                  protocol.identity_dict())
    run_id = run_id_prefix(dataset.name, spec.name, protocol.preset, config.seed) + key[:8]
    return PlannedRun(config, dataset, spec, clips, protocol, identities, content, key, run_id,
                      config.out_dir / run_id, warnings, overlap, tuple(notes))

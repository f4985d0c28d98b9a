"""Hardening round 3 (issue 20): every numeric option of every command is range-checked (a walk
over the click command tree), an abstract class given by import path, a tag given twice and an
in-memory tracking store are one line each, before any work."""

from __future__ import annotations

import math

import click
import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.cli.options import Number
from bench.errors import ConfigError
from bench.runs.config import RunConfig, check_tracking_uri, parse_tags


def _commands(group: click.Group, ctx: click.Context, prefix: tuple[str, ...] = ()):
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, click.Context(cmd, parent=ctx), (*prefix, name))
        else:
            yield (*prefix, name), cmd


def _numeric_options():
    ctx = click.Context(main)
    found = []
    for path, cmd in _commands(main, ctx):
        for p in cmd.params:
            if isinstance(p.type, (click.types.IntParamType, click.types.FloatParamType,
                                   Number)):
                found.append((" ".join(path), p))
    return found


NUMERIC = _numeric_options()


def test_the_walk_finds_the_numeric_options_of_every_command():
    names = {(c, max(p.opts, key=len)) for c, p in NUMERIC}
    assert {("run", "--seed"), ("run", "--lr"), ("sweep", "--gflops"), ("stats", "--seed"),
            ("report", "--seed"), ("check", "--fold-tolerance"),
            ("ui", "--port"), ("stats", "--n-boot"), ("sweep", "--startup-timeout")} <= names
    # run 10, embed 2, sweep 2, stats 4, report 4, check 1, ui 1 (check's --tolerance is a
    # per-metric list, 'acc=1.0,acc.fold=3', range-checked by check_metrics.parse_tolerances)
    assert len(NUMERIC) >= 24


@pytest.mark.parametrize("command, param", NUMERIC,
                         ids=[f"{c}:{max(p.opts, key=len)}" for c, p in NUMERIC])
def test_every_numeric_option_refuses_nan_inf_and_negatives(command, param):
    # click's own INT/FLOAT/IntRange/FloatRange let nan through (nan < 0 is False) and
    # infinities too; every numeric option goes through the shared range table instead
    assert isinstance(param.type, Number), f"bench {command} {param.opts}: {param.type!r}"
    for text in ("nan", "inf", "-inf", "-1", "1e400"):
        with pytest.raises(ConfigError, match="must be"):
            param.type.convert(text, param, None)
    # a default stays valid
    if param.default is not None and not param.multiple:
        value = param.type.convert(param.default, param, None)
        assert math.isfinite(value)


@pytest.mark.parametrize("args, says", [
    (["sweep", "--preset", "paper", "--dry-run", "--gflops", "nan"],
     "--gflops must be a finite number > 0, found nan"),
    (["sweep", "--preset", "paper", "--dry-run", "--gflops", "inf"], "found inf"),
    (["check", "{runs}", "--reference", "paper", "--tolerance", "nan"],
     "tolerance of acc must be a finite number >= 0, found 'nan'"),
    (["check", "{runs}", "--reference", "paper", "--fold-tolerance", "nan"],
     "--fold-tolerance must be a finite number >= 0"),
    (["stats", "{runs}", "--seed", "-1"], "--seed must be an integer >= 0"),
    (["report", "{runs}", "--seed", "-1"], "--seed must be an integer >= 0"),
    (["run", "-e", "mfcc", "-d", "synth-mini", "--tag", "a=1", "--tag", "a=2"],
     "tag 'a' given twice (a=1 and a=2)"),
    (["run", "-e", "mfcc", "-d", "synth-mini", "--tracking-uri", "sqlite://"],
     "is an in-memory SQLite database"),
    (["track", "{runs}", "--tracking-uri", "sqlite:///:memory:"],
     "is an in-memory SQLite database"),
    (["run", "-e", "bench.embedders.base:Embedder", "-d", "synth-mini"],
     "not an embedder class: 'bench.embedders.base:Embedder' is abstract"),
    (["run", "-e", "mfcc", "-d", "bench.datasets.base:Dataset"],
     "not a dataset class: 'bench.datasets.base:Dataset' is abstract / missing load_clips, "
     "prepare"),
])
def test_round_three_inputs_are_one_line_errors(tmp_path, monkeypatch, args, says):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    runs = tmp_path / "runs"
    runs.mkdir()
    args = [a.replace("{runs}", str(runs)) for a in args]
    if args[0] == "run":
        args += ["--out", str(tmp_path / "out"), "--data-dir", str(tmp_path / "data")]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2, res.output
    assert says in res.output and "Traceback" not in res.output
    assert res.output.startswith("error: ")
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("  hint: "))
    assert not (tmp_path / "out").exists()  # nothing ran


class _NoSpec(__import__("bench").Embedder):
    """A user's embedder that forgot its spec."""


class _NoEmbed(__import__("bench").Embedder):
    from bench.embedders.base import EmbedderSpec

    spec = EmbedderSpec(name="x", sample_rate=16000, dim=4, window_s=1.0, hop_s=0.5, version="1")


@pytest.mark.parametrize("cls, says", [
    ("_NoSpec", "is missing its spec (an EmbedderSpec"),
    ("_NoEmbed", "is missing embed_windows"),
])
def test_an_incomplete_embedder_subclass_names_what_it_lacks(cls, says):
    from bench import embedders

    with pytest.raises(ConfigError, match="not an embedder class") as info:
        embedders.create(f"{__name__}:{cls}")
    assert says in str(info.value)


def test_duplicate_tags_and_memory_stores_are_refused_by_the_api_too():
    with pytest.raises(ConfigError, match="given twice"):
        parse_tags(["a=1", "b=2", "a=1"])
    with pytest.raises(ConfigError, match="given twice"):
        RunConfig.build("mfcc", "synth-mini", tags=(("a", "1"), ("a", "2")))
    for uri in ("sqlite://", "sqlite:///:memory:", "SQLITE://", "sqlite+pysqlite://"):
        with pytest.raises(ConfigError, match="in-memory"):
            check_tracking_uri(uri)
    for uri in ("sqlite:///runs/mlflow.db", "sqlite:////abs/mlflow.db", "http://h:5000"):
        assert check_tracking_uri(uri) == uri
    # without tracking, the store is never used, so it is not checked
    assert RunConfig.build("mfcc", "synth-mini", tracking=False,
                           tracking_uri="sqlite://").tracking_uri == "sqlite://"

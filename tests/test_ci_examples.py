"""The CI examples (examples/ci/): the bench commands of the GitHub Actions and GitLab CI
workflows, read from their YAML, run on synth-mini with mfcc: the study, then `bench check
--against` on main's results (a copy), on a degraded copy and on one with a changed protocol."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from bench.cli import main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "ci"
WORKFLOWS = ("github-actions.yml", "gitlab-ci.yml")


def _workflow(name: str) -> tuple[dict, list[str], dict]:
    """(environment, every shell line of the job's scripts, the job) of one workflow file."""
    data = yaml.safe_load((EXAMPLES / name).read_text(encoding="utf-8"))
    if name.startswith("github"):
        job = data["jobs"]["bench"]
        env, scripts = {**data.get("env", {}), **job.get("env", {})}, [
            s["run"] for s in job["steps"] if "run" in s]
    else:
        job = data["bench"]
        env, scripts = job["variables"], job["script"]
    lines = [ln.strip() for s in scripts for ln in s.replace("\\\n", " ").splitlines()]
    return {k: str(v) for k, v in env.items()}, lines, job


def _bench(lines: list[str], sub: str) -> list[str]:
    """The arguments of the one ``bench <sub>`` line."""
    (line,) = [ln for ln in lines if ln.startswith(f"bench {sub} ")]
    return shlex.split(line)[1:]


def _option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


@contextlib.contextmanager
def _env(values: dict[str, str]):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


def _invoke(args: list[str], cwd: Path, env: dict[str, str]):
    with contextlib.chdir(cwd), _env(env):
        return CliRunner().invoke(main, args)


@pytest.fixture(scope="module")
def study(tmp_path_factory, synth_mini_root, mfcc_store):
    """The workflows' study, run once (both run the same command) in a work tree holding
    examples/ci/; data and embedding store from the session's fixtures instead of the CI cache."""
    work = tmp_path_factory.mktemp("ci")
    shutil.copytree(EXAMPLES, work / "examples" / "ci")
    sweeps = {name: _bench(_workflow(name)[1], "sweep") for name in WORKFLOWS}
    assert len({tuple(a) for a in sweeps.values()}) == 1, sweeps
    env, _, _ = _workflow(WORKFLOWS[0])
    env = {**env, "BENCH_DATA_DIR": str(synth_mini_root), "BENCH_CACHE_DIR": str(mfcc_store)}
    args = sweeps[WORKFLOWS[0]]
    out = _invoke(args, work, env)
    assert out.exit_code == 0, out.output
    return work, work / _option(args, "--out"), env


# the study embeds synth-mini and trains 5 folds: 30-60 s on a CPU; the commands' logic is
# tested fast in test_analysis_against.py
@pytest.mark.slow
@pytest.mark.parametrize("name", WORKFLOWS)
def test_workflow_commands_run(name, study, tmp_path):
    work, results, env = study
    wf_env, lines, job = _workflow(name)
    # the embedding store and the data live in what the CI caches
    cached = next(s["with"]["path"] for s in job["steps"]
                  if s.get("uses", "").startswith("actions/cache")) \
        if name.startswith("github") else job["cache"]["paths"][0]
    for var in ("BENCH_CACHE_DIR", "BENCH_DATA_DIR"):
        assert Path(wf_env[var]).is_relative_to(cached.rstrip("/")), (var, cached)
    check = _bench(lines, "check")
    against = _option(check, "--against")
    # main's results are what the main branch's job keeps: the sweep's --out
    if name.startswith("github"):
        kept = [s["with"]["path"] for s in job["steps"] if s.get("with", {}).get("name")
                == "bench-results"]
        assert kept == [str(results.relative_to(work))]
        assert f"--dir {against}" in " ".join(lines)
    else:
        assert f"{results.relative_to(work)}/" in job["artifacts"]["paths"]
        assert against == f"main/{results.relative_to(work)}"
        assert job["artifacts"]["reports"]["junit"] == _option(check, "--junit")

    tree = tmp_path / "tree"
    shutil.copytree(results, tree / results.relative_to(work))
    shutil.copytree(results, tree / against)  # main's artifact: the same study, unchanged
    out = _invoke(check, tree, env)
    assert out.exit_code == 0, out.output
    junit, md = tree / _option(check, "--junit"), tree / _option(check, "--markdown")
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite.get("tests") == "2" and suite.get("failures") == "0"
    assert "**PASS: 2 ok" in md.read_text(encoding="utf-8")

    # main was 10 points better on every fold: a regression of 10 points
    main_json = next((tree / against).glob("*/results.json"))
    data = json.loads(main_json.read_text())
    for f in data["folds"]:
        f["accuracy"] += 0.10
        if "metrics" in f:  # schema 2 keeps each fold's metrics by name too
            f["metrics"]["accuracy"] = f["accuracy"]
    main_json.write_text(json.dumps(data))
    out = _invoke(check, tree, env)
    assert out.exit_code == 1, out.output
    failed = {c.get("name"): c.find("failure") for c in ET.parse(junit).getroot().iter("testcase")}
    assert failed["acc [paper s0]"].get("type") == "regression"
    assert "delta=-10.00" in failed["acc [paper s0]"].get("message")
    assert failed["acc.fold [paper s0]"].get("type") == "moved"  # 10 > 3 points on every fold
    assert "❌ regression" in md.read_text(encoding="utf-8")

    # main ran another protocol: not comparable, the field named
    data["protocol"]["max_epochs"] += 1
    main_json.write_text(json.dumps(data))
    out = _invoke(check, tree, env)
    assert out.exit_code == 2
    errors = list(ET.parse(junit).getroot().iter("error"))
    assert errors and all("max_epochs" in e.get("message") for e in errors)

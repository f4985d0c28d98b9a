"""The layout contract of docs/architecture.md, as a test.

Every import of a bench module, at the top of a file or inside a function, is an edge of the
import graph. The graph has no cycle, and no package imports a package of a higher stage (or
another package of its own stage): the pipeline reads bottom-up, data -> audio -> embeddings ->
store -> evaluation -> runs -> analysis/tracking -> studies -> the Python API (bench.api) ->
the command line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "bench"

#: stages from the bottom; a package may import its own modules and any lower stage's
STAGES = (
    ("errors", "_version"),  # the exception hierarchy; the version string (bench/_version.py)
    ("util",),
    ("io",),
    ("audio",),
    ("datasets", "embedders"),
    ("store",),
    ("evaluation",),
    ("runs",),
    ("analysis", "tracking"),
    ("studies",),
    ("api",),  # bench/api.py, the Python API (re-exported lazily by bench/__init__.py)
    ("cli",),  # the command line calls the API
    ("__main__",),
)
RANK = {pkg: i for i, stage in enumerate(STAGES) for pkg in stage}
MAX_LINES = 400
#: modules still waiting for their split (each named with the work that splits it)
KNOWN_LONG: set[str] = set()


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The bench modules ``path`` imports (``from bench.x import y`` is ``bench.x.y`` when y is a
    module, else ``bench.x``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules
                     else node.module for a in node.names]
        else:
            continue
        found.update(n for n in names if n == "bench" or n.startswith("bench."))
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: {m for m in _imports(path, modules) if m in modules and m != name}
            for name, path in modules.items()}


def _package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None  # the root package itself: the public API


def test_every_package_has_a_stage():
    unknown = {_package(m) for m in _modules()} - set(RANK) - {None}
    assert not unknown, f"packages missing from STAGES (and docs/architecture.md): {unknown}"


def test_no_upward_or_sideways_import():
    bad = []
    for module, deps in _graph().items():
        pkg = _package(module)
        if pkg is None:
            continue
        for dep in deps:
            dep_pkg = _package(dep)
            if dep_pkg is None or dep_pkg == pkg:
                continue  # the root package (see test_nothing_imports_from_the_root_package); own package
            if RANK[dep_pkg] >= RANK[pkg]:
                bad.append(f"{module} -> {dep}")
    assert not bad, "imports against the stage order:\n" + "\n".join(sorted(bad))


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle():
    # the root package only re-exports the API lazily; edges into it are not dependencies
    graph = {m: {d for d in deps if d != "bench"} for m, deps in _graph().items()}
    assert _cycles(graph) == []


def test_the_generic_weights_code_imports_no_embedder_family():
    # the families declare their files and import the generic code, never the other way round
    # (it reads a family's checker and picker by the names a table gives, when it needs them)
    graph = _graph()
    bad = [f"{m} -> {d}" for m, deps in graph.items() if m.startswith("bench.embedders.weights")
           for d in deps if (d == "bench.embedders" or d.startswith("bench.embedders."))
           and not d.startswith("bench.embedders.weights")]
    assert not bad, "\n".join(sorted(bad))
    assert any(m.startswith("bench.embedders.weights.") for m in graph)


def test_the_checker_finds_a_cycle_and_an_upward_import():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert RANK["audio"] < RANK["embedders"] < RANK["store"] < RANK["runs"] < RANK["cli"]


@pytest.mark.parametrize("path", sorted(ROOT.rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_stay_small(path):
    n = len(path.read_text().splitlines())
    if str(path.relative_to(ROOT)) in KNOWN_LONG and n > MAX_LINES:
        pytest.xfail("split pending")
    assert n <= MAX_LINES, f"{path.relative_to(ROOT)} has {n} lines (at most {MAX_LINES})"


#: names defined at the top of several modules on purpose: one concept, one name per place
#: (`create`/`names` of each registry, `load`/`check_file` of each weights format, the tracked
#: and untracked `execute`, the audio `load`, `rows`/`find` of the embedders' and the datasets'
#: facts tables) and the command functions in bench/cli/
SAME_CONCEPT = {"create", "names", "load", "check_file", "execute", "rows", "find"}


def test_no_name_defined_twice_for_different_things():
    seen: dict[str, list[str]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("cli/"):
            continue
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name not in SAME_CONCEPT:
                seen.setdefault(node.name, []).append(rel)
    twice = {name: where for name, where in seen.items() if len(where) > 1}
    assert not twice, f"one name, several things: {twice}"


#: The lazy points: the only places where a bench module (or a module named at run time) is
#: imported inside a function, each with its reason (docs/architecture.md, rule 4, lists them
#: too). Everywhere else bench's own modules are imported at the top of the file.
LAZY_POINTS = {
    ("__init__.py", "__getattr__"):
        "`import bench` stays light: the Python API (bench.api) loads on first use of bench.X",
    ("cli/__init__.py", "get_command"):
        "`bench --help` stays light: a command's module loads when that command runs",
    ("util/registry.py", "import_target"):
        "listing names stays light: a registry name's class (and torch with it) loads when "
        "the name is built",
    ("datasets/meta.py", "_scan"):
        "the datasets' table reads the dataset files, which import bench.datasets.meta "
        "(at the top, that would be a cycle)",
    ("embedders/hear.py", "_import"):
        "the user's HEAR package, named at run time (--embedder hear:MODULE)",
}


def _in_function_imports(tree: ast.AST) -> list[tuple[str, int, str]]:
    """(enclosing function, line, what) for every import of a bench module inside a function
    and every ``importlib.import_module`` call (the dynamic form)."""
    found = []

    def visit(node: ast.AST, func: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                else func
            if func is not None:
                if isinstance(child, ast.ImportFrom) and child.level == 0 and child.module and \
                        (child.module == "bench" or child.module.startswith("bench.")):
                    found.append((func, child.lineno, f"from {child.module} import ..."))
                elif isinstance(child, ast.Import) and any(
                        a.name == "bench" or a.name.startswith("bench.") for a in child.names):
                    found.append((func, child.lineno, "import bench..."))
                elif isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute) and \
                        child.func.attr == "import_module":
                    found.append((func, child.lineno, "importlib.import_module(...)"))
            visit(child, name)

    visit(tree, None)
    return found


def test_bench_modules_are_imported_at_the_top():
    bad, used = [], set()
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for func, line, what in _in_function_imports(ast.parse(path.read_text())):
            if (rel, func) in LAZY_POINTS:
                used.add((rel, func))
            else:
                bad.append(f"{rel}:{line} in {func}(): {what}")
    assert not bad, ("in-function imports outside the documented lazy points (move them to "
                     "the top, or add a lazy point with its reason here and in "
                     "docs/architecture.md):\n" + "\n".join(bad))
    assert used == set(LAZY_POINTS), f"lazy points that no longer exist: {set(LAZY_POINTS) - used}"


def test_the_lazy_points_are_documented():
    doc = (ROOT.parent / "docs" / "architecture.md").read_text()
    missing = [f"{rel}:{func}" for rel, func in LAZY_POINTS if f"`{func}`" not in doc
               or f"{rel}" not in doc]
    assert not missing, f"lazy points missing from docs/architecture.md: {missing}"


def test_the_lazy_import_checker_sees_every_form():
    code = ("import bench.util\nfrom bench.errors import BenchError\n"
            "def f():\n    from bench.audio import frames\n    import bench.io\n"
            "    def g():\n        importlib.import_module('x')\n")
    assert [(f, line) for f, line, _ in _in_function_imports(ast.parse(code))] == \
        [("f", 4), ("f", 5), ("g", 7)]


def _root_imports(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, name) of every ``from bench import name`` and every plain ``import bench``."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "bench":
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.Import):
            out += [(node.lineno, "bench") for a in node.names if a.name == "bench"]
    return out


def test_nothing_imports_from_the_root_package():
    # the root only re-exports the API lazily (and __version__ from bench/_version.py); a
    # module below it reads a name from the module that defines it, never from the root
    modules = _modules()
    bad = [f"{path.relative_to(ROOT)}:{line} imports {name!r} from the root package"
           for path in sorted(ROOT.rglob("*.py")) if path != ROOT / "__init__.py"
           for line, name in _root_imports(ast.parse(path.read_text()))
           if f"bench.{name}" not in modules]
    assert not bad, "\n".join(bad)
    assert _root_imports(ast.parse("from bench import __version__, datasets\nimport bench")) == \
        [(1, "__version__"), (1, "datasets"), (2, "bench")]


def test_no_reference_to_a_missing_design_document():
    gone = "DESIGN" + ".md"  # the old design notes, replaced by docs/
    bad = [str(p.relative_to(ROOT.parent)) for folder in ("bench", "tests")
           for p in sorted((ROOT.parent / folder).rglob("*.py")) if gone in p.read_text()]
    assert not bad, f"{gone} is not in the repository; point at docs/ instead: {bad}"

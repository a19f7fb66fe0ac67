"""The package's floors: the stage contract at the bottom, stages above it, the pipeline and CLI on top.

The import graph is read from the source (every ``import`` of a yolopress module, at module level
or inside a function, and every ``"yolopress.x:func"`` entry string the pipeline resolves later),
so a lazy import cannot hide a circle.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "yolopress"
TOP = {"yolopress.pipeline", "yolopress.cli", "yolopress.__main__"}  # may import anything; nothing below them does
ENTRY = re.compile(r"^(yolopress(?:\.\w+)+):\w+$")


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the yolopress modules it imports (anywhere in its source) or names as a stage entry."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:  # `from yolopress.x import y` imports module x.y when there is one
                    sub = f"{node.module}.{alias.name}"
                    deps.add(sub if sub in modules else node.module)
            elif isinstance(node, ast.Import):
                deps.update(alias.name for alias in node.names)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and (m := ENTRY.match(node.value)):
                deps.add(m.group(1))
        graph[name] = {d for d in deps if d in modules and d not in (name, "yolopress")}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every circle, as the path that closes it (depth-first search)."""
    found, state = [], {}  # state: 1 on the current path, 2 done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                found.append(path[path.index(dep) :] + [dep])
            elif dep not in state:
                visit(dep, [*path, dep])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_cycle_finder_finds_a_circle_through_a_lazy_import():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_package_has_no_import_circle():
    graph = import_graph()
    assert "yolopress.stage" in graph and "yolopress.compress.distill" in graph["yolopress.pipeline"]
    assert cycles(graph) == []


def test_only_the_top_floor_imports_the_pipeline():
    importers = sorted(m for m, deps in import_graph().items() if TOP & deps and m not in TOP)
    assert importers == []


def test_the_stage_contract_imports_no_stage():
    assert import_graph()["yolopress.stage"] <= {"yolopress.io", "yolopress.ui", "yolopress.config"}


def test_the_config_stays_free_of_torch():
    code = "import sys, yolopress.config; assert 'torch' not in sys.modules, 'yolopress.config imported torch'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_module_imports_on_its_own():
    """Each module imported first, in a fresh set of yolopress modules (heavy third-party ones stay loaded)."""
    names = sorted(set(_modules()) - {"yolopress.__main__"})  # that one runs the command when imported
    code = f"""
import importlib, sys
failed = []
for name in {names!r}:
    for loaded in [m for m in sys.modules if m == "yolopress" or m.startswith("yolopress.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except ImportError as e:
        if "tensorrt" not in str(e).lower():  # modules that need TensorRT are tested where it is installed
            failed.append(f"{{name}}: {{e!r}}")
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]

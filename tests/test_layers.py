"""The package's layering, read from the code's imports: every stage imports only the stages
below it (docs/architecture.md draws them), and no modules import each other in a circle."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "spreadwatch"

#: The stages from the ground up; a stage may import those of lower tiers only (not its own
#: tier's other stages).
TIERS = [
    {
        "configfile",
        "progress",
        "duck",
        "kst",
        "durable",
        "interning",
        "spark_sessions",
        "allocator",
    },
    {"privacy", "regions", "access", "tracing", "ordering"},
    {"synth", "model"},
    {"ingest"},
    {"fusion", "infer"},
    {"release", "forecast"},
    {"risk", "air"},
    {"alerts", "report"},
    {"api", "demo", "warmup"},
    {"commands"},
    {"cli"},
    {"__main__"},
]
TIER = {stage: n for n, stage_set in enumerate(TIERS) for stage in stage_set}


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The ``spreadwatch`` modules ``path`` imports (at any depth of its code)."""
    found = set()
    package = _module(path) if path.name == "__init__.py" else _module(path).rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("spreadwatch.")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            if base.startswith("spreadwatch"):
                found |= {f"{base}.{a.name}" for a in node.names}
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        for target in _imports(path):
            while target not in modules and "." in target:
                target = target.rsplit(".", 1)[0]  # a name imported from a module
            if target in modules and target != name and target != "spreadwatch":
                graph[name].add(target)
    return graph


def _stage(module: str) -> str:
    return module.split(".")[1] if "." in module else module


def test_every_stage_imports_only_stages_below_it():
    wrong = []
    for module, targets in _graph().items():
        stage = _stage(module)
        assert stage in TIER, f"{stage}: a stage of no tier (add it to TIERS and the docs)"
        for target in targets:
            other = _stage(target)
            if other != stage and TIER[other] >= TIER[stage]:
                wrong.append(f"{module} imports {target} ({stage} stands at or below {other})")
    assert not wrong, "\n".join(sorted(wrong))


def test_no_modules_import_each_other_in_a_circle():
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the path, 2: done
    circles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                circles.append(" -> ".join([*path[path.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not circles, "\n".join(circles)


def test_the_layering_sees_the_imports_it_judges():
    """The reader finds a known downward import, so a silent reader cannot pass the tests."""
    graph = _graph()
    assert "spreadwatch.ingest.store" in graph["spreadwatch.fusion.flows"]
    assert "spreadwatch.release.ledger" in graph["spreadwatch.release.dp"]

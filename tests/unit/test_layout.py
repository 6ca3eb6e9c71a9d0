"""The house drawn from the code: imports run one way only (cli -> server -> services -> policy,
audit, config -> engine -> shared basics), only the engine imports docker, rule ids are defined
in one place, and no module or function outgrows what one reader holds at once."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import manyoyo_mcp
from manyoyo_mcp.policy import rule_ids

PACKAGE = Path(manyoyo_mcp.__file__).parent
# Lowest first: a module may import from its own layer and the layers below, never from above.
LAYERS = (
    ("__init__", "errors", "credentials", "egress", "limits", "output", "threads", "models"),  # shared basics
    ("engine",),
    ("config",),
    ("policy",),
    ("audit",),
    ("sandbox",),  # the services: sandboxes, then what lives inside them
    ("nested",),
    ("server",),
    ("cli", "__main__"),
)
RULE_ID = re.compile(
    r"(tool|arguments|policy|sandbox|host|limits|image|nested|build|quota|mode|profile|sock|network|audit)\.[a-z-]+"
)
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


def modules() -> list[tuple[str, ast.Module, int]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text()
        found.append((str(path.relative_to(PACKAGE.parent)), ast.parse(source), len(source.splitlines())))
    return found


def layer(module: str) -> int:
    """The layer of a dotted module name or a path inside the package."""
    parts = re.split(r"[./]", module.removesuffix(".py"))
    top = parts[1] if len(parts) > 1 else "__init__"
    if not (PACKAGE / top).is_dir() and not (PACKAGE / f"{top}.py").exists():
        top = "__init__"  # a name the package itself defines (__version__)
    return next(i for i, names in enumerate(LAYERS) if top in names)


def imported(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, module) of every import of the package's own modules, at any depth (lazy ones too)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("manyoyo_mcp"):
            assert node.module is not None
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.startswith("manyoyo_mcp")]
    return found


def test_imports_never_run_up_the_layers():
    upward = [
        f"{path}:{line} imports {target}"
        for path, tree, _ in modules()
        for line, target in imported(tree)
        if layer(target) > layer(path)
    ]
    assert upward == []


def test_only_the_engine_package_imports_docker():
    outside = [
        f"{path}:{node.lineno}"
        for path, tree, _ in modules()
        if not path.startswith("manyoyo_mcp/engine/")
        for node in ast.walk(tree)
        if (isinstance(node, ast.Import) and any(a.name.split(".")[0] == "docker" for a in node.names))
        or (isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "docker")
    ]
    assert outside == []


def test_rule_ids_are_defined_in_one_place():
    literals = [
        f"{path}:{node.lineno} {node.value!r}"
        for path, tree, _ in modules()
        if path != "manyoyo_mcp/policy/rule_ids.py"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and RULE_ID.fullmatch(node.value)
    ]
    assert literals == []
    assert all(RULE_ID.fullmatch(rule) or rule == "tool.<name>" for rule in rule_ids.TABLE)


@pytest.mark.parametrize(("path", "tree", "lines"), modules(), ids=[path for path, _, _ in modules()])
def test_no_module_or_function_outgrows_one_reading(path, tree, lines):
    assert lines <= MAX_MODULE_LINES, f"{path} has {lines} lines"
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            length = (node.end_lineno or start) - start + 1
            assert length <= MAX_FUNCTION_LINES, f"{path}:{node.lineno} {node.name} has {length} lines"

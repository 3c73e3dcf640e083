"""The package's layers, as the README's layout section draws them, kept true.

Every import in every module counts, the ones inside functions too (they run, only
later).  Imports under ``if TYPE_CHECKING:`` never run: they are held to the layers but
not counted for cycles.  A module may import its own layer and the layers below; never
one above, never in a cycle, and never another package's private (``_x``) module or a
private name of another module.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "remediations"

# Bottom first.  A module belongs to the first layer with a prefix that names it (the
# longest prefix wins); every module must belong to one.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "foundations: errors, Exchange facts and cmdlet values, plans, NDR knowledge",
        (
            "remediations",
            "remediations.errors",
            "remediations.terminal",
            "remediations.yaml_loader",
            "remediations.budget",
            "remediations.progress",
            "remediations.interrupts",
            "remediations.endpoints",
            "remediations.action_inputs",
            # the typed Directory interface and which cmdlets are Graph's (cmdlets.py), as
            # exchange.cmdlet is for Exchange; its implementations are tenant access
            "remediations.directory",
            "remediations.graph_cmdlets",
            "remediations.exchange",
            "remediations.exchange.cmdlet",
            "remediations.exchange.facts",
            "remediations.plan",
            "remediations.ndr",
        ),
    ),
    (
        "tenant access: transports, directory, DNS, the sandbox, targets",
        (
            "remediations.credentials",
            "remediations.dns_lookup",
            "remediations.exchange.adminapi",
            "remediations.exchange.psrp",
            "remediations.exchange.dryrun",
            "remediations.directory.graph",
            "remediations.directory.sandbox",
            "remediations.sandbox",
            "remediations.target",
        ),
    ),
    (
        "the verbs: actions, audit log, permissions",
        (
            "remediations.actions",
            "remediations.audit",
            "remediations.permissions",
            # many targets of one action, and the batched reads they go through
            "remediations.fleet",
        ),
    ),
    ("the lifecycle: engine", ("remediations.engine",)),
    ("playbooks", ("remediations.playbooks",)),
    ("diagnosis", ("remediations.diagnose",)),
    ("the edge: cli", ("remediations.cli",)),
    ("tasks.py", ("tasks",)),
    # they drive the edge (the command line in-process) and serve what the edge talks to
    ("test helpers shipped for tests and users", ("remediations.testing",)),
)


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    name: str  # the name imported from ``target`` ("" for ``import x``)
    line: int
    type_checking: bool


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    found["tasks"] = ROOT / "tasks.py"
    return found


MODULES = _modules()


def _statements(body: list[ast.stmt], checking: bool = False) -> Iterator[tuple[ast.stmt, bool]]:
    """Every statement in ``body`` and the blocks nested in it, each with whether it is under
    ``if TYPE_CHECKING:``.  Imports are statements, so expressions are never walked."""
    for node in body:
        yield node, checking
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from _statements(node.body, True)
            yield from _statements(node.orelse, checking)
            continue
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            for block in getattr(node, field, None) or ():
                if isinstance(block, ast.stmt):
                    yield from _statements([block], checking)
                else:  # an except handler or a match case: its own body of statements
                    yield from _statements(block.body, checking)


def _known(name: str) -> str | None:
    """The longest module of ours that ``name`` names (``a.b.c`` -> ``a.b`` if c is a name)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str, path: Path) -> list[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    found: list[Import] = []
    for node, tc in _statements(tree.body):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _known(alias.name)
                if target and alias.name.split(".")[0] in ("remediations", "tasks"):
                    found.append(Import(module, target, "", node.lineno, tc))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            if base.split(".")[0] != "remediations":
                continue
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                if submodule in MODULES:
                    found.append(Import(module, submodule, "", node.lineno, tc))
                else:
                    target = _known(base)
                    assert target, f"{path}:{node.lineno} imports {base}, not a module of ours"
                    found.append(Import(module, target, alias.name, node.lineno, tc))
    return found


@functools.cache
def imports() -> tuple[Import, ...]:
    """Every import between our modules, parsed when a test first asks (not at collection)."""
    return tuple(imp for module, path in MODULES.items() for imp in _imports(module, path))


def layer_of(module: str) -> int:
    best: tuple[int, int] | None = None  # (prefix length, layer)
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            named = module == prefix or module.startswith(prefix + ".")
            if named and (best is None or len(prefix) > best[0]):
                best = (len(prefix), index)
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS and the README")
    return best[1]


def _where(imp: Import) -> str:
    return f"{MODULES[imp.source].relative_to(ROOT)}:{imp.line}"


def test_every_module_is_in_a_layer() -> None:
    for module in MODULES:
        layer_of(module)


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = [
        f"{_where(imp)}: {imp.source} ({LAYERS[layer_of(imp.source)][0]}) imports "
        f"{imp.target} ({LAYERS[layer_of(imp.target)][0]})"
        for imp in imports()
        if layer_of(imp.target) > layer_of(imp.source)
    ]
    assert upward == []


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), or a self-loop."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1 or node in edges.get(node, ()):
                found.append(sorted(component))

    for node in sorted(MODULES):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles() -> None:
    edges: dict[str, set[str]] = {}
    for imp in imports():
        if not imp.type_checking and imp.target != imp.source:
            edges.setdefault(imp.source, set()).add(imp.target)
    assert _cycles(edges) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"remediations.errors": {"remediations.plan"}, "remediations.plan": {
        "remediations.errors"}}) == [["remediations.errors", "remediations.plan"]]  # fmt: skip


def _package(module: str) -> str:
    return module.rpartition(".")[0]


def test_no_private_module_of_another_package_is_imported() -> None:
    private = [
        f"{_where(imp)}: {imp.source} imports {imp.target}"
        for imp in imports()
        if any(part.startswith("_") for part in imp.target.split("."))
        and _package(imp.target) != _package(imp.source)
        and _package(imp.target) != imp.source
    ]
    assert private == []


def test_no_private_name_of_another_module_is_imported() -> None:
    private = [
        f"{_where(imp)}: {imp.source} imports {imp.name} from {imp.target}"
        for imp in imports()
        if imp.name.startswith("_") and imp.target != imp.source
    ]
    assert private == []


def test_the_readme_layout_names_every_top_level_package() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    tops = {
        module.split(".")[1]
        for module in MODULES
        if module.startswith("remediations.") and module.count(".") >= 1
    }
    missing = sorted(name for name in tops if name not in layout)
    assert missing == []


@pytest.mark.parametrize("module", ["remediations.sandbox.mailflow", "remediations.diagnose"])
def test_ndr_knowledge_is_below_the_sandbox_and_the_diagnosis(module: str) -> None:
    assert layer_of("remediations.ndr.codes") < layer_of(module)

"""The package's shape: modules import alone, the import graph has no cycle
(function-local imports included: they must not hide one), and no module
holds state that another module reads or writes."""

import ast
import functools
import subprocess
import sys
from pathlib import Path

import patchkit

PKG = Path(patchkit.__file__).resolve().parent


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PKG.rglob("*.py"))}


@functools.cache
def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text())


def imports_of(path: Path) -> set[str]:
    """Every patchkit module path imports, at module level or inside a function."""
    found = set()
    for node in ast.walk(parsed(path)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "patchkit":
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("patchkit."))
    return {m for m in found if m in MODULES and m != "patchkit"}


def graph() -> dict[str, set[str]]:
    return {m: imports_of(p) - {m} for m, p in MODULES.items()}


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}   # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for dep in sorted(g[m]):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(g):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_the_import_graph_has_no_cycle():
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_every_module_imports_alone():
    """Each module imported into a fresh set of modules (no other patchkit module
    loaded first), so none works only because another was imported before it."""
    script = (
        "import importlib, sys\n"
        "bad = []\n"
        f"for name in {sorted(set(MODULES) - {'patchkit.__main__'})!r}:\n"
        "    for loaded in [m for m in sys.modules if m == 'patchkit' or m.startswith('patchkit.')]:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as exc:\n"
        "        bad.append(f'{name}: {type(exc).__name__}: {exc}')\n"
        "print('\\n'.join(bad))\n"
        "sys.exit(1 if bad else 0)\n")
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=PKG.parent)
    assert res.returncode == 0, res.stdout + res.stderr


def module_aliases(tree: ast.Module) -> dict[str, str]:
    """Local name -> patchkit module, for `from patchkit import x as y` and `import patchkit.x`."""
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "patchkit":
            for a in node.names:
                if f"{node.module}.{a.name}" in MODULES:
                    aliases[a.asname or a.name] = f"{node.module}.{a.name}"
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name in MODULES and a.asname:
                    aliases[a.asname] = a.name
    return aliases


def test_no_module_writes_another_modules_state():
    """`proc.DRY_RUN = ...` from the CLI was the pattern: options now travel as
    one frozen object (patchkit/options.py)."""
    writes = []
    for name, path in MODULES.items():
        tree = parsed(path)
        aliases = module_aliases(tree)
        for node in ast.walk(tree):
            targets = node.targets if isinstance(node, ast.Assign) else (
                [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else [])
            for t in targets:
                if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id in aliases:
                    writes.append(f"{name}:{node.lineno} assigns {aliases[t.value.id]}.{t.attr}")
    assert writes == []


def test_state_a_module_rebinds_is_read_by_that_module_only():
    """A name a function rebinds with `global` is the module's own: no other
    module reads it (it would see a value that changes under it)."""
    rebound = {}
    for name, path in MODULES.items():
        for node in ast.walk(parsed(path)):
            if isinstance(node, ast.Global):
                rebound.update({g: name for g in node.names})
    readers = []
    for name, path in MODULES.items():
        tree = parsed(path)
        aliases = module_aliases(tree)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.attr in rebound and aliases.get(node.value.id) == rebound[node.attr]):
                readers.append(f"{name}:{node.lineno} reads {rebound[node.attr]}.{node.attr}")
    assert readers == []


def test_the_run_options_are_frozen():
    import dataclasses

    from patchkit import options

    assert dataclasses.fields(options.Options)
    assert options.Options.__dataclass_params__.frozen


MUTATORS = {"append", "extend", "insert", "pop", "popitem", "remove", "clear", "update", "setdefault",
            "add", "discard"}


def mutated_module_state() -> dict[tuple[str, str], int]:
    """(module, name): first line where a module-level container of the module
    is changed at run time (item assignment, del, append/update/...)."""
    found = {}
    for name, path in MODULES.items():
        tree = parsed(path)
        top = {t.id for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))
               for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
               if isinstance(t, ast.Name)}
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, (ast.Assign, ast.Delete)):
                targets = node.targets
            elif isinstance(node, ast.AugAssign):
                targets = [node.target]
            for t in targets:
                if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name) and t.value.id in top:
                    found.setdefault((name, t.value.id), node.lineno)
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in MUTATORS and isinstance(node.func.value, ast.Name)
                    and node.func.value.id in top):
                found.setdefault((name, node.func.value.id), node.lineno)
    return found


def test_module_state_that_changes_is_private_to_its_module():
    """The only module-level values that change at run time (ui's live lines,
    worktrees' held locks) are private and no other module reads them."""
    state = mutated_module_state()
    assert set(state) == {("patchkit.ui", "_ACTIVE"), ("patchkit.worktrees", "_HELD_WORKTREES")}, state
    assert all(n.startswith("_") for _, n in state)
    readers = []
    for name, path in MODULES.items():
        tree = parsed(path)
        aliases = module_aliases(tree)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and (aliases.get(node.value.id), node.attr) in state):
                readers.append(f"{name}:{node.lineno} reads {aliases[node.value.id]}.{node.attr}")
    assert readers == []


def test_scripts_beside_the_package_write_no_module_state_either():
    """timing/ and scripts/ run patchkit too: they pass options, never assign them."""
    writes = []
    for path in sorted((PKG.parent / "timing").glob("*.py")) + sorted((PKG.parent / "scripts").glob("*.py")):
        tree = parsed(path)
        aliases = module_aliases(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign):
                for t in node.targets:
                    if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id in aliases:
                        writes.append(f"{path.name}:{node.lineno} assigns {aliases[t.value.id]}.{t.attr}")
    assert writes == []

"""The import graph: no cycles among dpedu's modules, dpedu.config at the bottom, `import dpedu` light."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import dpedu

PACKAGE = Path(dpedu.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top_level_imports(path: Path, deferred: bool = False) -> set[str]:
    """The dpedu modules a module imports when it is imported: statements at module level (also inside
    `if`/`try` there), not those inside functions, which run only when called; with deferred=True those too."""
    tree = ast.parse(path.read_text())
    found, package = set(), module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    stack = list(ast.walk(tree)) if deferred else list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import: resolve against this module's package
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}  # `from pkg import module`
        elif not deferred and isinstance(node, (ast.If, ast.Try)):
            stack += node.body + node.orelse + getattr(node, "finalbody", []) + [
                n for h in getattr(node, "handlers", []) for n in h.body]
    return {name for name in found if name == "dpedu" or name.startswith("dpedu.")}


def import_graph(deferred: bool = False) -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        # Importing a.b.c runs a/__init__ and a/b/__init__ first: those are edges too, except to the packages
        # that contain this module, which Python has started importing before it.
        targets = set()
        for target in top_level_imports(path, deferred):
            parts = target.split(".")
            targets |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
        own = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        graph[name] = {t for t in targets if t in modules and t != name and t not in own}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state, path = {}, []

    def visit(node):
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        state[node] = "done"
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_import_graph_has_no_cycle():
    graph = import_graph()
    assert {"dpedu.config", "dpedu.trainer", "dpedu.envs.detour", "dpedu.evaluate"} <= set(graph)
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_no_cycle_hides_behind_an_import_inside_a_function():
    # An import moved into a function defers a cycle, it does not remove it: envs/__init__ -> envs/detour ->
    # (inside episode_measures) evaluate -> envs/__init__ was one.
    graph = import_graph(deferred=True)
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_cycle_finder_finds_a_cycle():
    # The cycle this test was written against: envs/__init__ -> envs/detour -> evaluate -> envs/__init__.
    graph = {"dpedu.envs": {"dpedu.envs.detour"}, "dpedu.envs.detour": {"dpedu.evaluate"},
             "dpedu.evaluate": {"dpedu.envs"}, "dpedu.config": set()}
    assert find_cycle(graph) == ["dpedu.envs", "dpedu.envs.detour", "dpedu.evaluate", "dpedu.envs"]


def test_config_imports_no_other_dpedu_module():
    assert import_graph()["dpedu.config"] <= {"dpedu"}


def loaded_after(statement: str) -> set[str]:
    """The modules a fresh interpreter has loaded after `statement`."""
    code = f"import json, sys; {statement}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=PACKAGE.parent)
    return set(json.loads(out.stdout))


def heavy(modules: set[str], names: tuple[str, ...]) -> set[str]:
    return {m for m in modules if m.split(".")[0] in names or any(m.startswith(n + ".") or m == n for n in names)}


def test_import_dpedu_config_loads_no_component_and_no_torch():
    loaded = loaded_after("import dpedu.config")
    assert not heavy(loaded, ("dpedu.envs", "dpedu.networks", "dpedu.diffusion", "torch", "scipy")), \
        sorted(heavy(loaded, ("dpedu.envs", "dpedu.networks", "dpedu.diffusion", "torch", "scipy")))
    # gymnasium is there only because `import dpedu` registers dpedu/Detour-v0 with it; config.py itself,
    # loaded on its own, pulls in neither gymnasium nor torch:
    standalone = loaded_after("import importlib.util as u; s = u.spec_from_file_location('cfg', 'dpedu/config.py'); "
                              "m = u.module_from_spec(s); sys.modules['cfg'] = m; s.loader.exec_module(m)")
    assert not heavy(standalone, ("dpedu", "torch", "scipy", "gymnasium")), sorted(
        heavy(standalone, ("dpedu", "torch", "scipy", "gymnasium")))


def test_import_dpedu_loads_no_scipy_no_matplotlib_and_registers_detour():
    loaded = loaded_after("import dpedu, gymnasium; assert 'dpedu/Detour-v0' in gymnasium.registry")
    assert not heavy(loaded, ("scipy", "matplotlib")), sorted(heavy(loaded, ("scipy", "matplotlib")))


@pytest.mark.parametrize("statement", ["from dpedu import Trainer, DiffusionPolicy", "import dpedu.evaluate"])
def test_the_public_api_loads_no_scipy_no_matplotlib(statement):
    loaded = loaded_after(statement)
    assert not heavy(loaded, ("scipy", "matplotlib", "ipywidgets")), sorted(
        heavy(loaded, ("scipy", "matplotlib", "ipywidgets")))


def test_detour_registration_matches_its_module():
    import gymnasium as gym

    from dpedu.envs.detour import MAX_EPISODE_STEPS, DetourEnv

    spec = gym.spec("dpedu/Detour-v0")
    assert spec.max_episode_steps == MAX_EPISODE_STEPS
    assert isinstance(gym.make("dpedu/Detour-v0").unwrapped, DetourEnv)


def test_public_names_resolve_lazily_and_unknown_names_fail():
    assert dpedu.Trainer.__module__ == "dpedu.trainer" and dpedu.DPConfig.__module__ == "dpedu.config"
    assert "Trainer" in dir(dpedu)
    with pytest.raises(AttributeError, match="no attribute 'Trainerr'"):
        dpedu.Trainerr  # noqa: B018


def test_the_choice_names_are_the_components():
    from dpedu.config import CONDITIONINGS, NETWORKS, SAMPLER_KINDS, SCHEDULE_KINDS
    from dpedu.diffusion import schedule
    from dpedu.diffusion.sampler import SAMPLERS
    from dpedu.networks import NETWORKS as BUILT
    from dpedu.networks import mlp

    assert schedule.SCHEDULE_KINDS is SCHEDULE_KINDS and mlp.CONDITIONINGS is CONDITIONINGS and BUILT is NETWORKS
    assert sorted(SAMPLERS) == sorted(SAMPLER_KINDS)


def test_demonstrators_do_not_reach_into_runtime():
    # Objects own their state; runtime/ only moves it to and from files (DESIGN.md), so no envs module imports it,
    # not even inside a function.
    graph = import_graph(deferred=True)
    for name in ("dpedu.envs", "dpedu.envs.demonstrator", "dpedu.envs.pendulum", "dpedu.envs.detour"):
        assert not {t for t in graph[name] if t.startswith("dpedu.runtime")}, name

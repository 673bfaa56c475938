"""The import contracts of ``pyproject.toml`` (``[tool.importlinter]``): the core imports no
feature app, and features import only the layers below them. Runs ``lint-imports``."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Top-level packages that are not part of the application (the benchmark harness).
NOT_APPLICATION = {"bench"}


def test_the_import_contracts_hold():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"import contracts broken:\n{result.stdout}\n{result.stderr}"


def test_every_application_package_is_under_contract():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    packages = {path.parent.name for path in ROOT.glob("*/__init__.py")} - NOT_APPLICATION
    missing = sorted(packages - set(config["root_packages"]))
    assert not missing, f"add {missing} to [tool.importlinter] root_packages and its contracts in pyproject.toml"


def _module_cycles() -> list[list[str]]:
    """Cycles of run-time imports between the application's modules (imports under
    ``TYPE_CHECKING`` do not run, and the tests are not application code)."""
    import grimp

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    graph = grimp.build_graph(*config["root_packages"], exclude_type_checking_imports=True, cache_dir=None)
    modules = {m for m in graph.modules if ".tests" not in m and ".migrations" not in m}
    edges = {m: graph.find_modules_directly_imported_by(m) & modules for m in modules}
    cycles, state = [], dict.fromkeys(modules, 0)  # 0 new, 1 on the path, 2 done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(edges[module]):
            if state[target] == 1:
                cycles.append([*path[path.index(target) :], target])
            elif state[target] == 0:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(modules):
        if state[module] == 0:
            visit(module, [module])
    return cycles


def test_no_import_circles_between_modules():
    cycles = _module_cycles()
    assert not cycles, "import circles:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)

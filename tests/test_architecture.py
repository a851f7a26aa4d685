"""Import direction and dependency rules of ARCHITECTURE.md, checked on every test run."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import trecsim

PACKAGE = Path(trecsim.__file__).resolve().parent


def test_import_layers_point_down_only():
    """import-linter checks the contracts in pyproject.toml ([tool.importlinter])."""
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
         "sys.exit(lint_imports_command())"],
        cwd=trecsim.REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout
    assert "KEPT" in result.stdout


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_torch_is_imported_only_by_train():
    """Profiling committed models must work without torch: only trecsim.train may import it,
    including lazily inside functions (hence a scan of every import statement)."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] in ("train", "train.py"):
            continue
        if "torch" in _imported_roots(path):
            offenders.append(str(rel))
    assert offenders == [], f"modules outside trecsim.train import torch: {offenders}"


def test_the_scan_sees_a_torch_import(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from torch import nn\n    return nn\n")
    assert "torch" in _imported_roots(probe)


def test_cli_runs_without_torch_loaded():
    code = (
        "import sys, trecsim.cli; "
        "rc = trecsim.cli.main(['boards']); "
        "assert 'torch' not in sys.modules, 'torch was imported'; sys.exit(rc)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr

"""The shape of cli/ (issue 24): no import cycles, one set of exit codes, the report decides its own."""
from __future__ import annotations

import ast
import dataclasses
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / "cli"


def _modules():
    return {p: ast.parse(p.read_text(encoding="utf-8"), str(p)) for p in sorted(CLI.glob("*.py"))}


def test_no_import_cycle_in_cli_counting_imports_inside_functions():
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "import_cycles.py"), "codemods", "cli"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert " 0 import cycles, 0 library->cli imports" in proc.stdout


def test_the_cycle_check_finds_a_cycle_inside_a_function(tmp_path):
    (tmp_path / "a.py").write_text("from .b import x\n")
    (tmp_path / "b.py").write_text("def f():\n    from . import a\n")
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "import_cycles.py"), str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and f"cycle of 2: {tmp_path.name}.a, {tmp_path.name}.b" in proc.stdout


def test_exit_codes_are_defined_once():
    defined = {}
    for path, tree in _modules().items():
        for node in ast.walk(tree):
            targets = node.targets if isinstance(node, ast.Assign) else []
            for target in targets:
                names = target.elts if isinstance(target, ast.Tuple) else [target]
                for name in names:
                    if isinstance(name, ast.Name) and name.id.startswith("EXIT_"):
                        defined.setdefault(name.id, []).append(path.name)
    assert defined and all(files == ["exits.py"] for files in defined.values()), defined


def test_main_decides_no_exit_code_of_a_run():
    """cli/main.py exits with the report's own code (RunReport.exit_code), never a code it works out."""
    tree = _modules()[CLI / "main.py"]
    chosen = [ast.unparse(node) for node in ast.walk(tree) if isinstance(node, ast.IfExp)
              and any(isinstance(n, ast.Name) and n.id.startswith("EXIT_") for n in ast.walk(node))]
    assert chosen == []
    assert "report.exit_code" in (CLI / "main.py").read_text()


def test_nothing_attaches_fields_to_a_run_report():
    from sam3d_codemod.cli.outcome import RunReport

    fields = {f.name for f in dataclasses.fields(RunReport)}
    attached = []
    for path, tree in _modules().items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.Assign, ast.AugAssign)):
                for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                    if (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
                            and target.value.id == "report" and target.attr not in fields):
                        attached.append(f"{path.name}:{node.lineno}: report.{target.attr}")
    assert attached == []

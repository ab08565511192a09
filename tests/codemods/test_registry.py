"""The rule registry is the one source of truth: a rule module declares everything about itself, and
`rules`, the JSON and SARIF outputs, the summary and the helper template agree with it."""
import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sam3d_codemod.codemods.base import COMPAT_MODULE
from sam3d_codemod.codemods.engine.transform import transform_source
from sam3d_codemod.codemods.rules import all_rules, every_rule, module_names, routes

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
TEMPLATE = ROOT / "codemods" / "runtime" / "torch_compat.py"
_COMPAT_REF = re.compile(rf"\b{COMPAT_MODULE}\.([A-Za-z_]\w*)|from [.\w]*\b{COMPAT_MODULE} import ([\w, ]+)")


def _template_names():
    names = set()
    for node in ast.parse(TEMPLATE.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return {n for n in names if not n.startswith("_")}


def _compat_refs(text):
    found = set()
    for attr, imported in _COMPAT_REF.findall(text):
        found |= {attr} if attr else {n.strip().split(" as ")[0] for n in imported.split(",") if n.strip()}
    return found


def test_every_module_is_registered_under_its_own_code():
    codes = [r.code for r in every_rule()]
    assert codes == sorted(set(codes))
    assert [n[:5].upper() for n in module_names()] == [c for c in codes if c.startswith("TC")]
    assert {"TP001", "TP100"} <= set(codes)  # the requirement-pin rules are in the same registry
    assert {"TC000", "TC100", "TC101"} <= set(codes)  # the check-only and helper codes sit in the same registry


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.code)
def test_declared_helpers_exist_in_the_template(rule):
    missing = set(rule.helpers) - _template_names()
    assert not missing, f"{rule.code} emits _torch_compat names the template lacks: {sorted(missing)}"
    for api, helper in rule.routes:
        assert helper is None or helper in rule.helpers, f"{rule.code} routes {api} to undeclared helper {helper}"


def test_every_routed_api_is_covered():
    for api, (code, helper) in routes().items():
        assert api.startswith("torch."), api
        assert helper is None or helper in _template_names(), f"{code} routes {api} to {helper}, which no helper covers"


@pytest.mark.parametrize("rule", [r for r in all_rules() if r.kind == "python"], ids=lambda r: r.code)
def test_a_rule_emits_only_the_helpers_it_declares(rule):
    """Run alone over every fixture input, a rule's new ``_torch_compat`` references are declared."""
    emitted = set()
    for case in sorted(FIXTURES.glob("tc*/**/*.in.py")):
        text = case.read_text(encoding="utf-8")
        result = transform_source(text, [rule], path=str(case.with_name("x.py")), compat_import="from . import _torch_compat")
        new = getattr(result, "code", None)
        if isinstance(new, str):
            emitted |= _compat_refs(new) - _compat_refs(text)
    assert emitted <= set(rule.helpers), f"{rule.code} emits undeclared helpers {sorted(emitted - set(rule.helpers))}"


def _install_copy_with_new_rule(tmp_path):
    """The project copied, with ``tc005_multi_tree_map.py`` copied as TC099 and nothing else edited."""
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", "tests", "docs", "bench", "scripts", "__pycache__",
                                                             "*.egg-info", "build", "inference_e2e"))
    rule_dir = src / "codemods" / "rules"
    text = (rule_dir / "tc005_multi_tree_map.py").read_text(encoding="utf-8")
    text = text.replace('code="TC005"', 'code="TC099"').replace('name="multi-tree-map"', 'name="copied-rule"')
    assert 'code="TC099"' in text
    (rule_dir / "tc099_copied_rule.py").write_text(text, encoding="utf-8")
    site = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--disable-pip-version-check",
                           "--target", str(site), str(src)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return site


def test_a_copied_rule_module_registers_itself(tmp_path):
    site = _install_copy_with_new_rule(tmp_path)
    tree = tmp_path / "tree" / "pkg"
    tree.mkdir(parents=True)
    (tree / "__init__.py").write_text("")
    (tree / "m.py").write_text("import torch.utils._pytree as pytree\n\ny = pytree.tree_map(f, a, b)\n")
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "sam3d_codemod", *args], capture_output=True, text=True,
                              env=env, cwd=tmp_path)

    listed = cli("rules", "--output-format", "json")
    assert listed.returncode == 0, listed.stderr
    codes = [r["code"] for r in json.loads(listed.stdout)]
    assert "TC099" in codes
    one = cli("rules", "TC099")
    assert one.returncode == 0 and "copied-rule" in one.stdout, one.stdout + one.stderr
    sarif = cli("check", str(tmp_path / "tree"), "--output-format", "sarif")
    driver = json.loads(sarif.stdout)["runs"][0]["tool"]["driver"]["rules"]
    assert [r["id"] for r in driver] == codes  # SARIF declares every code `rules` lists, the new one included
    results = {r["ruleId"] for r in json.loads(sarif.stdout)["runs"][0]["results"]}
    assert {"TC005", "TC099"} <= results  # and the copied rule really runs
    as_json = cli("check", str(tmp_path / "tree"), "--output-format", "json")
    assert [r["code"] for r in json.loads(as_json.stdout)["rules"]] == codes


def test_no_import_cycles_and_the_library_never_imports_the_cli():
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "import_cycles.py"), "codemods"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout

"""The upstream-drift gate on variants of the real tree (PyPI sam3d==0.1.2), each shown to end right."""
import json
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner

from sam3d_codemod.cli.main import main

from .realtree import fresh_copy

pytestmark = pytest.mark.realtree

CFG = "model/backbone/generator/classifier_free_guidance.py"


def invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def lock_file(tmp_path_factory):
    """The lock of the pristine tree, made once."""
    base = tmp_path_factory.mktemp("lock")
    tree = fresh_copy(base) / "sam3d_objects"
    lock = base / "sam3d-codemod.lock"
    code, out = invoke("lock", tree, "--lock", lock, "--no-cache")
    assert code == 0, out
    return lock


@pytest.fixture
def locked(tmp_path, lock_file):
    """A pristine tree and the lock."""
    return fresh_copy(tmp_path) / "sam3d_objects", lock_file


def check_json(tree, lock):
    code, out = invoke("check", tree, "--lock", lock, "--output-format", "json", "--no-cache")
    return code, json.loads(out)


def test_lock_then_check_is_clean(locked):
    tree, lock = locked
    data = json.loads(lock.read_text())
    assert data["sites"]["TC005"][CFG] == 5
    code, out = check_json(tree, lock)
    assert code == 0, out
    assert out["drift"] == []


def test_reformatted_tree_keeps_counts_and_patches(locked, tmp_path):
    tree, lock = locked
    proc = subprocess.run([sys.executable, "-m", "black", "-q", "--line-length", "60", str(tree)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "_pytree.tree_map(\n" in (tree / CFG).read_text()  # really reformatted
    code, out = check_json(tree, lock)
    assert code == 0 and out["drift"] == [], out["drift"]
    assert invoke("apply", tree, "-q", "--no-cache")[0] == 0
    assert invoke("check", tree, "-q", "--no-cache")[0] == 0


def test_renamed_aliases_and_moved_imports_still_patched(locked):
    tree, lock = locked
    path = tree / CFG
    text = path.read_text()
    text = text.replace("from torch.utils import _pytree\n", "")
    text = text.replace("_pytree.tree_map(", "pyt.tree_map(")
    text = text.replace("import random\n", "import random\nimport torch.utils._pytree as pyt\n", 1)
    path.write_text(text)
    code, out = check_json(tree, lock)
    assert code == 0 and out["drift"] == [], out["drift"]
    assert invoke("apply", tree, "-q", "--no-cache")[0] == 0
    patched = path.read_text()
    assert patched.count("_torch_compat.tree_map(") == 5 and "pyt.tree_map(lambda x: 0.0, strength)" in patched


def test_deleted_site_is_drift(locked):
    tree, lock = locked
    path = tree / CFG
    text = path.read_text()
    new = re.sub(r"return _pytree\.tree_map\(self\._cfg_step_tensor, y_cond, y_uncond, strength\)",
                 "return self._cfg_step_tensor(y_cond, y_uncond, strength)", text, count=1)
    assert new != text
    path.write_text(new)
    code, out = check_json(tree, lock)
    assert code == 1
    assert out["drift"] == [{"code": "TC005", "path": CFG, "locked": 5, "found": 4}]
    code, text_out = invoke("check", tree, "--lock", lock, "--no-cache")
    assert f"drift: TC005 {CFG}: 5 in the lock, 4 now; run `sam3d-codemod lock` to accept" in text_out


@pytest.mark.parametrize("snippet, symbol, first", [
    ("from torch.nn.attention.bias import causal_lower_right\n", "torch.nn.attention.bias", "2.3"),
    ("def _f(fn):\n    return torch.compiler.disable(fn)\n", "torch.compiler.disable", "2.1"),
])
def test_new_unhandled_api_is_reported(locked, snippet, symbol, first):
    tree, lock = locked
    path = tree / "model/io.py"
    path.write_text(path.read_text() + "\n" + snippet)
    code, out = check_json(tree, lock)
    assert code == 1
    found = [s for s in out["sites"] if s["status"] == "unhandled" and s["path"] == "model/io.py"]
    assert found, out["sites"]
    assert any(f"needs torch >= {first}" in s["message"] for s in found), found
    # suppressible
    text = path.read_text().rstrip("\n")
    lines = text.splitlines()
    lines = [line + "  # sam3d-codemod: ignore[TC100, TC003, TC004]" if (symbol.split(".")[-1] in line and not line.startswith("def"))
             else line for line in lines]
    path.write_text("\n".join(lines) + "\n")
    code, out = check_json(tree, lock)
    # (the comment also names a rule that has nothing to suppress on that line: TC101 says so)
    assert [s for s in out["sites"] if s["status"] == "unhandled" and s["path"] == "model/io.py"
            and s["code"] != "TC101"] == []


def test_unparsable_file_exits_2_and_is_named(locked):
    tree, lock = locked
    path = tree / "model/backbone/tdfy_dit/modules/transformer/modulated.py"
    path.write_text(path.read_text() + "\ndef broken(:\n")
    code, out = check_json(tree, lock)
    assert code == 2
    assert [e["path"] for e in out["errors"]] == ["model/backbone/tdfy_dit/modules/transformer/modulated.py"]
    assert "syntax error" in out["errors"][0]["message"]

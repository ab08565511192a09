"""The upstream-bump gate (scripts/upstream-gate, the steps of .github/workflows/sam3d-upstream-gate.yml)
run by the project's own CI against the sample tree: check --lock, apply to a copy, verify under torch."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytestmark = pytest.mark.runtime

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).with_name("sam3d-codemod")


def gate(tree: Path, lock: Path):
    env = dict(os.environ, SAM3D_CODEMOD=str(BIN))
    return subprocess.run(["bash", str(ROOT / "scripts" / "upstream-gate"), str(tree), str(lock), sys.executable],
                          capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture
def sample(tmp_path):
    if not BIN.exists():
        pytest.skip(f"sam3d-codemod is not installed in {sys.executable}'s environment")
    dest = tmp_path / "sample-tree"
    shutil.copytree(ROOT / "fixtures" / "sample-tree", dest, ignore=shutil.ignore_patterns(".sam3d-codemod-cache"))
    return dest


def test_gate_passes_on_the_sample_tree(sample):
    proc = gate(sample, ROOT / "fixtures" / "sample-tree.lock")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "== verify" in proc.stdout and "gate: passed (check, apply, verify)" in proc.stdout


def test_gate_fails_on_drift(sample):
    cfg = sample / "sam3d_objects" / "model" / "backbone" / "cfg.py"
    cfg.write_text(cfg.read_text().replace("_pytree.tree_map(self._cfg_step_tensor, y_cond, y_uncond, strength)",
                                           "self._cfg_step_tensor(y_cond, y_uncond, strength)"))
    proc = gate(sample, ROOT / "fixtures" / "sample-tree.lock")
    assert proc.returncode == 1
    assert "drift: TC005 sam3d_objects/model/backbone/cfg.py: 3 in the lock, 2 now; run `sam3d-codemod lock` to accept" in proc.stdout
    assert "gate: check failed (exit 1): drift from the lock" in proc.stdout

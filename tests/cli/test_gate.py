"""`sam3d-codemod gate` (and scripts/upstream-gate, its wrapper) without torch: every option reaches
check and apply, and each failing step gets its own line and exit code."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "fixtures" / "sample-tree"
LOCK = ROOT / "fixtures" / "sample-tree.lock"
ENV = dict(os.environ, SAM3D_CODEMOD_NO_REPLAY="1")


def gate(*args):
    proc = subprocess.run([sys.executable, "-m", "sam3d_codemod", "gate", *map(str, args)], capture_output=True,
                          text=True, env=ENV, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture
def sample(tmp_path):
    dest = tmp_path / "sample-tree"
    shutil.copytree(SAMPLE, dest, ignore=shutil.ignore_patterns(".sam3d-codemod-cache"))
    return dest


def test_gate_passes_and_leaves_the_tree_alone(sample):
    before = {p: p.read_bytes() for p in sample.rglob("*.py")}
    code, out = gate(sample, "--lock", LOCK)
    assert code == 0, out
    assert "gate: passed (check, apply)" in out and "verify skipped" in out
    assert {p: p.read_bytes() for p in sample.rglob("*.py")} == before


def test_drift_fails_the_check_step_with_one_line(sample):
    cfg = sample / "sam3d_objects" / "model" / "backbone" / "cfg.py"
    cfg.write_text(cfg.read_text().replace("_pytree.tree_map(self._cfg_step_tensor, y_cond, y_uncond, strength)",
                                           "self._cfg_step_tensor(y_cond, y_uncond, strength)"))
    code, out = gate(sample, "--lock", LOCK)
    assert code == 1
    assert "gate: check failed (exit 1): drift from the lock" in out
    assert "gate: apply failed" not in out


def test_options_reach_every_step(sample):
    # A bad option value is an error in both check and apply: both say so, exit 2.
    code, out = gate(sample, "--lock", LOCK, "--select", "TC999")
    assert code == 2
    assert "gate: check failed (exit 2)" in out and "gate: apply failed (exit 2)" in out
    # --select and --output-format reach check and apply: only TC005 is run and compared.
    code, out = gate(sample, "--lock", LOCK, "--select", "TC005", "--output-format", "github")
    assert code == 0, out


def test_wrapper_script_passes_options_through(sample):
    env = dict(ENV, SAM3D_CODEMOD=str(Path(sys.executable).with_name("sam3d-codemod")))
    if not Path(env["SAM3D_CODEMOD"]).exists():
        pytest.skip("sam3d-codemod is not installed beside this interpreter")
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "upstream-gate"), str(sample), str(LOCK), "", "--select", "TC999"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2
    assert "gate: apply failed (exit 2)" in proc.stdout


def test_verify_without_torch_fails_the_gate_loudly(sample):
    pytest.importorskip("libcst")
    try:
        import torch  # noqa: F401
        pytest.skip("this interpreter has torch")
    except ImportError:
        pass
    code, out = gate(sample, "--lock", LOCK, "--python", sys.executable, "-q")
    assert code == 2
    assert "gate: verify failed (exit 2): nothing could be verified" in out
    assert "gate: check failed" not in out and "gate: apply failed" not in out


def test_incomplete_verify_fails_the_gate_with_its_reason(tmp_path):
    """verify exit 3 (a check skipped for a missing package) is a failed gate (1), with --stand-ins passed."""
    from sam3d_codemod.cli.gate import gate as run_gate

    calls, lines = [], []

    def runner(*args):
        calls.append(args)
        return 3 if args[0] == "verify" else 0

    tree = tmp_path / "tree"
    tree.mkdir()
    code = run_gate(tree, "x.lock", "/py", [], ["--device", "cpu", "--stand-ins"], say=lines.append, runner=runner)
    assert code == 1
    assert any(line.startswith("gate: verify failed (exit 3): incomplete") for line in lines), lines
    assert calls[-1][0] == "verify" and "--stand-ins" in calls[-1]

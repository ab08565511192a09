"""Issue 24: `gate` and `update` run their steps (check, apply, verify) in this process, through the
command group the user called (cli/steps.py), not as a child interpreter per step; a gate's copy
leaves no apply record behind."""
import shutil
import subprocess
from pathlib import Path

from click.testing import CliRunner

from sam3d_codemod.cli import applied
from sam3d_codemod.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "fixtures" / "sample-tree"
LOCK = ROOT / "fixtures" / "sample-tree.lock"


def test_gate_steps_start_no_interpreter(tmp_path, monkeypatch):
    tree = tmp_path / "sample-tree"
    shutil.copytree(SAMPLE, tree, ignore=shutil.ignore_patterns(".sam3d-codemod-cache"))
    started = []
    real_call = subprocess.call

    def spy(cmd, *a, **kw):
        if "sam3d_codemod" in cmd:
            started.append(cmd)
        return real_call(cmd, *a, **kw)

    monkeypatch.setattr(subprocess, "call", spy)
    monkeypatch.setenv("SAM3D_CODEMOD_NO_REPLAY", "1")
    copies = []
    real_forget = getattr(applied, "forget", None)  # absent before the fix
    if real_forget is not None:
        monkeypatch.setattr(applied, "forget", lambda root: (copies.append(applied.location(root)), real_forget(root)))
    result = CliRunner().invoke(main, ["gate", str(tree), "--lock", str(LOCK)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "gate: passed (check, apply)" in result.output
    assert started == []
    assert copies and not any(p.exists() for p in copies)

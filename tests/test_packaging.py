"""`pip install .` lays out only `sam3d_codemod` (no top-level `cli`/`codemods`), with its data files.
The editable install is what the rest of the suite runs against (scripts/dev-env)."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_install_layout(tmp_path):
    target = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q",
                           "--disable-pip-version-check", "--target", str(target), str(ROOT)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    top = {p.name for p in target.iterdir() if not p.name.endswith((".dist-info", ".egg-info"))} - {"bin", "__pycache__"}
    assert top == {"sam3d_codemod"}, top
    pkg = target / "sam3d_codemod"
    for rel in ("cli/main.py", "codemods/base.py", "codemods/data/torch_api.json", "codemods/data/rule_examples.json",
                "codemods/runtime/torch_compat.py", "codemods/probe/verify_probe.py", "codemods/probe/vp_checks.py",
                "codemods/probe/vp_stand_ins.py", "codemods/rules/tc001_submodule_import.py", "codemods/engine/transform.py",
                "codemods/data/verify-requirements.txt", "codemods/pins/data/companions.json"):
        assert (pkg / rel).is_file(), rel
    env = dict(os.environ, PYTHONPATH=str(target))
    out = subprocess.run([sys.executable, "-c", "import sys, sam3d_codemod.cli.main as m; "
                          "from click.testing import CliRunner; r = CliRunner().invoke(m.main, ['rules', '--output-format', 'json']); "
                          "print(r.exit_code, m.__file__); print('torch' in sys.modules)"],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    code, path = out.stdout.splitlines()[0].split(" ", 1)
    assert code == "0" and path.startswith(str(target)), out.stdout + out.stderr
    assert out.stdout.splitlines()[1] == "False"  # start-up never imports torch
    req = subprocess.run([sys.executable, "-c", "from click.testing import CliRunner; import sam3d_codemod.cli.main as m; "
                          "print(CliRunner().invoke(m.main, ['verify', '--print-requirements', '--torch', '2.0.0']).output)"],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert req.stdout.split()[:4] == ["torch==2.0.0", "torchvision==0.15.1", "numpy<2", "loguru"], req.stdout + req.stderr
    # `rules CODE` shows its before/after without the repository's fixtures/
    out = subprocess.run([sys.executable, "-m", "sam3d_codemod", "rules", "TC005", "--output-format", "json"],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0 and '"before": "' in out.stdout, out.stdout + out.stderr

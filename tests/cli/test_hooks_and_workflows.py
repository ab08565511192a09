"""The pre-commit hooks under the real ``pre-commit try-repo``, and the workflows under GitHub's schema."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PATCHABLE = "import torch\n\ndef f(x, i, s):\n    return x.index_add_(0, i, s)\n"
PATCHED = "import torch\n\ndef f(x, i, s):\n    return x.index_add_(0, i, s.to(x.dtype))\n"


def _pre_commit(repo: Path, *args: str) -> subprocess.CompletedProcess:
    cache = Path(os.environ.get("SAM3D_CODEMOD_CACHE", Path.home() / ".cache" / "sam3d-codemod")) / "pre-commit"
    env = dict(os.environ, PRE_COMMIT_HOME=str(cache))
    return subprocess.run([sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), *args, "--all-files", "--color", "never"],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=900)


def test_both_hooks_run_under_pre_commit_try_repo(tmp_path):
    """The check hook fails on a tree with pending rewrites, the fixer hook rewrites it (pre-commit
    then fails the commit for review), and afterwards both pass."""
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "m.py").write_text(PATCHABLE)
    subprocess.run(["git", "-C", str(repo), "add", "m.py"], check=True)
    check = _pre_commit(repo, "sam3d-codemod-check")
    assert check.returncode == 1, check.stdout + check.stderr
    assert "sam3d-codemod check" in check.stdout and "Failed" in check.stdout
    assert "1 file would change (1 site); run `sam3d-codemod apply`" in check.stdout
    assert (repo / "m.py").read_text() == PATCHABLE
    both = _pre_commit(repo)  # every hook; pre-commit runs them by id: apply, then check
    out = both.stdout
    assert both.returncode == 1, out + both.stderr
    apply_part, check_part = out.split("sam3d-codemod check.", 1)
    assert "files were modified by this hook" in apply_part and "1 file changed (1 site)" in apply_part
    assert check_part.lstrip(".").startswith("Passed"), out
    assert (repo / "m.py").read_text() == PATCHED


def test_workflows_validate_against_githubs_schema_offline(tmp_path):
    """check-jsonschema vendors GitHub's workflow schema: no network (a dead proxy proves it)."""
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert len(workflows) >= 2
    env = dict(os.environ, HTTPS_PROXY="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9", NO_PROXY="")
    tool = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows"]
    ok = subprocess.run(tool + [str(p) for p in workflows], capture_output=True, text=True, env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = tmp_path / "broken.yml"  # the validator really rejects a bad workflow
    broken.write_text(workflows[0].read_text().replace("runs-on:", "runs_on:", 1))
    bad = subprocess.run(tool + [str(broken)], capture_output=True, text=True, env=env)
    assert bad.returncode == 1 and "runs-on" in bad.stdout + bad.stderr

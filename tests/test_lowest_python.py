"""The package on the lowest Python it declares (requires-python >= 3.9), installed as users install
it (`pip install .`, its declared dependencies only: tomli comes in by its marker), on a tree with
a pyproject.toml (issue 14.1: 3.9/3.10 crashed whenever one existed).

The interpreter: `python3.9` on PATH or pyenv's 3.9.x (the machine image has one). Its venv with the
declared dependencies is built once under the cache (PyPI needed the first time); without a 3.9
interpreter the test is skipped and says so."""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "fixtures" / "sample-tree"
CACHE = Path(os.environ.get("SAM3D_CODEMOD_CACHE", Path.home() / ".cache" / "sam3d-codemod"))


def lowest_declared() -> str:
    text = (ROOT / "pyproject.toml").read_text()
    return re.search(r'requires-python\s*=\s*">=\s*(3\.\d+)"', text).group(1)


def find_interpreter(version: str):
    """pyenv's builds first: its shim on PATH answers "command not found" for a version not selected."""
    candidates = sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version}")))
    candidates += [shutil.which(f"python{version}"), f"/usr/bin/python{version}"]
    for c in candidates:
        if c and os.access(c, os.X_OK):
            probe = subprocess.run([c, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                   capture_output=True, text=True)
            if probe.returncode == 0 and probe.stdout.strip() == version:
                return c
    return None


def dependencies() -> list:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


@pytest.fixture(scope="module")
def old_python(tmp_path_factory):
    version = lowest_declared()
    interpreter = find_interpreter(version)
    if interpreter is None:
        pytest.skip(f"no Python {version} interpreter on this machine (python{version} or pyenv); "
                    "the tomllib fallback is tested by simulation in tests/cli/test_conventions.py")
    venv = CACHE / f"py{version}"
    python = venv / "bin" / "python"
    deps = dependencies()
    stamp = venv / "deps.json"
    if not python.is_file() or not stamp.is_file() or json.loads(stamp.read_text()) != deps:
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([interpreter, "-m", "venv", str(venv)], check=True)
        proc = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *deps],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            pytest.skip(f"cannot install the dependencies for Python {version}: {proc.stderr.strip()[-300:]}")
        stamp.write_text(json.dumps(deps))
    site = tmp_path_factory.mktemp("site")
    proc = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--disable-pip-version-check",
                           "--target", str(site), str(ROOT)], capture_output=True, text=True, cwd=site)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return str(python), site, version


def run(old_python, *args, cwd):
    python, site, _ = old_python
    env = dict(os.environ, PYTHONPATH=str(site), SAM3D_CODEMOD_NO_REPLAY="1")
    return subprocess.run([python, "-m", "sam3d_codemod", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env)


def test_runs_on_the_lowest_declared_python_with_a_pyproject(old_python, tmp_path):
    python, site, version = old_python
    probe = subprocess.run([python, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True)
    assert probe.stdout.strip() == str(tuple(int(x) for x in version.split(".")))
    tree = tmp_path / "tree"
    shutil.copytree(SAMPLE, tree)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.sam3d-codemod]\nignore = ["TC013"]\n')
    old = run(old_python, "check", tree, "--output-format", "json", "--no-cache", cwd=tmp_path)
    assert old.returncode == 1, old.stderr
    new = subprocess.run([sys.executable, "-m", "sam3d_codemod", "check", str(tree), "--output-format", "json",
                          "--no-cache"], capture_output=True, text=True, cwd=tmp_path)
    old_data, new_data = json.loads(old.stdout), json.loads(new.stdout)
    assert old_data["sites"] == new_data["sites"] and old_data["rules"] == new_data["rules"]
    assert "TC013" not in {r["code"] for r in old_data["rules"]}  # the config was read (tomli)
    diff = run(old_python, "diff", tree, "-q", cwd=tmp_path)
    assert diff.returncode == 1 and "+++ b/sam3d_objects/model/io.py" in diff.stdout
    applied = run(old_python, "apply", tree, "-q", cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    assert run(old_python, "check", tree, "-q", cwd=tmp_path).returncode == 0
    (tree / "pyproject.toml").write_text('[tool.sam3d-codemod]\nselect = "TC005"\n')
    bad = run(old_python, "check", tree, cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "expected an array of strings" in bad.stderr
    assert "Traceback" not in bad.stderr

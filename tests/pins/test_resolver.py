"""pip's resolver on the pin files (issue 25): with ``torch==2.0.0`` pinned, the patched
requirements.txt resolves and keeps torch 2.0.0 on Python 3.10 and 3.11; unpatched it fails
(torchaudio==2.5.1+cu121 is not on PyPI, bpy 4.3.0 has no 3.10 wheel; xformers 0.0.19, the
release for torch 2.0, has none for 3.11, so the patched file installs it on 3.8-3.10 only).

``pip install --dry-run --report`` against the package index (network: PyPI), run by a real
interpreter of each Python: the tree's hydra-core needs antlr4-python3-runtime 4.9, an sdist, so
``--python-version`` (binary-only) cannot stand in. ``fast-deps`` reads wheels' METADATA by range
requests instead of downloading torch and its CUDA libraries.
"""
import glob
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from packaging.version import Version

from sam3d_codemod.cli.main import main

pytestmark = pytest.mark.slow
UPSTREAM_SHAPE = Path(__file__).resolve().parents[2] / "fixtures" / "pins" / "upstream-shape"


def interpreter(version: str) -> str:
    found = shutil.which(f"python{version}")
    pyenv = sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python")))
    if pyenv:
        found = pyenv[-1]
    if found is None:  # a failure, not a skip: CI must prove both Pythons
        pytest.fail(f"no Python {version} interpreter (install one, e.g. `pyenv install {version}`)")
    return found


def resolve(python: str, tree: Path, tmp_path: Path):
    """(exit status, report or None, pip's stderr) of a dry-run install of torch==2.0.0 and requirements.txt."""
    report = tmp_path / f"report-{Path(python).parts[-3]}.json"
    cmd = [python, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--disable-pip-version-check",
           "--retries", "0", "--prefer-binary", "--use-feature=fast-deps", "--report", str(report),
           "torch==2.0.0", "-r", str(tree / "requirements.txt")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    return proc.returncode, (json.loads(report.read_text()) if proc.returncode == 0 else None), proc.stderr


def versions(report: dict) -> dict:
    return {item["metadata"]["name"].lower(): item["metadata"]["version"] for item in report["install"]}


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    base = tmp_path_factory.mktemp("resolver")
    unpatched, patched = base / "unpatched", base / "patched"
    shutil.copytree(UPSTREAM_SHAPE, unpatched)
    shutil.copytree(UPSTREAM_SHAPE, patched)
    result = CliRunner().invoke(main, ["apply", str(patched), "-q", "--no-cache"])
    assert result.exit_code == 0, result.output
    return unpatched, patched


@pytest.mark.parametrize("version", ["3.10", "3.11"])
def test_patched_requirements_keep_torch_2_0_0(version, trees, tmp_path):
    code, report, stderr = resolve(interpreter(version), trees[1], tmp_path)
    assert code == 0, stderr[-3000:]
    found = versions(report)
    assert Version(found["torch"]).public == "2.0.0"
    assert Version(found["torchaudio"]).public == "2.0.1" and Version(found["numpy"]) < Version("2")
    assert found["spconv-cu118"] == "2.3.8" and "spconv-cu121" not in found
    # the markers of TP005: bpy 4.3.0 has wheels for 3.11 only, xformers 0.0.19 for 3.8-3.10
    assert ("bpy" in found) == (version == "3.11")
    assert found.get("xformers") == ("0.0.19" if version == "3.10" else None)
    print(f"python {version}: {len(found)} packages, torch {found['torch']}")


@pytest.mark.parametrize("version", ["3.10", "3.11"])
def test_unpatched_requirements_do_not_resolve(version, trees, tmp_path):
    code, _report, stderr = resolve(interpreter(version), trees[0], tmp_path)
    assert code != 0
    assert "No matching distribution found for" in stderr
    assert "torchaudio==2.5.1+cu121" in stderr or ("bpy==4.3.0" in stderr and version == "3.10"), stderr[-2000:]

"""The real test input: PyPI ``sam3d==0.1.2`` vendors a drifted upstream copy at
``sam3d/third_party/meta/sam3d_objects``. Downloaded once with pip, cached, never committed."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

CACHE = Path(os.environ.get("SAM3D_CODEMOD_CACHE", Path.home() / ".cache" / "sam3d-codemod"))
WHEEL_SPEC = "sam3d==0.1.2"
REQUIRE_ENV = "SAM3D_CODEMOD_REQUIRE_INPUTS"
PREFIX = "sam3d/third_party/meta/sam3d_objects/"


def wheel_path() -> Path:
    wheels = CACHE / "wheels"
    found = sorted(wheels.glob("sam3d-0.1.2-*.whl"))
    if found:
        return found[0]
    wheels.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q", WHEEL_SPEC, "-d", str(wheels)],
        capture_output=True, text=True,
    )
    found = sorted(wheels.glob("sam3d-0.1.2-*.whl"))
    if proc.returncode != 0 or not found:
        reason = f"cannot download {WHEEL_SPEC}: {proc.stderr.strip().splitlines()[-1:]}"
        if os.environ.get(REQUIRE_ENV):  # scripts/test (and so CI) sets it: a missing input is a failure
            pytest.fail(f"{reason} ({REQUIRE_ENV} is set)")
        pytest.skip(reason)
    return found[0]


def pristine_tree() -> Path:
    """The vendored package, extracted once: CACHE/sam3d-0.1.2/sam3d_objects."""
    dest = CACHE / "sam3d-0.1.2"
    if not (dest / "sam3d_objects" / "__init__.py").is_file():
        tmp = CACHE / "sam3d-0.1.2.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        with zipfile.ZipFile(wheel_path()) as zf:
            for name in zf.namelist():
                if name.startswith(PREFIX) and not name.endswith("/"):
                    target = tmp / "sam3d_objects" / name[len(PREFIX):]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(zf.read(name))
        shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)
    return dest / "sam3d_objects"


def fresh_copy(tmp_path: Path) -> Path:
    """A writable copy: tmp_path/tree/sam3d_objects. Returns the tree root."""
    root = tmp_path / "tree"
    shutil.copytree(pristine_tree(), root / "sam3d_objects")
    return root

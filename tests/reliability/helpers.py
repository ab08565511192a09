"""Shared helpers for the reliability tests: run the CLI, build trees, snapshot bytes."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, Tuple

from click.testing import CliRunner

from sam3d_codemod.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "fixtures" / "sample-tree"
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0

# Patched by TC007 in place (mid-file) and by TC001 with an inserted import; neither needs a package.
PATCHABLE = "import torch\n\ndef f(x, i, s):\n    return x.index_add_(0, i, s)\n"
PATCHED = "import torch\n\ndef f(x, i, s):\n    return x.index_add_(0, i, s.to(x.dtype))\n"


def invoke(*args) -> Tuple[int, str]:
    """The CLI in-process; output is stdout and stderr together."""
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.output


def cli(*args, cwd=None, **kw) -> subprocess.CompletedProcess:
    """The CLI in a subprocess (for signals, locks and real exit paths)."""
    return subprocess.run([sys.executable, "-m", "sam3d_codemod.cli.main", *map(str, args)],
                          capture_output=True, cwd=cwd, **kw)


CACHE_DIR = ".sam3d-codemod-cache"


def _files(root: Path):
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.is_symlink() and CACHE_DIR not in p.relative_to(root).parts:
            yield p


def snapshot(root: Path) -> Dict[str, bytes]:
    """Every regular file's bytes (the tool's own result cache left out)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in _files(root)}


def stats(root: Path) -> Dict[str, Tuple[int, int]]:
    """(inode, mtime_ns) of every file: a rewrite (even to the same bytes) changes the inode."""
    out = {}
    for p in _files(root):
        st = p.stat()
        out[p.relative_to(root).as_posix()] = (st.st_ino, st.st_mtime_ns)
    return out


def copy_sample(dest: Path) -> Path:
    shutil.copytree(SAMPLE, dest)
    return dest

"""Which files of a tree pin packages. Kept apart from the rewriters (``files.py``), which need
``packaging``: a run over a tree without pin files never imports it (about 18 ms of a cold check)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import List

PATTERNS = ("requirements*.txt", "requirements/*.txt", "pyproject.toml", "environments/*.yml", "environments/*.yaml")


def pin_files(root: Path) -> List[Path]:
    """The files of ``root`` that pin packages, in a stable order: regular files reached through
    real folders of the tree only (a symlinked ``requirements/`` could point anywhere; the tree is
    untrusted input)."""
    real_root = os.path.realpath(root)
    found: List[Path] = []
    for pattern in PATTERNS:
        found += [p for p in sorted(root.glob(pattern)) if p.is_file() and not p.is_symlink()
                  and os.path.realpath(p) == os.path.join(real_root, os.path.relpath(p, root))]
    return found

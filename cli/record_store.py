"""Where apply's record of a tree lives: outside the tree, where no upstream commit can write.

* In a git checkout: ``<git dir>/sam3d-codemod/applied.json`` (``applied-<hash of the prefix>.json``
  when PATH is a folder below the checkout's top). A submodule's git dir is the superproject's
  ``.git/modules/<name>``; git never checks out a path named ``.git``, so a commit cannot put
  anything there.
* Elsewhere: the user cache (codemods/user_cache.py), ``applied/<hash of the tree's real path>.json``.

The interrupted-update marker (cli/update_state.py) sits beside it.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path
from typing import Dict, Optional, Tuple

from ..codemods.engine import user_cache

_FOUND: Dict[str, Optional[Tuple[str, str]]] = {}


def git_dir(root: Path) -> Optional[Tuple[str, str]]:
    """(absolute git dir, prefix of ``root`` in its work tree), or None outside a git checkout."""
    key = os.path.realpath(root)
    if key not in _FOUND:
        try:
            proc = subprocess.run(["git", "-C", key, "rev-parse", "--is-inside-work-tree", "--absolute-git-dir",
                                   "--show-prefix"], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.SubprocessError):
            proc = None
        lines = proc.stdout.splitlines() if proc is not None and proc.returncode == 0 else []
        if len(lines) >= 2 and lines[0] == "true" and os.path.isabs(lines[1]):
            _FOUND[key] = (lines[1], lines[2] if len(lines) > 2 else "")
        else:
            _FOUND[key] = None
    return _FOUND[key]


def _name(stem: str, prefix: str) -> str:
    return f"{stem}.json" if not prefix else f"{stem}-{hashlib.sha256(prefix.encode()).hexdigest()[:16]}.json"


def location(root: Path, stem: str = "applied") -> Path:
    found = git_dir(root)
    if found is not None:
        gitdir, prefix = found
        return Path(gitdir) / "sam3d-codemod" / _name(stem, prefix)
    digest = hashlib.sha256(os.path.realpath(root).encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return Path(user_cache.path(stem, f"{digest}.json"))

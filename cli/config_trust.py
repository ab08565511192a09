"""Which ``[tool.sam3d-codemod]`` sections are trusted, and what a section inside the tree may do.

Trust boundary: the tree being checked is upstream's code, so a section in a ``pyproject.toml``
inside it is untrusted: upstream could otherwise switch the gate off (``ignore = ["TC100"]``).
Trusted are the command line, ``--config FILE`` and sections outside the tree (the consumer
repo's). The tree is the PATH folder (for a single file, its project root), widened to the
submodule checkout it lies in.

An in-tree section is still parsed and checked (a broken one is an error, exit 2: failing closed),
but it may only add checks: its ``select`` adds rules to a narrowed ``select``, its
``target-torch`` may lower the target. Every other key (``ignore``, ``exclude``,
``extend-exclude``, ``jobs``, ``max-file-size``) is ignored, and a note names them.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Dict, List, Tuple

from .paths import project_root

# A submodule's git dir is <superproject's git dir>/modules/<name> (also from a worktree's git dir).
_SUBMODULE_GITDIR = re.compile(r"(^|/)\.git/(worktrees/[^/\n]+/)?modules/", re.M)


def tree_root(first: Path) -> Path:
    """The untrusted tree around the first PATH (absolute, resolved)."""
    path = Path(os.path.abspath(first))
    root = path if path.is_dir() else Path(os.path.abspath(project_root(path)))
    d = root
    while True:
        marker = d / ".git"
        if marker.is_dir():
            return root  # an ordinary repository: the consumer's own, or upstream cloned alone
        if marker.is_file():
            try:
                text = marker.read_text(encoding="utf-8", errors="replace")[:4096]
            except OSError:
                text = ""
            if _SUBMODULE_GITDIR.search(text.replace("\\", "/")):
                return d  # a submodule: all of it is upstream's
            return root  # a worktree of the consumer's repository
        if d.parent == d:
            return root
        d = d.parent


def inside(candidate: Path, tree: Path) -> bool:
    real = Path(os.path.realpath(candidate.parent))
    tree = Path(os.path.realpath(tree))
    return real == tree or tree in real.parents


def add_only(params: Dict[str, Any], have_select: List[str], section: Dict[str, Any]
             ) -> Tuple[Dict[str, Any], List[str]]:
    """``params`` with what an in-tree ``section`` may add; the keys it was not allowed to set.
    ``section``: values already checked and converted (select: a list of codes, target-torch "M.N");
    ``have_select``: the codes the trusted settings select (empty: every rule)."""
    out = dict(params)
    ignored: List[str] = []
    for key, value in section.items():
        if key == "select":
            if not value:
                continue
            if have_select:
                out["select"] = tuple(have_select) + tuple(c for c in value if c not in have_select)
            else:
                ignored.append(key)  # every rule runs already: a select could only narrow that
        elif key == "target-torch":
            current, wanted = _version(str(params.get("target_torch") or "2.0")), _version(str(value))
            if wanted < current:
                out["target_torch"] = value
            elif wanted > current:
                ignored.append(key)
        else:
            ignored.append(key)
    return out, ignored


def _version(text: str) -> Tuple[int, ...]:
    return tuple(int(p) for p in text.split(".")[:2])


def note(path: Path, ignored: List[str]) -> str:
    return (f"note: {path}: [tool.sam3d-codemod] {', '.join(ignored)} ignored: the file is inside the tree being "
            f"checked, whose own config may only add checks (to use it anyway: --config {path})")

"""Which tree a file given on its own belongs to, and the base that CI annotations name paths from.

A file given alone (pre-commit's file list, an editor's ``--stdin-filename``) is processed as part
of the tree it belongs to: its project root is the nearest directory above it holding ``.git``
(a directory, or the file of a submodule or worktree) or ``.hg``; without one, the parent of the
outermost package around it. The helper module's place, the import form and the paths in a diff are
then the same as when that whole tree is processed.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

MARKERS = (".git", ".hg")


def project_root(file: Path) -> Path:
    """The root for a single file, in the same (relative or absolute) form as ``file``."""
    start = os.path.dirname(os.path.abspath(file))
    d = start
    found: Optional[str] = None
    while True:
        if any(os.path.exists(os.path.join(d, m)) for m in MARKERS):
            found = d
            break
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    if found is None:
        found = start
        while os.path.isfile(os.path.join(found, "__init__.py")) and os.path.dirname(found) != found:
            found = os.path.dirname(found)
    if Path(file).is_absolute():
        return Path(found)
    return Path(os.path.relpath(found))


def annotation_base() -> str:
    """Where CI annotation paths start: ``$GITHUB_WORKSPACE`` when set, else the top of the git
    work tree holding the current directory, else the current directory."""
    workspace = os.environ.get("GITHUB_WORKSPACE")
    if workspace and os.path.isdir(workspace):
        return os.path.abspath(workspace)
    cwd = os.getcwd()
    d = cwd
    while True:
        if os.path.exists(os.path.join(d, ".git")):
            return d
        parent = os.path.dirname(d)
        if parent == d:
            return cwd
        d = parent


def annotation_path(root: Union[Path, str], rel: str, base: Optional[str] = None) -> str:
    """``root/rel`` relative to ``base`` (posix), or absolute when it lies outside it."""
    base = base or annotation_base()
    full = os.path.abspath(os.path.join(root, rel))
    if os.path.commonpath([full, base]) == base:
        return Path(os.path.relpath(full, base)).as_posix()
    return Path(full).as_posix()

"""Which files a run reads: every ``.py`` file under the named paths, as Ruff and Black choose them.

A path named on the command line is always processed, even where an ignore file or ``--exclude``
covers it (a vendored ``external/`` in the consumer's ``.gitignore``): patterns that match the named
directory itself, or a folder above it, are set aside for that walk. Below it, ignore files and
``--exclude`` apply as usual. ``--force-exclude`` (pre-commit passes every changed file by name)
applies them to the named paths too. A named path that holds no Python file is an error: a gate
that checked nothing must not pass.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from ..codemods.engine.hosts import SKIP_DIRS
from . import inputs
from .settings import UsageError


def discover(paths: Sequence[str], exclude: Sequence[str] = (),
             errors: Optional[List[Tuple[Path, Path, str]]] = None,
             force_exclude: bool = False) -> List[Tuple[Path, Path]]:
    """(root, file) pairs for every .py file; symlinks never lead out of the root, and each real file is seen once.
    ``errors`` gets (root, directory, message) for each directory that could not be listed."""
    found: List[Tuple[Path, Path]] = []
    seen = set()
    for raw_path in paths:  # every path first: a missing one is named before any is walked
        if not os.path.exists(raw_path) and not os.path.islink(raw_path):
            raise UsageError(f"{raw_path}: no such file or directory")
    for raw_path in paths:
        path = Path(raw_path)
        if path.is_file():
            if path.suffix != ".py":
                raise UsageError(f"{raw_path}: not a directory or .py file")
            # The tree the file belongs to, so it gets the rewrite (helper, import form, diff
            # paths) that processing that whole tree gives it.
            from .paths import project_root

            root = project_root(path)
            path = root / os.path.relpath(path, root)
            if force_exclude and _excluded(root, path, exclude):
                continue
            files = [path]
            inputs.note(path)
        elif path.is_dir():
            root = path
            if force_exclude and _excluded(path, path, exclude):
                continue
            files = _walk(path, exclude, errors, keep_root=not force_exclude)
            if not files and not (errors and any(r == root for r, _, _ in errors)) and not _pin_files(path):
                # A gate that checked nothing must not pass; requirement files alone are something.
                raise UsageError(f"{raw_path}: no Python or requirement file found here")
        else:
            raise UsageError(f"{raw_path}: not a directory or .py file")
        real_root = os.path.realpath(root)
        links = {file for file in files if os.path.islink(file)}
        for file in sorted(files, key=lambda f: f in links):  # a real file claims itself before an in-tree link to it
            # _walk never enters a linked directory: only a linked file can lead elsewhere.
            real = os.path.realpath(file) if file in links or files == [path] else \
                os.path.join(real_root, os.path.relpath(file, root))
            if os.path.commonpath([real, real_root]) != real_root:
                continue  # a link out of the tree
            if real in seen:
                continue
            seen.add(real)
            found.append((root, file))
    return found


def _excluded(root: Path, path: Path, exclude: Sequence[str]) -> bool:
    """--force-exclude: is the named ``path`` ignored, by itself or through a folder above it?
    A named directory (``path == root``) is judged by the ignore files from its repository's top;
    a named file also by ``--exclude`` (relative to its tree's root)."""
    from .ignore import IgnoreRules, repo_top

    if path == root:
        top = repo_top(os.path.abspath(root))[0]
        if not top:
            return False  # outside a repository: no ignore file above it
        rel = os.path.relpath(os.path.abspath(root), top).replace(os.sep, "/")
        return rel != "." and IgnoreRules(Path(top), keep_root=False).named_ignored(rel, is_dir=True)
    rel = os.path.relpath(path, root).replace(os.sep, "/")
    return IgnoreRules(root, exclude, keep_root=False).named_ignored(rel)


def _walk(root: Path, exclude: Sequence[str], errors: Optional[list] = None, keep_root: bool = True) -> List[Path]:
    from .ignore import IgnoreRules

    ignore = IgnoreRules(root, exclude, keep_root=keep_root)
    files = []

    def unlistable(exc: OSError) -> None:  # never a silent skip: its files would count as clean
        if errors is not None:
            reason = "permission denied" if isinstance(exc, PermissionError) else " ".join(str(exc.strerror or exc).split())
            errors.append((root, Path(exc.filename or root), f"cannot list this directory ({reason}); its files were not checked"))

    for dirpath, dirnames, filenames in os.walk(root, followlinks=False, onerror=unlistable):
        inputs.note(dirpath)  # listed: a file added or removed here changes its stat key
        rel_dir = os.path.relpath(dirpath, root)
        ignore.enter(rel_dir, filenames)
        keep = []
        for d in sorted(dirnames):
            rel = d if rel_dir == "." else f"{rel_dir}/{d}"
            if d in SKIP_DIRS or d.startswith(".") or os.path.islink(os.path.join(dirpath, d)):
                continue
            if ignore.ignored(rel, is_dir=True):
                continue
            keep.append(d)
        dirnames[:] = keep
        for name in sorted(filenames):
            if not name.endswith(".py"):
                continue
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if ignore.ignored(rel):
                continue
            files.append(Path(dirpath) / name)
            inputs.note(files[-1])
    return files


def _pin_files(root: Path) -> list:
    from ..codemods.pins.locate import pin_files  # only for a tree without Python files

    return pin_files(root)

"""Which paths a walk skips: ``--exclude`` patterns plus git's own ignore files.

Git's rules, through pathspec's ``GitIgnoreSpec`` (git's wildmatch semantics): every
``.gitignore`` from the repository's top down to a path's directory, deeper files overriding
shallower ones (the last matching pattern of the deepest file with a match decides, so ``!keep.py``
re-includes), then ``.git/info/exclude`` (also through a ``.git`` file: submodules, worktrees).
A directory that is ignored is not entered, as in git. The user's global excludes file
(``core.excludesFile``, else ``$XDG_CONFIG_HOME/git/ignore`` or ``~/.config/git/ignore``) is read
too, below ``.git/info/exclude`` in precedence, as git does.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple


def _spec(lines: Sequence[str]):
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(lines)


def _read_lines(path: str) -> Optional[List[str]]:
    """The file's lines, None when it does not exist; a FIFO, device or oversized file is a usage
    error (read through fileio.read_bytes: never blocks)."""
    if not os.path.lexists(path):
        return None
    from .fileio import DEFAULT_MAX_BYTES, InputError, read_bytes

    try:
        data = read_bytes(Path(path), DEFAULT_MAX_BYTES, what="a smaller ignore file")
    except InputError as exc:
        from .runner import UsageError

        raise UsageError(f"{path}: {exc}") from None
    return data.decode("utf-8", "replace").splitlines()


def _repo_top(start: str) -> Tuple[Optional[str], Optional[str]]:
    """(work tree top, git dir) of the repository holding ``start``, or (None, None)."""
    d = start
    while True:
        dot_git = os.path.join(d, ".git")
        if os.path.isdir(dot_git):
            return d, dot_git
        if os.path.isfile(dot_git):  # a submodule or worktree: "gitdir: <path>"
            lines = _read_lines(dot_git) or [""]
            target = lines[0].partition("gitdir:")[2].strip()
            return d, os.path.normpath(os.path.join(d, target)) if target else None
        parent = os.path.dirname(d)
        if parent == d:
            return None, None
        d = parent


def _global_excludes(top: str) -> str:
    """Path of the user's global excludes file (it may not exist)."""
    try:  # git resolves includes, ~ and the repository's own config; a few ms, once per run
        proc = subprocess.run(["git", "config", "--path", "--get", "core.excludesFile"], cwd=top,
                              capture_output=True, text=True, timeout=10)
        if proc.returncode == 0 and proc.stdout.strip():
            return proc.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "git", "ignore")


class IgnoreRules:
    """``ignored(rel, is_dir)`` for paths relative to ``root``, as the walk meets them."""

    def __init__(self, root: Path, exclude: Sequence[str] = ()) -> None:
        self.root = os.path.abspath(root)
        self.exclude = _spec(exclude) if exclude else None
        top, git_dir = _repo_top(self.root)
        self.top = top or self.root
        # Path of the walk root relative to the top, as a prefix ("" when they are the same).
        rel = os.path.relpath(self.root, self.top).replace(os.sep, "/")
        self.prefix = "" if rel == "." else rel + "/"
        self.layers: Dict[str, object] = {}  # directory relative to top ("" = top) -> spec
        self.info = None
        if git_dir is not None:
            # one spec, global lines first: a later line wins, so info/exclude overrides the global file
            lines = (_read_lines(_global_excludes(self.top)) or []) + (
                _read_lines(os.path.join(git_dir, "info", "exclude")) or [])
            if any(line.strip() and not line.startswith("#") for line in lines):
                self.info = _spec(lines)
        # .gitignore files above the walk root, from the top down
        if top is not None:
            d = ""
            for part in self.prefix.split("/")[:-1]:
                self._load(d)
                d = f"{d}{part}/" if d else f"{part}/"

    def _load(self, rel_dir: str) -> None:
        lines = _read_lines(os.path.join(self.top, rel_dir, ".gitignore"))
        if lines and any(line.strip() and not line.startswith("#") for line in lines):
            self.layers[rel_dir] = _spec(lines)

    def enter(self, rel_dir: str, filenames: Sequence[str]) -> None:
        """The walk is in ``rel_dir`` (relative to root, "." for root); read its .gitignore."""
        if ".gitignore" in filenames:
            self._load(self.prefix + ("" if rel_dir == "." else rel_dir + "/"))

    @property
    def active(self) -> bool:
        return bool(self.exclude or self.info or self.layers)

    def ignored(self, rel: str, is_dir: bool = False) -> bool:
        if not (self.exclude or self.info or self.layers):
            return False
        name = rel + "/" if is_dir else rel
        if self.exclude is not None and self.exclude.match_file(name):
            return True
        path = self.prefix + name  # relative to the top
        parts = path.rstrip("/").split("/")
        for depth in range(len(parts) - 1, -1, -1):  # deepest .gitignore first
            base = "/".join(parts[:depth]) + "/" if depth else ""
            spec = self.layers.get(base)
            if spec is None:
                continue
            verdict = spec.check_file(path[len(base):]).include
            if verdict is not None:
                return verdict
        if self.info is not None:
            verdict = self.info.check_file(path).include
            if verdict is not None:
                return verdict
        return False

"""Which paths a walk skips: ``--exclude`` patterns plus git's own ignore files.

Git's rules, through pathspec's ``GitIgnoreSpec`` (git's wildmatch semantics): every
``.gitignore`` from the repository's top down to a path's directory, deeper files overriding
shallower ones (the last matching pattern of the deepest file with a match decides, so ``!keep.py``
re-includes), then ``.git/info/exclude`` (also through a ``.git`` file: submodules, worktrees).
A directory that is ignored is not entered, as in git. The user's global excludes file
(``core.excludesFile``, else ``$XDG_CONFIG_HOME/git/ignore`` or ``~/.config/git/ignore``) is read
too, below ``.git/info/exclude`` in precedence, as git does.

Ignore files come from the tree, which is untrusted (README, "Security"):
- git ignores only untracked files, so a file in the index is never skipped because of an ignore
  file (``git ls-files``, asked once, only when some ignore pattern matched);
- matching is bounded: at most ``MAX_PATTERNS`` patterns in a run (pathspec tries each one per
  path: 100k patterns made a run ~20 times slower) and at most ``MAX_SEGMENT_STARS`` ``*`` in one
  path segment of a pattern (each more multiplies the regex's backtracking by the name's length:
  ``*a*a*a*a*b`` took 13 s for one 255-character name). Past either bound the run stops with a
  one-line error (exit 2).
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Set, Tuple

if TYPE_CHECKING:
    from pathspec import GitIgnoreSpec  # imported where used: a run without ignore files never loads it

from . import inputs

MAX_PATTERNS = 10_000
MAX_SEGMENT_STARS = 2


class _Budget:
    """The patterns one run has compiled so far, against MAX_PATTERNS."""

    def __init__(self) -> None:
        self.used = 0


def _spec(lines: Sequence[str], source: str = "--exclude", budget: Optional[_Budget] = None) -> GitIgnoreSpec:
    import pathspec

    from .escape import shown
    from .settings import UsageError

    patterns = 0
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        patterns += 1
        if any(part.count("*") > MAX_SEGMENT_STARS for part in text.split("/") if part != "**"):
            raise UsageError(f"{shown(source)}:{number}: ignore pattern {shown(text)!r} has more than "
                             f"{MAX_SEGMENT_STARS} '*' in one path segment (its matching time can explode)")
    if budget is not None:
        budget.used += patterns
        if budget.used > MAX_PATTERNS:
            raise UsageError(f"{shown(source)}: ignore files hold over {MAX_PATTERNS} patterns "
                             "(matching each path against all of them would slow the run down)")
    return pathspec.GitIgnoreSpec.from_lines(lines)


def _read_lines(path: str) -> Optional[List[str]]:
    """The file's lines, None when it does not exist; a FIFO, device or oversized file is a usage
    error (read through fileio.read_bytes: never blocks)."""
    inputs.note(path)  # found or not: a new ignore file changes the walk
    if not os.path.lexists(path):
        return None
    from ..codemods.engine.bounded_read import DEFAULT_MAX_BYTES, InputError, read_bytes

    try:
        data = read_bytes(Path(path), DEFAULT_MAX_BYTES, what="a smaller ignore file")
    except InputError as exc:
        from .escape import shown
        from .settings import UsageError

        raise UsageError(f"{shown(path)}: {shown(str(exc))}") from None
    return data.decode("utf-8", "replace").splitlines()


def repo_top(start: str) -> Tuple[Optional[str], Optional[str]]:
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


def _tracked(top: str, prefix: str = "") -> Tuple[frozenset, frozenset]:
    """(files, folders) in the index of the repository at ``top`` (below ``prefix``), relative to it."""
    below = [":(literal)" + prefix] if prefix else []  # the walk's root only: a big consumer repo lists less
    try:
        proc = subprocess.run(["git", "-C", top, "ls-files", "-z", "--cached", "--", *below], capture_output=True,
                              timeout=60)
    except (OSError, subprocess.SubprocessError):
        return frozenset(), frozenset()
    if proc.returncode != 0:
        return frozenset(), frozenset()
    files = frozenset(os.fsdecode(p) for p in proc.stdout.split(b"\0") if p)
    folders = set()
    for f in files:
        d = f.rpartition("/")[0]
        while d and d not in folders:
            folders.add(d)
            d = d.rpartition("/")[0]
    return files, frozenset(folders)


def _keep(spec: GitIgnoreSpec, rel_dir: str) -> GitIgnoreSpec:
    """``spec`` less the patterns that ignore the folder ``rel_dir`` itself (or one above it)."""
    import pathspec

    kept = [p for p in spec.patterns if not (p.include and p.match_file(rel_dir + "/") is not None)]
    return pathspec.GitIgnoreSpec(kept) if len(kept) != len(spec.patterns) else spec


class IgnoreRules:
    """``ignored(rel, is_dir)`` for paths relative to ``root``, as the walk meets them.

    ``keep_root``: the root was named on the command line, so it is walked even where the ignore
    files above it (or ``.git/info/exclude``) ignore it: the patterns that match it are set aside."""

    def __init__(self, root: Path, exclude: Sequence[str] = (), keep_root: bool = False) -> None:
        self.root = os.path.abspath(root)
        self.budget = _Budget()
        self.exclude = _spec(exclude, budget=self.budget) if exclude else None
        self._index: Optional[Tuple[frozenset, frozenset]] = None
        self.loaded: Set[str] = set()
        top, git_dir = repo_top(self.root)
        self.git = top is not None
        self.top = top or self.root
        # Path of the walk root relative to the top, as a prefix ("" when they are the same).
        rel = os.path.relpath(self.root, self.top).replace(os.sep, "/")
        self.prefix = "" if rel == "." else rel + "/"
        self.layers: Dict[str, GitIgnoreSpec] = {}  # directory relative to top ("" = top) -> spec
        self.info: Optional[GitIgnoreSpec] = None
        if git_dir is not None:
            inputs.note(os.path.join(git_dir, "index"))  # a tracked file is walked whatever the ignore files say
            # one spec, global lines first: a later line wins, so info/exclude overrides the global file
            lines = (_read_lines(_global_excludes(self.top)) or []) + (
                _read_lines(os.path.join(git_dir, "info", "exclude")) or [])
            if any(line.strip() and not line.startswith("#") for line in lines):
                self.info = _spec(lines, os.path.join(git_dir, "info", "exclude"), self.budget)
        # .gitignore files above the walk root, from the top down
        if top is not None:
            d = ""
            for part in self.prefix.split("/")[:-1]:
                self._load(d)
                d = f"{d}{part}/" if d else f"{part}/"
        if keep_root and self.prefix:
            for base, spec in list(self.layers.items()):
                self.layers[base] = _keep(spec, self.prefix[len(base):].rstrip("/"))
            if self.info is not None:
                self.info = _keep(self.info, self.prefix.rstrip("/"))

    def _load(self, rel_dir: str) -> None:
        if rel_dir in self.loaded:
            return
        self.loaded.add(rel_dir)
        path = os.path.join(self.top, rel_dir, ".gitignore")
        lines = _read_lines(path)
        if lines and any(line.strip() and not line.startswith("#") for line in lines):
            self.layers[rel_dir] = _spec(lines, path, self.budget)

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
        if self._git_ignored(path) and not self._in_index(path.rstrip("/"), is_dir):
            return True
        return False

    def named_ignored(self, rel: str, is_dir: bool = False) -> bool:
        """Is ``rel`` (below root) ignored, by itself or through a folder on its way, as a walk
        from the root would find it (the .gitignore of each folder on the way is read)?"""
        parts = rel.split("/")
        for i in range(len(parts)):
            folder = "/".join(parts[:i])
            self._load(self.prefix + (folder + "/" if folder else ""))
            last = i == len(parts) - 1
            if self.ignored("/".join(parts[: i + 1]), is_dir=is_dir or not last):
                return True
        return False

    def _in_index(self, path: str, is_dir: bool) -> bool:
        """Git ignores only untracked files: a tracked file (or a folder holding one) is never skipped."""
        if not self.git:
            return False
        if self._index is None:
            self._index = _tracked(self.top, self.prefix)
        files, folders = self._index
        return path in folders if is_dir else path in files

    def _git_ignored(self, path: str) -> bool:
        """The verdict of the ignore files for ``path`` (relative to the top; a folder ends in /)."""
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

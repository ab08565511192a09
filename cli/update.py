"""`sam3d-codemod update PATH [--rev REV]`: revert -> move the checkout -> apply -> check, one command.

PATH is a git checkout of upstream (normally a submodule). Before anything is written the revert is
planned and the checkout's other changes are looked at: a user's edit that the checkout would
carry over (or lose) makes the command refuse and name the files, with nothing changed. Each step
runs this same tool as a child process, so its output and exit code are the usual ones.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import List, Optional, Sequence

from . import revert as reverting


class UpdateError(Exception):
    """One line; the step that failed and why."""


def git(path: Path, *args: str, check: bool = True) -> str:
    try:
        proc = subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as exc:
        raise UpdateError(f"git {args[0]}: {exc}") from None
    if check and proc.returncode != 0:
        detail = (proc.stderr.strip().splitlines() or ["failed"])[-1]
        raise UpdateError(f"git {' '.join(args[:2])}: {detail}")
    return proc.stdout


def _dirty(path: Path) -> List[str]:
    """Tracked files (paths relative to PATH) that differ from HEAD."""
    prefix = git(path, "rev-parse", "--show-prefix").strip()
    out = git(path, "status", "--porcelain=v1", "-z", "--untracked-files=no", "--", ".")
    names = []
    entries = out.split("\0")
    i = 0
    while i < len(entries):
        e = entries[i]
        i += 1
        if not e:
            continue
        if e[0] in "RC":
            i += 1  # the rename's source follows
        name = e[3:]
        names.append(name[len(prefix):] if prefix and name.startswith(prefix) else name)
    return names


def _head_blob(path: Path, rel: str) -> Optional[bytes]:
    proc = subprocess.run(["git", "-C", str(path), "show", f"HEAD:./{rel}"], capture_output=True, timeout=60)
    return proc.stdout if proc.returncode == 0 else None


def preflight(path: Path) -> reverting.Plan:
    """The revert plan, after proving that every change in the checkout is apply's own."""
    if git(path, "rev-parse", "--is-inside-work-tree", check=False).strip() != "true":
        raise UpdateError(f"{path}: not a git checkout (update moves a submodule; use revert/apply yourself)")
    plan = reverting.plan(path)
    own = []
    for rel in _dirty(path):
        if rel in plan.writes and plan.writes[rel] == _head_blob(path, rel):
            continue  # apply's change, which the revert takes out
        own.append(rel)
    if own:
        raise UpdateError(f"{path}: nothing changed: your own edits in {', '.join(sorted(own))} "
                          "(commit or stash them in the checkout, then run again)")
    return plan


def _configured_branch(path: Path) -> Optional[str]:
    """``submodule.<name>.branch`` for the submodule at PATH (None when PATH is no submodule or sets none)."""
    top = git(path, "rev-parse", "--show-superproject-working-tree", check=False).strip()
    if not top or not (Path(top) / ".gitmodules").is_file():
        return None
    own = Path(git(path, "rev-parse", "--show-toplevel").strip()).resolve()
    listed = git(Path(top), "config", "-f", ".gitmodules", "--get-regexp", r"^submodule\..*\.path$", check=False)
    for line in listed.splitlines():
        key, _, sub_path = line.partition(" ")
        if (Path(top) / sub_path).resolve() == own:
            name = key[len("submodule."):-len(".path")]
            branch = git(Path(top), "config", "-f", ".gitmodules", f"submodule.{name}.branch", check=False).strip()
            return None if branch in ("", ".") else branch
    return None


def target_commit(path: Path, rev: Optional[str]) -> str:
    git(path, "fetch", "--quiet", "origin")
    if rev:
        for candidate in (rev, f"origin/{rev}"):
            out = git(path, "rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}", check=False).strip()
            if out:
                return out
        raise UpdateError(f"{path}: no commit {rev!r} in the checkout or its origin")
    branch = _configured_branch(path)
    if branch:  # `branch = ...` in the superproject's .gitmodules, as `git submodule update --remote` reads it
        out = git(path, "rev-parse", "--verify", "--quiet", f"origin/{branch}^{{commit}}", check=False).strip()
        if not out:
            raise UpdateError(f"{path}: .gitmodules names branch {branch!r}, which origin does not have")
        return out
    head = git(path, "rev-parse", "--verify", "--quiet", "origin/HEAD^{commit}", check=False).strip()
    if not head:
        git(path, "remote", "set-head", "origin", "--auto")
        head = git(path, "rev-parse", "--verify", "origin/HEAD^{commit}").strip()
    return head


def tool(*args: str) -> int:
    """This tool as a child process (same interpreter), output passed through."""
    sys.stdout.flush()
    sys.stderr.flush()
    return subprocess.call([sys.executable, "-m", "sam3d_codemod", *args])


def update(path: Path, rev: Optional[str], apply_args: Sequence[str], check_args: Sequence[str],
           say=print) -> int:
    plan = preflight(path)
    before = git(path, "rev-parse", "HEAD").strip()
    commit = target_commit(path, rev)  # fetch and resolve first: a bad REV leaves the tree as it was
    from .lock import TreeLock, TreeLocked

    try:
        with TreeLock([str(path)]):
            reverting.execute(plan)
    except TreeLocked as exc:
        raise UpdateError(str(exc)) from None
    say(f"update: reverted {len(plan.writes) + len(plan.removes)} file(s)")
    if commit != before:
        try:
            git(path, "checkout", "--quiet", "--detach", commit)
        except UpdateError as exc:
            raise UpdateError(f"{exc} (the tree is reverted, still at {before[:12]}: "
                              f"`sam3d-codemod apply {path}` patches it again)") from None
    say(f"update: {path} at {commit[:12]} (was {before[:12]})")
    code = tool("apply", str(path), *apply_args)
    if code == 2:
        raise UpdateError(f"apply exited 2 on {path} (errors above)")
    code = tool("check", str(path), *check_args)
    if commit != before:
        say(f"update: record the bump in your repo: git add {path} && git commit")
    return code

"""`sam3d-codemod update PATH [--rev REV]`: revert -> move the checkout -> apply -> check, one command.

PATH is a git checkout of upstream (normally a submodule). Before anything is written the revert is
planned and the checkout's other changes are looked at: a user's edit that the checkout would
carry over (or lose) makes the command refuse and name the files, with nothing changed. After
``git fetch`` (which can take minutes) the plan is made again under the tree lock, right before
the writes, and each write happens only if its file still holds the bytes that plan read: an
edit made during the fetch is kept, never reverted away. A refused ``git checkout`` puts the
reverted files back, so the tree is exactly as it was, and git's reason is shown. An interrupted
update is recognised on the next run (cli/update_state.py). apply and check run in this process
through the command group (cli/steps.py), so their output and exit codes are the usual ones.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

from . import revert as reverting
from . import update_state
from .steps import run_step


class UpdateError(Exception):
    """One line; the step that failed and why."""


def git(path: Path, *args: str, check: bool = True) -> str:
    try:
        proc = subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as exc:
        raise UpdateError(f"git {args[0]}: {exc}") from None
    if check and proc.returncode != 0:
        raise UpdateError(f"git {' '.join(args[:2])}: {git_reason(proc.stderr)}")
    return proc.stdout


def git_reason(stderr: str) -> str:
    """git's whole message on one line (its last line alone is often just "Aborting")."""
    lines = [" ".join(line.split()) for line in stderr.splitlines()]
    return "; ".join(line for line in lines if line)[:2000] or "failed"


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


def _head_blob(path: Path, rel: str, rev: str = "HEAD") -> Optional[bytes]:
    proc = subprocess.run(["git", "-C", str(path), "show", f"{rev}:./{rel}"], capture_output=True, timeout=60)
    return proc.stdout if proc.returncode == 0 else None


def _untracked(path: Path) -> List[str]:
    out = git(path, "ls-files", "-z", "--others", "--exclude-standard", "--", ".")
    return [name for name in out.split("\0") if name]


def preflight(path: Path, resuming: Optional[dict] = None) -> reverting.Plan:
    """The revert plan, after proving that every change in the checkout is apply's own (or, when
    ``resuming`` an update cut short during its checkout, the new commit's own bytes)."""
    if git(path, "rev-parse", "--is-inside-work-tree", check=False).strip() != "true":
        raise UpdateError(f"{path}: not a git checkout (update moves a submodule; use revert/apply yourself)")
    plan = reverting.plan(path)
    own = []
    for rel in _dirty(path):
        if rel in plan.writes and plan.writes[rel] == _head_blob(path, rel):
            continue  # apply's change, which the revert takes out
        if resuming and _is_targets(path, rel, resuming["to"]):
            continue  # written by the interrupted checkout
        own.append(rel)
    if resuming:
        for rel in _untracked(path):
            # Only files the new commit has are in the forced checkout's way; they must be its bytes.
            if _head_blob(path, rel, resuming["to"]) is not None and not _is_targets(path, rel, resuming["to"]):
                own.append(rel)
    if own and resuming:
        raise UpdateError(f"{path}: an earlier update (from {resuming['from'][:12]} to {resuming['to'][:12]}) was "
                          f"interrupted during git checkout, and {', '.join(sorted(own))} hold neither commit's "
                          f"bytes nor apply's; nothing changed (save them, then `git -C {path} checkout --force "
                          f"--detach {resuming['to'][:12]}` and run update again)")
    if own:
        raise UpdateError(f"{path}: nothing changed: your own edits in {', '.join(sorted(own))} "
                          "(commit or stash them in the checkout, then run again)")
    return plan


def _is_targets(path: Path, rel: str, target: str) -> bool:
    blob = _head_blob(path, rel, target)
    try:
        current: Optional[bytes] = (path / rel).read_bytes() if not os.path.islink(path / rel) else None
    except FileNotFoundError:
        current = None
    except OSError:
        return False
    return current == blob


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


def _resumable(path: Path) -> Optional[dict]:
    """The marker of an interrupted update whose checkout must be finished, or None."""
    earlier = update_state.pending(path)
    if earlier is None:
        return None
    lock = update_state.index_lock(path)
    if lock is not None:
        raise UpdateError(f"{path}: an earlier update (from {earlier['from'][:12]} to {earlier['to'][:12]}) was "
                          f"interrupted during git checkout and left {lock}; if no git command is running in "
                          "the checkout, remove that file and run update again (it finishes the move); nothing changed")
    head = git(path, "rev-parse", "HEAD").strip()
    return earlier if head == earlier["from"] and earlier["to"] != head else None


def update(path: Path, rev: Optional[str], apply_args: Sequence[str], check_args: Sequence[str],
           say=print, tool: Callable[..., int] = run_step) -> int:
    resuming = _resumable(path)
    preflight(path, resuming)
    before = git(path, "rev-parse", "HEAD").strip()
    if resuming:
        commit = resuming["to"]
        say(f"update: finishing an interrupted update of {path} to {commit[:12]}")
    else:
        commit = target_commit(path, rev)  # fetch and resolve first: a bad REV leaves the tree as it was
    from .lock import TreeLock, TreeLocked

    try:
        with TreeLock([str(path)]):
            plan = preflight(path, resuming)  # again, right before writing: the fetch may have taken minutes
            update_state.begin(path, before, commit)
            written = _revert_and_move(path, plan, before, commit, force=bool(resuming))
    except TreeLocked as exc:
        raise UpdateError(str(exc)) from None
    say(f"update: reverted {written} file(s)")
    say(f"update: {path} at {commit[:12]} (was {before[:12]})")
    code = tool("apply", str(path), *apply_args)
    update_state.end(path)
    if code == 2:
        raise UpdateError(f"apply exited 2 on {path} (errors above)")
    code = tool("check", str(path), *check_args)
    if commit != before:
        say(f"update: record the bump in your repo: git add {path} && git commit")
    return code


def _revert_and_move(path: Path, plan: reverting.Plan, before: str, commit: str, force: bool) -> int:
    """Revert, then check out ``commit``; a refused checkout puts the reverted files (and apply's record) back."""
    from . import applied

    record = applied.load(path)
    try:
        reverting.execute(plan, all_or_nothing=True)
    except reverting.RevertError:
        update_state.end(path)
        raise
    if commit == before:
        return len(plan.writes) + len(plan.removes)
    try:
        git(path, "checkout", "--quiet", *(["--force"] if force else []), "--detach", commit)
    except UpdateError as exc:
        done: List[Tuple[str, Optional[bytes], Optional[bytes]]] = [
            (rel, plan.seen.get(rel), data) for rel, data in plan.writes.items()]
        done += [(rel, plan.seen.get(rel), None) for rel in plan.removes]
        left = reverting.undo(path, done)
        applied.save(path, record)
        update_state.end(path)
        if left:
            raise UpdateError(f"{exc} (still at {before[:12]}; could not put back {', '.join(left)}: "
                              f"`sam3d-codemod apply {path}` patches them again)") from None
        raise UpdateError(f"{exc} (nothing changed: still at {before[:12]}, patched as before)") from None
    return len(plan.writes) + len(plan.removes)

"""Issue 21.2 and 21.7: `update` keeps an edit made during its fetch, leaves the tree exactly as it
was when git refuses the checkout (and says why), and recognises an update killed during its
checkout. Each case failed before its fix: the edit was reverted away (exit 0), the refused
checkout left the tree reverted with git's reason cut to "Aborting", the rerun after a kill
called the half-moved files "your own edits".

The upstream is a small local bare repo; a `git` wrapper first on PATH stands in for a slow
fetch (the user edits meanwhile) and for a kill in the middle of `git checkout`.
"""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from ..checkout import ENV, git
from .helpers import PATCHABLE, PATCHED, snapshot

SUB = "external/up"
REAL_GIT = shutil.which("git")


def setup(tmp_path: Path):
    work = tmp_path / "upstream-work"
    (work / "pkg").mkdir(parents=True)
    (work / "pkg" / "__init__.py").write_text("")
    (work / "pkg" / "m.py").write_text(PATCHABLE)
    (work / "pkg" / "plain.py").write_text("x = 1\n")
    git(work, "init", "-q")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "v1")
    git(tmp_path, "clone", "-q", "--bare", str(work), str(tmp_path / "upstream.git"))
    git(work, "remote", "add", "origin", str(tmp_path / "upstream.git"))
    repo = tmp_path / "consumer"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "submodule", "add", "-q", str(tmp_path / "upstream.git"), SUB)
    git(repo, "commit", "-qm", "add upstream")
    sub = repo / SUB
    assert tool(tmp_path, "apply", sub, "--no-cache", "-q").returncode == 0
    assert (sub / "pkg" / "m.py").read_text() == PATCHED
    return work, sub


def bump(work: Path, files: dict) -> str:
    for rel, text in files.items():
        (work / rel).write_text(text)
    git(work, "add", "-A")
    git(work, "commit", "-qm", "v2")
    git(work, "push", "-q", "origin", "HEAD:main")
    return git(work, "rev-parse", "HEAD").strip()


def wrapper(tmp_path: Path, body: str) -> dict:
    """An environment whose `git` runs ``body`` (sh) before the real git."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    script = bindir / "git"
    script.write_text(f"#!/bin/sh\n{body}\nexec {REAL_GIT} \"$@\"\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return dict(ENV, PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}")


def tool(tmp_path: Path, *args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sam3d_codemod", *map(str, args)], capture_output=True, text=True,
                          env=dict(env or ENV, SAM3D_CODEMOD_NO_REPLAY="1"), cwd=tmp_path, timeout=300)


def test_edit_made_during_the_fetch_is_kept(tmp_path):
    work, sub = setup(tmp_path)
    bump(work, {"pkg/plain.py": "x = 2\n"})
    target = sub / "pkg" / "m.py"
    env = wrapper(tmp_path, f'case " $* " in *" fetch "*) printf "\\ndef added_during_fetch():\\n    pass\\n" '
                            f'>> "{target}";; esac')
    proc = tool(tmp_path, "update", sub, "--no-cache", env=env)
    assert "def added_during_fetch():" in target.read_text(), proc.stdout + proc.stderr
    # refused, naming the file (the edit touches the patched line's neighbourhood: the merge conflicts)
    assert proc.returncode == 2 and "pkg/m.py" in proc.stderr and "nothing" in proc.stderr, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


def test_refused_checkout_leaves_the_tree_exactly_as_it_was(tmp_path):
    work, sub = setup(tmp_path)
    bump(work, {"pkg/new.py": "upstream = 1\n"})
    (sub / "pkg" / "new.py").write_text("mine = 1\n")  # untracked, in the checkout's way
    before = snapshot(sub / "pkg")
    proc = tool(tmp_path, "update", sub, "--no-cache")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert "would be overwritten by checkout" in out and "pkg/new.py" in out, out
    assert snapshot(sub / "pkg") == before
    assert tool(tmp_path, "revert", sub).returncode == 0  # the apply record was put back with the files
    assert (sub / "pkg" / "m.py").read_text() == PATCHABLE


def test_update_killed_during_checkout_is_recognised_then_finished(tmp_path):
    work, sub = setup(tmp_path)
    new_head = bump(work, {"pkg/plain.py": "x = 2\n", "pkg/m.py": PATCHABLE + "\n# v2\n"})
    # git writes some files, holds index.lock, and the update is killed (SIGKILL) meanwhile.
    env = wrapper(tmp_path, f'case " $* " in *" checkout "*) for last; do :; done; '
                            f'{REAL_GIT} -C "{sub}" show "$last:pkg/plain.py" > "{sub}/pkg/plain.py"; '
                            f': > "$({REAL_GIT} -C "{sub}" rev-parse --absolute-git-dir)/index.lock"; '
                            f'kill -9 $PPID; exit 1;; esac')
    killed = tool(tmp_path, "update", sub, "--no-cache", env=env)
    assert killed.returncode == -9
    lock = Path(git(sub, "rev-parse", "--absolute-git-dir").strip()) / "index.lock"
    assert lock.exists() and (sub / "pkg" / "plain.py").read_text() == "x = 2\n"  # half moved

    again = tool(tmp_path, "update", sub, "--no-cache")
    out = again.stdout + again.stderr
    assert again.returncode == 2 and "interrupted during git checkout" in out and "index.lock" in out, out
    lock.unlink()  # as the message says, once no git runs
    done = tool(tmp_path, "update", sub, "--no-cache")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "finishing an interrupted update" in out
    assert git(sub, "rev-parse", "HEAD").strip() == new_head
    assert (sub / "pkg" / "m.py").read_text() == PATCHED + "\n# v2\n"
    assert sorted(line[3:] for line in git(sub, "status", "--porcelain").splitlines()) == ["pkg/m.py"]

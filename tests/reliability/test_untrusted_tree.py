"""The tree is untrusted input (issue 21): its ignore files cannot hide a tracked file or stall a
run, and no string from it can forge output (a GitHub workflow command, a terminal escape)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .helpers import PATCHABLE, cli

FORGED = "a\n::error file=x.py::forged.py"


def _git_tree(root: Path) -> Path:
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                   check=True, capture_output=True)


def test_a_tracked_file_listed_in_gitignore_is_checked(tmp_path):
    # git ignores only untracked files: upstream cannot take a file that runs out of the gate
    # by listing it in its own .gitignore (the file stays in the index, so it ships and runs).
    tree = _git_tree(tmp_path / "tree")
    (tree / "clean.py").write_text("x = 1\n")
    (tree / "hidden.py").write_text(PATCHABLE)
    (tree / "vendor").mkdir()
    (tree / "vendor" / "also.py").write_text(PATCHABLE)
    _git(tree, "add", "-A")
    _git(tree, "commit", "-qm", "base")
    (tree / ".gitignore").write_text("hidden.py\nvendor/\nuntracked.py\n")
    (tree / "untracked.py").write_text(PATCHABLE)  # not in the index: git ignores it, so do we
    proc = cli("check", tree, "--no-cache", "--output-format", "json", "--isolated")
    data = json.loads(proc.stdout)
    assert sorted(data["files_changed"]) == ["hidden.py", "vendor/also.py"], data["files_changed"]
    assert proc.returncode == 1
    (tree / ".gitignore").write_text("vendor/*.py\n")  # a walk that starts below the top reads the index too
    below = json.loads(cli("check", tree / "vendor", "--no-cache", "--output-format", "json", "--isolated").stdout)
    assert below["files_changed"] == ["also.py"]


def test_a_huge_gitignore_is_refused_in_bounded_time(tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    for i in range(30):
        (tree / f"m{i}.py").write_text("x = 1\n")
    (tree / ".gitignore").write_text("".join(f"dir{i}/x{i}.py\n" for i in range(100_000)))
    start = time.monotonic()
    proc = cli("check", tree, "--no-cache", "--isolated")
    took = time.monotonic() - start
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert len(err.strip().splitlines()) == 1 and "patterns" in err and ".gitignore" in err
    assert took < 20


def test_a_pathological_ignore_pattern_cannot_hang_a_run(tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / ("a" * 200 + ".py")).write_text("x = 1\n")
    (tree / ".gitignore").write_text("*a*a*a*a*a*a*a*a*a*a*a*a*b\x1b[2J\x07\n")
    try:
        proc = cli("check", tree, "--no-cache", "--isolated", timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("one ignore pattern hung the run")
    err = proc.stderr.decode()
    assert proc.returncode == 2 and len(err.strip().splitlines()) == 1 and "'*'" in err, err
    _assert_safe(err)  # the pattern is named, escaped


def _hostile_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    (tree / "pkg").mkdir(parents=True)
    (tree / "pkg" / "__init__.py").write_text("")
    (tree / "pkg" / (FORGED + ".py")).write_text(PATCHABLE)
    (tree / "pkg" / "bell\x07esc\x1b[2J.py").write_text(PATCHABLE)
    (tree / "pkg" / "broken\n::error::x.py").write_text("def (:\n")
    return tree


def _assert_safe(text: str) -> None:
    for line in text.splitlines():
        assert not line.startswith("::error file=x.py"), line  # a forged workflow command
        assert not line.startswith("::error::x.py"), line
    assert "\x1b" not in text and "\x07" not in text, repr(text)


def test_names_from_the_tree_cannot_forge_output(tmp_path):
    tree = _hostile_tree(tmp_path)
    for args in (("check", "-v"), ("check", "--output-format", "github"), ("apply", "-v"),
                 ("diff", "--show-fixes"), ("check", "-q"), ("check", "--statistics")):
        proc = cli(*args, tree, "--no-cache", "--isolated", "--color", "never")
        out = proc.stdout.decode("utf-8", "replace") if args[0] != "diff" else ""  # diff: the files' own bytes
        _assert_safe(out + proc.stderr.decode("utf-8", "replace"))
        assert proc.returncode in (1, 2), args


def test_config_values_from_the_tree_cannot_forge_output(tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "m.py").write_text(PATCHABLE)
    (tree / "pyproject.toml").write_text('[tool.sam3d-codemod]\n"x\\n::error file=x.py::y\\u001b[2J" = 1\n'
                                         'exclude = ["a\\u0007b"]\n')
    proc = cli("check", tree, "--no-cache", "-v")
    _assert_safe(proc.stdout.decode() + proc.stderr.decode())
    assert proc.returncode == 2


def test_a_replayed_check_sees_a_file_leave_the_index(tmp_path):
    """The index decides which ignored files are checked, so a replayed `check` of a folder (the
    git dir outside the walk) must notice that the index changed."""
    tree = _git_tree(tmp_path / "tree")
    (tree / "pkg").mkdir()
    (tree / "pkg" / "clean.py").write_text("x = 1\n")
    (tree / "pkg" / "hidden.py").write_text(PATCHABLE)
    (tree / ".gitignore").write_text("pkg/hidden.py\n")
    _git(tree, "add", "-f", "-A")
    _git(tree, "commit", "-qm", "base")
    env = dict(os.environ)
    env.pop("SAM3D_CODEMOD_NO_REPLAY", None)
    entry = [sys.executable, "-c", "from sam3d_codemod.cli.entry import main; main()", "check", str(tree / "pkg"),
             "--isolated"]
    first = subprocess.run(entry, capture_output=True, text=True, env=env)  # writes the tree's result cache
    time.sleep(2.1)  # past the racy-clean window: the next run is recorded, the one after replays it
    again = subprocess.run(entry, capture_output=True, text=True, env=env)
    assert first.returncode == again.returncode == 1, first.stdout + again.stdout
    _git(tree, "rm", "-q", "--cached", "pkg/hidden.py")  # untracked now: ignored, as git ignores it
    after = subprocess.run(entry, capture_output=True, text=True, env=env)
    assert after.returncode == 0 and after.stdout.endswith("All clean: 1 file\n"), after.stdout

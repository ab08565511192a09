"""A warm `check` piped to a file replays the last identical run when nothing it read changed."""
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

PATCHABLE = "import torch\nx = torch.compile(f)\n"


def _run(tree: Path, cache: Path, *args, importtime: bool = False, env_extra=None):
    env = dict(os.environ, SAM3D_CODEMOD_CACHE=str(cache), **(env_extra or {}))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cmd = [sys.executable] + (["-X", "importtime"] if importtime else []) + ["-m", "sam3d_codemod", "check", str(tree), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tree.parent)
    imported = {m.group(1) for m in re.finditer(r"import time:.*\|\s*(\S+)$", proc.stderr, re.M)}
    stderr = "\n".join(line for line in proc.stderr.splitlines() if not line.startswith("import time:"))
    return proc.returncode, re.sub(r" in \d+\.\d+s$", "", proc.stdout, flags=re.M), stderr, imported


def _settle() -> None:
    time.sleep(0.25)  # past the racy window (replay.RACY_FINE_NS): the next run may be recorded


@pytest.fixture
def tree(tmp_path):
    pkg = tmp_path / "t" / "pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text(PATCHABLE)
    _settle()
    return tmp_path / "t"


def test_third_run_replays_the_second_without_importing_click(tree, tmp_path):
    cache = tmp_path / "cache"
    first = _run(tree, cache)  # cold: creates the per-file cache (the tree changes: not recorded)
    _settle()
    second = _run(tree, cache)  # warm, full start-up: recorded
    third = _run(tree, cache, importtime=True)
    assert second[0] == third[0] == 1
    assert third[1] == second[1] and "TC011" in third[1]
    assert first[1].replace("1 parsed", "0 parsed") == third[1]
    assert "click" not in third[3] and "sam3d_codemod.cli.runner" not in third[3]
    assert "sam3d_codemod.cli.replay" in third[3]


@pytest.mark.parametrize("change", ["edit", "new file", "new dir", "config", "parent config", "nested gitignore",
                                    "delete"])
def test_any_change_runs_for_real(tree, tmp_path, change):
    cache = tmp_path / "cache"
    _run(tree, cache)
    _settle()
    _run(tree, cache)
    assert "click" not in _run(tree, cache, importtime=True)[3]  # replays before the change
    pkg = tree / "pkg"
    if change == "edit":
        (pkg / "a.py").write_text("import torch\nx = 1\n" + " " * 8)  # same size, no site left
        def expect(out):
            return "pkg/a.py:2: TC011" not in out
    elif change == "new file":
        (pkg / "b.py").write_text("import torch\ny = torch.compile(g)\n")
        def expect(out):
            return "pkg/b.py:2: TC011" in out
    elif change == "new dir":
        (pkg / "sub").mkdir()
        (pkg / "sub" / "__init__.py").write_text("")
        (pkg / "sub" / "c.py").write_text("import torch\nz = torch.compile(h)\n")
        def expect(out):
            return "pkg/sub/c.py:2: TC011" in out
    elif change == "config":  # the tree's own: ignored with a note (issue 21.4), still a new input
        (tree / "pyproject.toml").write_text('[tool.sam3d-codemod]\nignore = ["TC011"]\n')
        def expect(out):
            return "TC011" in out.split("sam3d-codemod check")[0]
    elif change == "parent config":  # above a section-less pyproject.toml, which is passed over
        (tree / "pyproject.toml").write_text('[project]\nname = "t"\n')
        (tree.parent / "pyproject.toml").write_text('[tool.sam3d-codemod]\nignore = ["TC011"]\n')
        def expect(out):
            return "TC011" not in out.split("sam3d-codemod check")[0]
    elif change == "nested gitignore":
        (pkg / ".gitignore").write_text("a.py\n")
        def expect(out):
            return "pkg/a.py" not in out
    else:
        (pkg / "a.py").unlink()
        def expect(out):
            return "pkg/a.py" not in out
    code, out, err, imported = _run(tree, cache, importtime=True)
    assert "click" in imported, "replayed a run whose inputs changed"
    assert expect(out), out


@pytest.mark.parametrize("change", ["global excludes", "requirement file", "info exclude"])
def test_inputs_noted_where_they_are_read_are_watched(tree, tmp_path, change):
    """Replay watches what the run noted as read (cli/inputs.py), not a second list kept by hand:
    the user's global excludes file, a requirement file, .git/info/exclude."""
    subprocess.run(["git", "init", "-q", str(tree)], check=True)
    xdg = tmp_path / "xdg"
    (xdg / "git").mkdir(parents=True)
    (xdg / "git" / "ignore").write_text("# nothing yet\n")
    (tmp_path / "home").mkdir()
    env = {"XDG_CONFIG_HOME": str(xdg), "HOME": str(tmp_path / "home")}
    cache = tmp_path / "cache"
    _settle()
    _run(tree, cache, env_extra=env)
    _settle()
    _run(tree, cache, env_extra=env)
    assert "click" not in _run(tree, cache, importtime=True, env_extra=env)[3]  # replays before the change
    if change == "global excludes":
        (xdg / "git" / "ignore").write_text("pkg/a.py\n")
        def expect(out):
            return "pkg/a.py" not in out
    elif change == "info exclude":
        (tree / ".git" / "info" / "exclude").write_text("pkg/a.py\n")
        def expect(out):
            return "pkg/a.py" not in out
    else:
        (tree / "requirements.txt").write_text("torchaudio==2.5.1+cu121\n")
        def expect(out):
            return "requirements.txt" in out
    code, out, err, imported = _run(tree, cache, importtime=True, env_extra=env)
    assert "click" in imported, "replayed a run whose inputs changed"
    assert expect(out), out


def test_no_cache_and_other_options_are_separate_runs(tree, tmp_path):
    cache = tmp_path / "cache"
    for _ in range(3):
        _run(tree, cache, "--no-cache")
    assert not (cache / "runs").exists() or not list((cache / "runs").iterdir())
    _run(tree, cache)
    _settle()
    _run(tree, cache)
    code, out, err, imported = _run(tree, cache, "--output-format", "json", importtime=True)
    assert "click" in imported  # another command line: never recorded before
    assert out.lstrip().startswith("{")


def test_fresh_changes_are_not_recorded(tmp_path):
    """A file changed a moment ago may change again within the clock's resolution: such a run is
    not recorded."""
    pkg = tmp_path / "t" / "pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text(PATCHABLE)
    cache = tmp_path / "cache"
    _run(tmp_path / "t", cache)
    _settle()
    (pkg / "a.py").write_text(PATCHABLE)  # rewritten "just before" the run that would be recorded:
    soon = time.time() + 5  # a timestamp inside the racy window of that run, whatever its start-up takes
    os.utime(pkg / "a.py", (soon, soon))
    _run(tmp_path / "t", cache)
    code, out, err, imported = _run(tmp_path / "t", cache, importtime=True)
    assert "click" in imported


def test_no_replay_variable_runs_for_real(tree, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    _run(tree, cache)
    _settle()
    _run(tree, cache)
    monkeypatch.setenv("SAM3D_CODEMOD_NO_REPLAY", "1")
    assert "click" in _run(tree, cache, importtime=True)[3]


def test_records_are_pruned_to_the_newest(tmp_path, monkeypatch):
    from sam3d_codemod.cli import replay

    monkeypatch.setenv("SAM3D_CODEMOD_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SAM3D_CODEMOD_NO_REPLAY", raising=False)
    monkeypatch.setattr(replay, "replayable", lambda argv: True)
    runs = tmp_path / "cache" / "runs"
    runs.mkdir(parents=True)
    old = time.time() - 3600
    for i in range(replay.MAX_RECORDS + 40):
        f = runs / f"old{i:04d}.json"
        f.write_text("{}")
        os.utime(f, (old + i, old + i))
    replay.record(["check", "x"], [], time.time_ns() - 10**10, "out", "", 0)
    names = sorted(p.name for p in runs.iterdir())
    assert len(names) == replay.MAX_RECORDS
    assert "old0040.json" not in names and "old0041.json" in names  # the 41 oldest went
    assert any(not n.startswith("old") for n in names)  # the new record stayed

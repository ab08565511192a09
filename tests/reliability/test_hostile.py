"""Hostile trees (issue 13): every case here failed before its fix (a write outside the tree, a
lost edit, a false clean, a hang, a traceback, unbounded memory, an injected workflow command).

Invariants: the tool writes only regular files inside the tree, never through a link; a file's
bytes are compared with what was read immediately before the rename; a rewrite is written only
when the helper it imports exists; every error path is a one-line message with exit 2; memory
is bounded (see docs/design.md, "Hostile trees").
"""
from __future__ import annotations

import builtins
import errno
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sam3d_codemod.cli import lock as lock_mod
from sam3d_codemod.cli.lock import LOCK_NAME, TreeLock

from .helpers import IS_ROOT, PATCHABLE, ROOT, cli, invoke

NEEDS_HELPER = "import torch\n\ndef f():\n    return torch.compiler.is_compiling()\n"  # TC004: via _torch_compat
CLEAN_SAME_SIZE = PATCHABLE.replace("index_add_", "index_sub_")  # no rule, same length, same mtime


def _pkg(tmp_path: Path, files=None) -> Path:
    root = tmp_path / "tree"
    pkg = root / "pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    for name, text in (files or {"m.py": NEEDS_HELPER}).items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(text)
    return root


def _one_line_error(out: str, code: int) -> None:
    assert code == 2, out
    assert "Traceback" not in out, out
    assert any(line.startswith(("error:", "sam3d-codemod: error:")) for line in out.splitlines()), out


def _deny(monkeypatch, path: Path) -> None:
    """EACCES for this one path, whichever way it is opened (root reads any file whatever its mode)."""
    target = os.fspath(path)
    for owner, name in ((os, "open"), (builtins, "open"), (io, "open")):
        real = getattr(owner, name)

        def fake(file, *a, _real=real, **kw):
            if not isinstance(file, int) and os.fspath(file) == target:
                raise PermissionError(errno.EACCES, "Permission denied", target)
            return _real(file, *a, **kw)

        monkeypatch.setattr(owner, name, fake)


# ------------------------------------------------------------------ 1. symlinks


def test_symlinked_helper_target_is_never_overwritten(tmp_path):
    root = _pkg(tmp_path)
    victim = tmp_path / "victim.py"
    victim.write_text("precious = 1\n")
    (root / "pkg" / "_torch_compat.py").symlink_to(victim)
    code, out = invoke("apply", root, "--no-cache")
    _one_line_error(out, code)
    assert victim.read_text() == "precious = 1\n"
    assert (root / "pkg" / "m.py").read_text() == NEEDS_HELPER  # its helper could not be written


def test_linked_checkpoint_dir_outside_the_tree_is_not_rewritten(tmp_path):
    root = _pkg(tmp_path, {"m.py": "x = 1\n"})
    shared = tmp_path / "shared" / "hf"
    shared.mkdir(parents=True)
    (shared / "pipeline.yaml").write_text("compile_model: true\n")
    (root / "checkpoints").mkdir()
    (root / "checkpoints" / "hf").symlink_to(shared, target_is_directory=True)
    before = os.stat(shared / "pipeline.yaml")
    code, out = invoke("apply", root, "--no-cache")
    # TC010 only reads the config now (compile is decided at run time): a note, no write through the link.
    assert code == 0, out
    assert "TC010" in out and "Traceback" not in out, out
    assert (shared / "pipeline.yaml").read_text() == "compile_model: true\n"
    assert os.stat(shared / "pipeline.yaml").st_mtime_ns == before.st_mtime_ns


def test_symlinked_cache_dir_is_not_written(tmp_path):
    root = _pkg(tmp_path, {"m.py": PATCHABLE})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root / ".sam3d-codemod-cache").symlink_to(elsewhere, target_is_directory=True)
    code, out = invoke("check", root)
    assert code == 1, out
    assert list(elsewhere.iterdir()) == []


# ------------------------------------------------------------------ 2. lost updates


def test_edit_between_temp_write_and_rename_is_not_lost(tmp_path, monkeypatch):
    root = _pkg(tmp_path, {"m.py": PATCHABLE})
    target = root / "pkg" / "m.py"
    real_fsync = os.fsync

    def fsync_then_user_edits(fd):  # the slow part of a write: the user saves meanwhile
        real_fsync(fd)
        target.write_text("# the user's edit\n")

    monkeypatch.setattr(os, "fsync", fsync_then_user_edits)
    code, out = invoke("apply", root, "--no-cache")
    assert code == 2 and "changed on disk" in out, out
    assert target.read_text() == "# the user's edit\n"
    assert not [p for p in target.parent.iterdir() if p.name.endswith(".sam3d-tmp")]


# ------------------------------------------------------------------ 3. cache and same-size edits


def test_same_size_edit_keeping_mtime_and_inode_is_seen(tmp_path, monkeypatch):
    monkeypatch.setenv("SAM3D_CODEMOD_NO_REPLAY", "1")
    root = _pkg(tmp_path, {"m.py": PATCHABLE})
    f = root / "pkg" / "m.py"
    assert invoke("check", root)[0] == 1  # fills the per-file cache
    st = f.stat()
    with open(f, "r+") as fh:  # in place: same inode, same size
        fh.write(CLEAN_SAME_SIZE)
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))  # `touch -r`, `cp -p`, coarse timestamps
    assert (f.stat().st_ino, f.stat().st_size, f.stat().st_mtime_ns) == (st.st_ino, st.st_size, st.st_mtime_ns)
    code, out = invoke("check", root)
    assert code == 0, out
    invoke("apply", root)
    assert f.read_text() == CLEAN_SAME_SIZE  # never the cached rewrite of the old content


# ------------------------------------------------------------------ 4. helper write fails


def test_file_not_written_when_its_helper_cannot_be(tmp_path, monkeypatch):
    root = _pkg(tmp_path, {"m.py": NEEDS_HELPER, "n.py": NEEDS_HELPER, "p.py": PATCHABLE})
    real_fsync = os.fsync

    def disk_full_for_the_helper(fd):
        if "_torch_compat" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", disk_full_for_the_helper)
    code, out = invoke("apply", root, "--no-cache")
    _one_line_error(out, code)
    assert not (root / "pkg" / "_torch_compat.py").exists()
    assert (root / "pkg" / "m.py").read_text() == NEEDS_HELPER
    assert (root / "pkg" / "n.py").read_text() == NEEDS_HELPER
    assert "index_add_(0, i, s.to(x.dtype))" in (root / "pkg" / "p.py").read_text()  # needs no helper


# ------------------------------------------------------------------ 5. false clean

NEWER_SYNTAX = {
    "deep.py": "x = " + "(" * 500 + "1" + ")" * 500 + "\n",
    "broken.py": "def f(:\n    pass\n",  # no rule triggers here (issue 14 item 9)
    "outside.py": "return 1\n",  # parses, but the compiler rejects it
}
if sys.version_info < (3, 12):
    NEWER_SYNTAX["alias.py"] = "type X = int\n"
    NEWER_SYNTAX["fstr.py"] = 'import torch\nx = f"{"nested"}"\ny = torch.utils.checkpoint\n'


@pytest.mark.parametrize("name", sorted(NEWER_SYNTAX))
@pytest.mark.parametrize("command", ["check", "apply"])
def test_file_this_python_rejects_is_an_error(tmp_path, name, command):
    root = _pkg(tmp_path, {"ok.py": "x = 1\n", name: NEWER_SYNTAX[name]})
    code, out = invoke(command, root, "--no-cache")
    _one_line_error(out, code)
    assert f"pkg/{name}: syntax error" in out, out
    assert (root / "pkg" / name).read_text() == NEWER_SYNTAX[name]


def test_unreadable_directory_is_an_error(tmp_path, monkeypatch):
    root = _pkg(tmp_path, {"m.py": "x = 1\n", "secret/n.py": PATCHABLE})
    secret = os.fspath(root / "pkg" / "secret")
    real = os.scandir

    def scandir(path="."):
        if os.fspath(path) == secret:
            raise PermissionError(errno.EACCES, "Permission denied", secret)
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    code, out = invoke("check", root, "--no-cache")
    _one_line_error(out, code)
    assert "pkg/secret: cannot list this directory" in out


# ------------------------------------------------------------------ 6. hangs


@pytest.mark.parametrize("where", [".git/_torch_compat.py", "pkg/sub/_torch_compat.py", "pkg/_torch_compat.py",
                                   "pkg/fifo.py", ".gitignore"])
@pytest.mark.parametrize("command", ["check", "apply"])
def test_fifo_anywhere_does_not_hang(tmp_path, where, command):
    root = _pkg(tmp_path)
    (root / where).parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(root / where)
    try:
        proc = cli(command, root, "--no-cache", timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{command} hung on a FIFO at {where}")
    assert proc.returncode in (0, 1, 2) and b"Traceback" not in proc.stderr, proc.stderr


def test_check_lock_fifo_does_not_hang(tmp_path):
    root = _pkg(tmp_path)
    os.mkfifo(tmp_path / "lock")
    try:
        proc = cli("check", root, "--lock", tmp_path / "lock", timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("check --lock FIFO hung")
    assert proc.returncode == 2 and b"Traceback" not in proc.stderr, proc.stderr


# ------------------------------------------------------------------ 7. tracebacks


def test_directory_named_like_the_helper(tmp_path):
    root = _pkg(tmp_path)
    (root / "pkg" / "_torch_compat.py").mkdir()
    code, out = invoke("apply", root, "--no-cache")
    _one_line_error(out, code)
    assert (root / "pkg" / "m.py").read_text() == NEEDS_HELPER


def test_unreadable_helper(tmp_path, monkeypatch):
    root = _pkg(tmp_path)
    assert invoke("apply", root, "--no-cache")[0] == 0
    helper = root / "pkg" / "_torch_compat.py"
    helper.write_bytes(helper.read_bytes() + b"# older\n")
    (root / "pkg" / "n.py").write_text(NEEDS_HELPER)  # a file that needs it: the helper is looked at
    _deny(monkeypatch, helper)
    code, out = invoke("apply", root, "--no-cache")
    _one_line_error(out, code)


def test_unreadable_pipeline_yaml(tmp_path, monkeypatch):
    root = _pkg(tmp_path, {"m.py": "x = 1\n"})
    (root / "checkpoints" / "hf").mkdir(parents=True)
    config = root / "checkpoints" / "hf" / "pipeline.yaml"
    config.write_text("compile_model: true\n")
    _deny(monkeypatch, config)
    code, out = invoke("apply", root, "--no-cache")
    _one_line_error(out, code)


def test_disk_full_writing_the_apply_lock(tmp_path, monkeypatch):
    root = _pkg(tmp_path, {"m.py": PATCHABLE})

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(lock_mod.os, "write", full)
    code, out = invoke("apply", root, "--no-cache")
    monkeypatch.undo()
    _one_line_error(out, code)
    assert not (root / LOCK_NAME).exists()
    assert (root / "pkg" / "m.py").read_text() == PATCHABLE


@pytest.mark.parametrize("sites", [{"TC001": 5}, {"TC001": {"a.py": "x"}}, [], {"TC001": {"a.py": -1}}])
def test_lock_file_with_a_wrong_shape(tmp_path, sites):
    root = _pkg(tmp_path, {"m.py": PATCHABLE})
    lock = tmp_path / "x.lock"
    lock.write_text(json.dumps({"version": 1, "sites": sites}))
    code, out = invoke("check", root, "--lock", lock, "--no-cache")
    _one_line_error(out, code)
    assert len([line for line in out.splitlines() if "error" in line]) == 1, out


# ------------------------------------------------------------------ 8. memory


def _peak_mb(*args, timeout=120):
    """Exit code, output and peak RSS (MB) of one CLI run in a fresh process."""
    probe = textwrap.dedent("""
        import resource, subprocess, sys
        p = subprocess.run([sys.executable, "-m", "sam3d_codemod.cli.main", *sys.argv[1:]], capture_output=True)
        print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)
        sys.stdout.write(p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace"))
    """)
    proc = subprocess.run([sys.executable, "-c", probe, *map(str, args)], capture_output=True, text=True, timeout=timeout)
    first, _, rest = proc.stdout.partition("\n")
    code, peak = map(int, first.split())
    return code, rest, peak


def test_large_file_a_rule_must_rewrite_is_refused_with_bounded_memory(tmp_path):
    block = "def f{i}(x, i, s):\n    return x.index_add_(0, i, s) + {i}\n\n"
    text = "import torch\n" + "".join(block.format(i=i) for i in range(30_000))  # 1.6 MB
    root = _pkg(tmp_path, {"big.py": text})
    code, out, peak = _peak_mb("check", root, "--no-cache", "-j1", "--max-file-size", 100_000_000)
    assert code == 2 and "limit for LibCST" in out, out
    assert peak < 200, peak  # before: ~400 MB per MB of this file (and minutes)


def test_long_line_inside_a_rewritten_call_is_refused_with_bounded_memory(tmp_path):
    text = "import torch\n\ndef f(x, i, s):\n    return x.index_add_(0, i, s, alpha=[" + ",".join(["1"] * 50_000) + "])\n"
    root = _pkg(tmp_path, {"m.py": text})
    code, out, peak = _peak_mb("check", root, "--no-cache", "-j1")
    assert code == 2 and "line 4 is" in out and "limit for LibCST" in out, out
    assert peak < 200, peak  # before: ~3 KB per byte of the line (330 MB for this 100 KB line)


def test_file_over_the_hard_limit_is_refused_whatever_max_file_size_says(tmp_path):
    root = _pkg(tmp_path, {"m.py": "x = 1\n" * 1_500_000})  # 9 MB
    code, out, peak = _peak_mb("check", root, "--no-cache", "-j1", "--max-file-size", 100_000_000)
    assert code == 2 and "hard limit" in out, out
    assert peak < 200, peak


# ------------------------------------------------------------------ 10. nested roots


@pytest.mark.parametrize("held, run", [("T", "T/sub"), ("T/sub", "T")])
def test_nested_roots_do_not_both_run(tmp_path, held, run):
    base = tmp_path / "T"
    (base / "sub").mkdir(parents=True)
    (base / "sub" / "m.py").write_text(PATCHABLE)
    with TreeLock([str(tmp_path / held)]):
        proc = cli("apply", tmp_path / run, "--no-cache", timeout=60)
    assert proc.returncode == 2 and b"overlapping tree" in proc.stderr, proc.stderr
    assert (base / "sub" / "m.py").read_text() == PATCHABLE


def test_nested_roots_in_one_run_take_one_lock(tmp_path):
    base = tmp_path / "T"
    (base / "sub").mkdir(parents=True)
    (base / "sub" / "m.py").write_text(PATCHABLE)
    code, out = invoke("apply", base, base / "sub", "--no-cache")
    assert code == 0, out


# ------------------------------------------------------------------ 11. injection

EVIL = "x\n::warning title=X::gotcha,y:z%.py"


def test_file_name_cannot_inject_a_workflow_command(tmp_path, monkeypatch):
    root = _pkg(tmp_path, {EVIL: PATCHABLE, "bad\n::error::x.py": "def f(:\n"})
    monkeypatch.delenv("GITHUB_WORKSPACE", raising=False)
    monkeypatch.chdir(tmp_path)  # annotation paths start at the repository (here: the cwd), not at PATH
    code, out = invoke("check", root, "--no-cache", "--output-format", "github")
    assert code == 2
    lines = out.splitlines()
    assert lines and all(line.startswith(("::error file=", "::warning file=", "::notice ")) for line in lines), out
    assert not any(line.startswith(("::warning title=X", "::error::x")) for line in lines), out
    assert "file=tree/pkg/x%0A%3A%3Awarning title=X%3A%3Agotcha%2Cy%3Az%25.py," in out, out
    code, text_out = invoke("check", root, "--no-cache")
    assert not any(line.startswith("::") for line in text_out.splitlines()), text_out


def test_diff_of_a_file_with_a_newline_in_its_name_applies(tmp_path):
    root = _pkg(tmp_path, {EVIL: PATCHABLE})
    proc = cli("diff", "tree", "--no-cache", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert not any(line.startswith(b"::") for line in proc.stdout.splitlines()), proc.stdout
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    applied = subprocess.run(["git", "apply", "-"], input=proc.stdout, cwd=root, capture_output=True)
    assert applied.returncode == 0, applied.stderr
    assert "s.to(x.dtype)" in (root / "pkg" / EVIL).read_text()


# ------------------------------------------------------------------ 12. disk full and the cache


@pytest.fixture
def tiny_fs(tmp_path):
    mnt = tmp_path / "full"
    mnt.mkdir()
    if not IS_ROOT or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                                     capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tiny tmpfs here")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_disk_full_leaves_no_cache_temp_file(tiny_fs):
    root = tiny_fs / "tree"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    for i in range(40):
        (root / "pkg" / f"m{i:02}.py").write_text(f"x = {i}\n")
    (root / ".sam3d-codemod-cache").mkdir()
    (root / ".sam3d-codemod-cache" / ".gitignore").write_text("*\n")
    filler = tiny_fs / "filler"
    with open(filler, "wb", buffering=0) as fh:  # leave less room than the cache needs
        try:
            while True:
                fh.write(b"\0" * 1024)
        except OSError:
            pass
    os.truncate(filler, max(0, filler.stat().st_size - 4096))  # room for the temp file's first page only
    code, out = invoke("check", root)
    assert code == 0, out
    left = [p.name for p in (root / ".sam3d-codemod-cache").glob("*")] if (root / ".sam3d-codemod-cache").exists() else []
    assert not [n for n in left if ".tmp" in n], left


# ------------------------------------------------------------------ also


def test_fuzz_script_runs_against_a_regular_install(tmp_path):
    """A non-editable install: no ``sam3d_codemod.cli`` under the checkout's bare ``sam3d_codemod/``."""
    site = tmp_path / "site" / "sam3d_codemod"
    import shutil

    shutil.copytree(ROOT / "sam3d_codemod", site)
    shutil.copytree(ROOT / "cli", site / "cli")
    shutil.copytree(ROOT / "codemods", site / "codemods")
    import sysconfig

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site.parent), sysconfig.get_paths()["purelib"]]))
    proc = subprocess.run([sys.executable, "-S", str(ROOT / "scripts" / "fuzz.py"), "--cases", "4", "--seed", "3",
                           "--jobs", "1", "--families", "grammar", "--out", str(tmp_path / "f")],
                          capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert proc.returncode == 0 and "crashes=0" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]


def test_check_does_not_say_it_wrote_the_helper(tmp_path):
    root = _pkg(tmp_path)
    code, out = invoke("check", root, "--no-cache")
    assert code == 1 and "runtime helpers to write" in out and "helpers written" not in out, out
    assert not (root / "pkg" / "_torch_compat.py").exists()

"""One `apply` per tree: a second one exits 2 with a clear message; the lock file goes away; stale locks are taken over."""
import os
import subprocess
import sys
import time

import pytest

from sam3d_codemod.cli.lock import LOCK_NAME, TreeLock, TreeLocked

from .helpers import PATCHABLE, PATCHED, cli, invoke


def _tree(tmp_path, n=1):
    root = tmp_path / "t"
    root.mkdir()
    for i in range(n):
        (root / f"m{i:03d}.py").write_text(PATCHABLE)
    return root


HOLD = """
import signal, sys, time
from sam3d_codemod.cli.lock import TreeLock
def stop(*_):
    raise KeyboardInterrupt
signal.signal(signal.SIGTERM, stop)
with TreeLock([sys.argv[1]]):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _holder(root, seconds=60):
    """A process that holds the tree lock, the way a running apply does."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(root), str(seconds)], stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"locked"
    return proc


def test_second_apply_exits_2_while_one_runs(tmp_path):
    root = _tree(tmp_path)
    holder = _holder(root)
    try:
        r = cli("apply", root)
        assert r.returncode == 2
        msg = r.stderr.decode()
        assert "another sam3d-codemod apply is running" in msg and f"pid {holder.pid}" in msg, msg
        assert len(msg.strip().splitlines()) == 1
        assert (root / "m000.py").read_text() == PATCHABLE  # nothing written
    finally:
        holder.terminate()
        holder.wait()
    assert not (root / LOCK_NAME).exists()  # the holder cleaned up on SIGTERM
    code, out = invoke("apply", root, "-q")
    assert code == 0, out
    assert (root / "m000.py").read_text() == PATCHED
    assert not (root / LOCK_NAME).exists()


def test_real_concurrent_applies(tmp_path):
    """Two real `apply` processes on one tree: exactly one works, the other exits 2 at once."""
    root = _tree(tmp_path, 120)
    first = subprocess.Popen([sys.executable, "-m", "sam3d_codemod.cli.main", "apply", str(root), "-q", "-j", "1", "--no-cache"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not (root / LOCK_NAME).exists() and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.005)
    second = cli("apply", root, "-q")
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err.decode()
    if second.returncode != 0:  # it ran while the first held the lock
        assert second.returncode == 2
        assert b"another sam3d-codemod apply is running" in second.stderr
    else:  # the first was already done (slow start of the second): nothing left to do
        pass
    assert all((root / f"m{i:03d}.py").read_text() == PATCHED for i in range(120))
    assert not (root / LOCK_NAME).exists()


def test_lock_removed_after_success_error_and_usage_error(tmp_path):
    root = _tree(tmp_path)
    assert invoke("apply", root, "-q")[0] == 0
    assert not (root / LOCK_NAME).exists()
    (root / "bad.py").write_bytes(b"import torch\nprint 'x'\ny = x.index_add_(0, i, s)\n")
    assert invoke("apply", root, "-q")[0] == 2
    assert not (root / LOCK_NAME).exists()
    assert invoke("apply", root, "--select", "NOPE")[0] == 2
    assert not (root / LOCK_NAME).exists()


def test_stale_lock_from_dead_pid_is_taken_over(tmp_path):
    root = _tree(tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (root / LOCK_NAME).write_text(f"{dead.pid}\n")
    code, out = invoke("apply", root, "-q")
    assert code == 0, out
    assert (root / "m000.py").read_text() == PATCHED
    assert not (root / LOCK_NAME).exists()


@pytest.mark.parametrize("content", [b"", b"12", b"999999999\n", str(os.getpid()).encode()])
def test_lock_file_without_a_holder_is_taken_over(tmp_path, content):
    """Left behind by SIGKILL or a crash (any content, even a live pid): no process holds its flock."""
    root = _tree(tmp_path)
    (root / LOCK_NAME).write_bytes(content)
    code, out = invoke("apply", root, "-q")
    assert code == 0, out
    assert not (root / LOCK_NAME).exists()


@pytest.mark.parametrize("content", [b"garbage", b"my notes\n", b"1" * 100])
def test_a_file_of_the_tree_under_the_lock_name_is_left_alone(tmp_path, content):
    """The tree is untrusted: a committed file named like the lock is refused, not truncated or removed."""
    root = _tree(tmp_path)
    (root / LOCK_NAME).write_bytes(content)
    r = cli("apply", root)
    err = r.stderr.decode()
    assert r.returncode == 2 and err.count("\n") == 1 and "is not a sam3d-codemod lock file" in err, err
    assert (root / LOCK_NAME).read_bytes() == content and (root / "m000.py").read_text() == PATCHABLE


def test_a_fifo_under_the_lock_name_neither_blocks_nor_goes(tmp_path):
    root = _tree(tmp_path)
    os.mkfifo(root / LOCK_NAME)
    r = cli("apply", root, timeout=60)
    assert r.returncode == 2 and "is not a sam3d-codemod lock file" in r.stderr.decode()
    assert (root / LOCK_NAME).is_fifo() and (root / "m000.py").read_text() == PATCHABLE


def test_killed_holder_lock_is_taken_over(tmp_path):
    root = _tree(tmp_path)
    holder = _holder(root)
    holder.kill()  # SIGKILL: no clean-up, the lock file stays
    holder.wait()
    assert (root / LOCK_NAME).exists()
    code, out = invoke("apply", root, "-q")
    assert code == 0, out
    assert not (root / LOCK_NAME).exists()


def test_lock_in_process_is_exclusive_and_reentrant_safe(tmp_path):
    root = _tree(tmp_path)
    with TreeLock([str(root)]):
        with pytest.raises(TreeLocked, match=f"pid {os.getpid()}"):
            with TreeLock([str(root)]):
                pass
        assert (root / LOCK_NAME).read_text().strip() == str(os.getpid())
    assert not (root / LOCK_NAME).exists()
    with TreeLock([str(root)]):  # free again
        pass


def test_two_paths_in_one_tree_and_nested_roots(tmp_path):
    root = _tree(tmp_path)
    (root / "sub").mkdir()
    (root / "sub" / "x.py").write_text(PATCHABLE)
    code, out = invoke("apply", root / "m000.py", root, root / "sub", "-q")
    assert code == 0, out
    assert (root / "sub" / "x.py").read_text() == PATCHED
    assert not list(root.rglob(LOCK_NAME))


def test_read_only_tree_root_cannot_lock(tmp_path, monkeypatch):
    root = _tree(tmp_path)
    import sam3d_codemod.cli.lock as lock_mod

    real_open = os.open

    def deny(path, flags, *a):
        if str(path).endswith(LOCK_NAME):
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *a)

    monkeypatch.setattr(lock_mod.os, "open", deny)
    code, out = invoke("apply", root)
    monkeypatch.undo()
    assert code == 2
    assert "cannot create lock file" in out and "Permission denied" in out
    assert (root / "m000.py").read_text() == PATCHABLE

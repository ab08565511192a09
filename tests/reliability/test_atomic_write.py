"""Atomic writes: temp file in the same directory, fsync, os.replace; mode kept; only changed files written."""
import os
import stat
from pathlib import Path

import pytest

from sam3d_codemod.cli import fileio
from sam3d_codemod.cli.fileio import InputError, atomic_write

from .helpers import IS_ROOT, PATCHABLE, PATCHED, copy_sample, invoke, snapshot, stats


def test_atomic_write_uses_same_dir_temp_fsync_and_replace(tmp_path, monkeypatch):
    target = tmp_path / "pkg" / "m.py"
    target.parent.mkdir()
    target.write_bytes(b"old\n")
    calls = []
    real_replace, real_fsync = os.replace, os.fsync

    def spy_replace(src, dst, src_dir_fd=None, dst_dir_fd=None):
        calls.append(("replace", Path(src), Path(dst)))
        # same directory (one descriptor, plain names): rename cannot cross filesystems
        assert src_dir_fd == dst_dir_fd and os.path.samestat(os.fstat(src_dir_fd), os.stat(target.parent))
        assert "/" not in src and dst == target.name
        assert Path(src).name.endswith(fileio.TEMP_SUFFIX)
        assert (target.parent / src).read_bytes() == b"new\n"  # complete before it is renamed into place
        assert target.read_bytes() == b"old\n"
        return real_replace(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)

    def spy_fsync(fd):
        calls.append(("fsync",))
        return real_fsync(fd)

    monkeypatch.setattr(fileio.os, "replace", spy_replace)
    monkeypatch.setattr(fileio.os, "fsync", spy_fsync)
    atomic_write(target, b"new\n")
    assert target.read_bytes() == b"new\n"
    kinds = [c[0] for c in calls]
    assert kinds.index("fsync") < kinds.index("replace")  # data on disk before the rename
    assert os.listdir(target.parent) == ["m.py"]  # no temp left


def test_failed_write_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "m.py"
    target.write_bytes(b"old\n")

    def boom(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fileio.os, "fsync", boom)
    with pytest.raises(InputError, match="no space left on device"):
        atomic_write(target, b"new\n")
    assert target.read_bytes() == b"old\n"
    assert os.listdir(tmp_path) == ["m.py"]


@pytest.mark.parametrize("mode", [0o755, 0o600, 0o640, 0o644])
def test_mode_kept(tmp_path, mode):
    f = tmp_path / "tool.py"
    f.write_text(PATCHABLE)
    os.chmod(f, mode)
    code, out = invoke("apply", f, "-q")
    assert code == 0, out
    assert f.read_text() == PATCHED
    assert stat.S_IMODE(f.stat().st_mode) == mode


def test_new_file_gets_umask_mode(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write(tmp_path / "new.py", b"x = 1\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.py").stat().st_mode) == 0o640


def test_only_changed_files_are_written(tmp_path):
    tree = copy_sample(tmp_path / "t")
    before_bytes, before_stats = snapshot(tree), stats(tree)
    code, out = invoke("apply", tree, "-q")
    assert code == 0, out
    after_bytes, after_stats = snapshot(tree), stats(tree)
    changed = {k for k in before_bytes if before_bytes[k] != after_bytes.get(k)}
    assert changed  # the sample tree has work to do
    for rel in before_bytes:
        if rel not in changed:
            assert after_stats[rel] == before_stats[rel], f"{rel} was rewritten without a change"
        else:
            assert after_stats[rel][0] != before_stats[rel][0]  # replaced by rename, not written in place
    # Second run: nothing changes, nothing is touched.
    again = stats(tree)
    code, out = invoke("apply", tree, "-q")
    assert code == 0, out
    assert stats(tree) == again


def test_read_only_file_reported_never_chmodded(tmp_path):
    ro = tmp_path / "ro.py"
    ok = tmp_path / "ok.py"
    ro.write_text(PATCHABLE)
    ok.write_text(PATCHABLE)
    os.chmod(ro, 0o444)
    st = ro.stat()
    code, out = invoke("apply", tmp_path)
    assert code == 2, out
    assert "ro.py" in out and "read-only" in out
    assert ro.read_text() == PATCHABLE  # not written, even as root
    assert stat.S_IMODE(ro.stat().st_mode) == 0o444  # never chmod-ed
    assert (ro.stat().st_ino, ro.stat().st_mtime_ns) == (st.st_ino, st.st_mtime_ns)
    assert ok.read_text() == PATCHED  # the run went on with the other files


def test_read_only_check_uses_mode_bits_even_for_root(tmp_path):
    f = tmp_path / "m.py"
    f.write_bytes(b"old\n")
    os.chmod(f, 0o400)  # owner can read, nobody has a write bit
    if IS_ROOT:
        assert os.access(f, os.W_OK)  # why os.access alone is not enough
    with pytest.raises(InputError, match="read-only"):
        atomic_write(f, b"new\n")
    assert f.read_bytes() == b"old\n"


def test_file_changed_during_run_is_not_overwritten(tmp_path):
    f = tmp_path / "m.py"
    f.write_bytes(b"edited by someone else\n")
    with pytest.raises(InputError, match="changed on disk"):
        atomic_write(f, b"new\n", expected=b"what we read\n")
    assert f.read_bytes() == b"edited by someone else\n"


def test_symlink_never_written_through(tmp_path):
    real = tmp_path / "real.py"
    real.write_bytes(b"old\n")
    link = tmp_path / "link.py"
    link.symlink_to("real.py")
    with pytest.raises(InputError, match="symbolic link"):
        atomic_write(link, b"new\n")
    assert link.is_symlink() and os.readlink(link) == "real.py"
    assert real.read_bytes() == b"old\n"


@pytest.mark.skipif(not IS_ROOT, reason="chown to another owner needs root")
def test_owner_kept_when_root(tmp_path):
    f = tmp_path / "m.py"
    f.write_bytes(b"old\n")
    os.chown(f, 12345, 23456)
    atomic_write(f, b"new\n")
    st = f.stat()
    assert (st.st_uid, st.st_gid) == (12345, 23456)


def test_unwritable_directory_reported(tmp_path, monkeypatch):
    f = tmp_path / "m.py"
    f.write_bytes(b"old\n")

    real_open = os.open

    def deny(path, flags, *a, **kw):
        if flags & os.O_CREAT:
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *a, **kw)

    monkeypatch.setattr(fileio.os, "open", deny)
    with pytest.raises(InputError, match="cannot create a temp file beside it: Permission denied"):
        atomic_write(f, b"new\n")
    assert f.read_bytes() == b"old\n"


def test_hard_links_are_split_not_written_through(tmp_path):
    """Documented: os.replace gives the path a new inode; other names keep the old bytes (a uv/pip
    cache that hard-links files into the tree is never modified through the tree)."""
    f = tmp_path / "m.py"
    f.write_bytes(b"old\n")
    other = tmp_path / "cache-copy.py"
    os.link(f, other)
    atomic_write(f, b"new\n")
    assert f.read_bytes() == b"new\n"
    assert other.read_bytes() == b"old\n"


def test_tree_root_given_through_a_symlink(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "m.py").write_text(PATCHABLE)
    (tmp_path / "via").symlink_to(real, target_is_directory=True)
    code, out = invoke("apply", tmp_path / "via", "-q")
    assert code == 0, out
    assert (real / "m.py").read_text() == PATCHED
    assert not (tmp_path / "via").resolve().joinpath(".sam3d-codemod-apply.lock").exists()

"""One `apply` per tree at a time: a lock file in each tree root, removed on exit.

The lock is an ``flock`` on ``<root>/.sam3d-codemod-apply.lock`` (which holds the owner's pid, for
the message). The kernel drops an ``flock`` when its process dies, however it dies, so a lock
file left behind by a killed run (SIGKILL, power loss) is stale by construction and the next run
takes it over. A file under that name holding anything but a pid (the tree's own, untrusted) is
refused, never truncated or removed.

Nested roots: ``apply T`` and ``apply T/sub`` must not both run. After taking its own lock, a run
probes (with a non-blocking shared ``flock``, never creating a file) the lock files of the
root's ancestors and, for an ``apply`` of ``T``, those below it; any one held means another
apply is running on an overlapping tree. Both runs take their own lock before probing, so
at least one of two racing runs sees the other. Without ``fcntl`` (Windows) it falls back to ``O_EXCL`` plus a liveness check of
the recorded pid.
"""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from .fileio import deferred_signals

try:
    import fcntl
except ImportError:  # pragma: no cover (Windows)
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".sam3d-codemod-apply.lock"
MAX_LOCK_BYTES = 32
_NO_PROBE = {".git", ".hg", ".svn", "__pycache__", "node_modules", ".sam3d-codemod-cache", ".venv", "venv", ".tox",
             ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache"}


class TreeLocked(Exception):
    pass


def _read_pid(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 64).decode("ascii", "replace").strip()
    except OSError:
        return "unknown"
    return text if text.isdigit() else "unknown"


def _is_lock_file(fd: int) -> bool:
    """Whether the open file is one this tool writes (a regular file holding a pid or nothing,
    what a killed run leaves). The tree is untrusted: a file of its own under the lock's name,
    or a FIFO, is never truncated or removed."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_LOCK_BYTES:
        return False
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, MAX_LOCK_BYTES + 1)
    except OSError:
        return False
    return text.strip().isdigit() or not text.strip()


def _busy(root: Path, lock: Path, pid: str) -> TreeLocked:
    return TreeLocked(
        f"{root}: another sam3d-codemod apply is running on this tree (pid {pid}); "
        f"wait for it to finish (lock file {lock})"
    )


class TreeLock:
    def __init__(self, paths: Sequence[str]) -> None:
        roots: List[Path] = []
        for p in paths:
            path = Path(p)
            root = path if path.is_dir() else path.parent
            if root.exists() and root.resolve() not in roots:
                roots.append(root.resolve())
        # A root inside another given root is covered by that one's lock.
        self.roots: List[Path] = [r for r in roots if not any(o != r and o in r.parents for o in roots)]
        self.held: List[Tuple[Path, Optional[int]]] = []

    def __enter__(self) -> "TreeLock":
        try:
            for root in self.roots:
                with deferred_signals():
                    self.held.append(self._acquire(root))
            if fcntl is not None:
                for root in self.roots:
                    self._probe_overlapping(root)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        with deferred_signals():
            for lock, fd in reversed(self.held):
                try:
                    lock.unlink()  # while still holding it: nobody can lock the old inode and think it current
                except OSError:
                    pass
                if fd is not None:
                    os.close(fd)
            self.held = []

    def _acquire(self, root: Path) -> Tuple[Path, Optional[int]]:
        lock = root / LOCK_NAME
        if fcntl is None:  # pragma: no cover
            return self._acquire_exclusive(root, lock)
        for _ in range(50):
            try:
                fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
                             | getattr(os, "O_CLOEXEC", 0), 0o644)
            except OSError as exc:
                raise TreeLocked(f"{root}: cannot create lock file {lock}: {exc.strerror or exc}") from None
            if not _is_lock_file(fd):
                os.close(fd)
                raise TreeLocked(f"{root}: {lock} is not a sam3d-codemod lock file (a lock holds only a pid); "
                                 "it was left as it is: move it away, then run again") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                pid = _read_pid(fd)
                os.close(fd)
                raise _busy(root, lock, pid) from None
            try:  # the holder before us may have removed the file between our open and our flock
                same = os.stat(lock).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            # Ours now; whatever pid it recorded (a killed run) is stale.
            try:
                os.ftruncate(fd, 0)
                os.lseek(fd, 0, os.SEEK_SET)
                os.write(fd, f"{os.getpid()}\n".encode())
            except OSError as exc:  # disk full: do not leave the lock file behind
                try:
                    lock.unlink()
                except OSError:
                    pass
                os.close(fd)
                reason = "no space left on device" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
                raise TreeLocked(f"{root}: cannot write lock file {lock}: {reason}") from None
            return lock, fd
        raise TreeLocked(f"{root}: cannot take the lock file {lock} (it keeps being replaced)")

    def _probe_overlapping(self, root: Path) -> None:
        """TreeLocked if an apply on an ancestor of ``root`` or a directory below it holds its lock."""
        mine = set()
        for _lock, fd in self.held:
            if fd is not None:
                st = os.fstat(fd)
                mine.add((st.st_dev, st.st_ino))
        candidates = [d / LOCK_NAME for d in root.parents]
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            dirnames[:] = [d for d in dirnames if d not in _NO_PROBE and not os.path.islink(os.path.join(dirpath, d))]
            if LOCK_NAME in filenames and dirpath != str(root):
                candidates.append(Path(dirpath) / LOCK_NAME)
        for lock in candidates:
            try:  # read-only, no creation, no link, no blocking on a FIFO
                fd = os.open(lock, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
            except OSError:
                continue
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) in mine:
                    continue
                try:
                    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                except OSError:
                    raise TreeLocked(
                        f"{root}: another sam3d-codemod apply is running on an overlapping tree "
                        f"{lock.parent} (pid {_read_pid(fd)}); wait for it to finish (lock file {lock})") from None
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    def _acquire_exclusive(self, root: Path, lock: Path) -> Tuple[Path, Optional[int]]:  # pragma: no cover
        for _ in range(2):
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                try:
                    pid = lock.read_text(errors="replace").strip()
                except OSError:
                    pid = ""
                if pid.isdigit() and not _alive(int(pid)):
                    lock.unlink(missing_ok=True)  # stale: its process is gone
                    continue
                raise _busy(root, lock, pid or "unknown") from None
            except OSError as exc:
                raise TreeLocked(f"{root}: cannot create lock file {lock}: {exc.strerror or exc}") from None
            with os.fdopen(fd, "w") as fh:
                fh.write(f"{os.getpid()}\n")
            return lock, None
        raise _busy(root, lock, "unknown")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

"""Writes and deletes that stay inside the tree, however it changes while the tool runs.

Trust boundary: the tree is untrusted, and it can change under a running command (a build step,
a checkout, a hostile process): a folder may be swapped for a symlink between the moment a file
is read and the moment it is written. So every write and delete goes through a chain of
directory file descriptors opened from the tree's root, one component at a time, with
``O_NOFOLLOW | O_DIRECTORY``; the temp file, the rename and the unlink are relative to the last
descriptor (``dir_fd=``). Immediately before the rename (or unlink) each link of the chain is
looked up again by name and must still be the same directory (device and inode), so a folder
moved away or replaced meanwhile is refused, not followed.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import List, Optional, Tuple

_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


class ChainError(OSError):
    """The directory chain to a target is not (or no longer) real directories inside the tree."""


class DirChain:
    """Open descriptors of ``root`` and each folder from it down to a target's parent."""

    def __init__(self, root: Optional[Path], target: str) -> None:
        target = os.path.abspath(target)
        self.name = os.path.basename(target)
        parent = os.path.dirname(target)
        parts: List[str]
        if root is None:
            base, parts = parent, []
        else:
            base = os.path.abspath(root)
            rel = os.path.relpath(parent, base)
            if rel == ".":
                parts = []
            elif rel == ".." or rel.startswith(".." + os.sep) or os.path.isabs(rel):
                raise ChainError(0, "outside the tree")
            else:
                parts = rel.split(os.sep)
        self.names: List[str] = parts
        self.fds: List[int] = []
        self.ids: List[Tuple[int, int]] = []
        try:
            fd = os.open(base, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
            self._push(fd)
            for name in parts:
                try:
                    fd = os.open(name, _DIR_FLAGS, dir_fd=self.fds[-1])
                except OSError as exc:
                    raise self._why(name, exc) from None
                self._push(fd)
        except BaseException:
            self.close()
            raise

    def _push(self, fd: int) -> None:
        st = os.fstat(fd)
        self.fds.append(fd)
        self.ids.append((st.st_dev, st.st_ino))

    def _why(self, name: str, exc: OSError) -> ChainError:
        import errno

        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            return ChainError(exc.errno, f"folder {name!r} on its path is a symbolic link or not a folder "
                                         "(the tool writes only inside the tree)")
        return ChainError(exc.errno or 0, f"folder {name!r} on its path: {exc.strerror or exc}")

    @property
    def fd(self) -> int:
        return self.fds[-1]

    def verify(self) -> None:
        """ChainError unless every folder is still, by name, the directory opened at the start."""
        for i, name in enumerate(self.names):
            try:
                st = os.stat(name, dir_fd=self.fds[i], follow_symlinks=False)
            except OSError as exc:
                raise self._why(name, exc) from None
            if not stat.S_ISDIR(st.st_mode) or (st.st_dev, st.st_ino) != self.ids[i + 1]:
                raise ChainError(0, f"folder {name!r} on its path was replaced during the run")

    def lstat(self) -> Optional[os.stat_result]:
        try:
            return os.stat(self.name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def close(self) -> None:
        for fd in reversed(self.fds):
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds = []

    def __enter__(self) -> "DirChain":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def unlink_inside(root: Path, path: Path) -> None:
    """Remove the regular file ``path`` below ``root`` through real directories only."""
    with DirChain(root, str(path)) as chain:
        st = chain.lstat()
        if st is None:
            return
        if not stat.S_ISREG(st.st_mode):
            raise ChainError(0, "not a regular file; left alone")
        chain.verify()
        os.unlink(chain.name, dir_fd=chain.fd)

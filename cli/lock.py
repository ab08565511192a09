"""One `apply` per tree at a time: an exclusive lock file in each tree root, removed on exit."""
from __future__ import annotations

import os
from pathlib import Path
from typing import List, Sequence

LOCK_NAME = ".sam3d-codemod-apply.lock"


class TreeLocked(Exception):
    pass


class TreeLock:
    def __init__(self, paths: Sequence[str]) -> None:
        roots = []
        for p in paths:
            path = Path(p)
            root = path if path.is_dir() else path.parent
            if root.exists() and root.resolve() not in roots:
                roots.append(root.resolve())
        self.roots: List[Path] = roots
        self.held: List[Path] = []

    def __enter__(self) -> "TreeLock":
        for root in self.roots:
            lock = root / LOCK_NAME
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                pid = lock.read_text(errors="replace").strip() if lock.exists() else "?"
                if pid.isdigit() and not _alive(int(pid)):
                    lock.unlink(missing_ok=True)  # stale: its process is gone
                    fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                else:
                    self.__exit__(None, None, None)
                    raise TreeLocked(f"{root}: another sam3d-codemod apply is running (pid {pid}); lock file {lock}")
            except OSError as exc:
                self.__exit__(None, None, None)
                raise TreeLocked(f"{root}: cannot create lock file: {exc.strerror}") from None
            with os.fdopen(fd, "w") as fh:
                fh.write(str(os.getpid()))
            self.held.append(lock)
        return self

    def __exit__(self, *exc) -> None:
        for lock in self.held:
            try:
                lock.unlink()
            except OSError:
                pass
        self.held = []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

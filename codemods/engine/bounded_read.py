"""Bounded reads of files from the tree: at most ``max_bytes`` of a regular file, never a hang.

The tree is untrusted input, so its file sizes and kinds are too: a FIFO or device named ``*.py``
is an error (opened non-blocking and checked with ``fstat`` on the open descriptor, so one swapped
in after a ``stat`` never hangs), and a file that grows while read is cut off at ``max_bytes`` + 1.
"""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

DEFAULT_MAX_BYTES = 4 * 1024 * 1024


class InputError(Exception):
    """A file that cannot be processed; the message is one line and names the cause."""



def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n} bytes"


def read_bytes(path: Path, max_bytes: int = DEFAULT_MAX_BYTES, follow: bool = True, what: str = "--max-file-size") -> bytes:
    """At most ``max_bytes`` of a regular file. The file is opened non-blocking and checked with
    ``fstat`` on the open descriptor, so a FIFO (even one swapped in after a ``stat``) never hangs.
    ``follow=False``: a symlink is an error (for files the tool may write)."""
    try:
        if not follow and os.path.islink(path):
            raise InputError("is a symbolic link; never read or written through (the tool writes only regular files inside the tree)")
        st = os.stat(path)  # follows an in-tree symlink; discovery already dropped links out of the tree
        if stat.S_ISDIR(st.st_mode):
            raise InputError("is a directory")
        if not stat.S_ISREG(st.st_mode):
            raise InputError("not a regular file (FIFO, socket or device)")
        if st.st_size > max_bytes:
            raise InputError(
                f"file is {_size(st.st_size)}, over the {_size(max_bytes)} limit (raise it with {what})"
            )
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
        if not follow:
            flags |= getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(path, flags)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise InputError("not a regular file (FIFO, socket or device)")
            with os.fdopen(fd, "rb", closefd=False) as fh:
                data = fh.read(max_bytes + 1)
        finally:
            os.close(fd)
        if len(data) > max_bytes:
            raise InputError(f"file grew over the {_size(max_bytes)} limit while being read ({what})")
        return data
    except InputError:
        raise
    except PermissionError:
        raise InputError("not readable (permission denied)") from None
    except IsADirectoryError:
        raise InputError("is a directory") from None
    except FileNotFoundError:
        kind = "broken symlink" if os.path.islink(path) else "no such file (deleted during the run?)"
        raise InputError(kind) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow:
            raise InputError("is a symbolic link; never read or written through"
                             " (the tool writes only regular files inside the tree)") from None
        raise InputError(f"cannot read: {_one_line(exc.strerror or exc)}") from None

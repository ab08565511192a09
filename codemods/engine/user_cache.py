"""The per-user cache directory, and marshal files in it that are written atomically and read
back only under the key they were written with. Standard library only: the replay entry uses it
before anything else is imported.

Losing a file only costs time: every reader falls back to computing the value.
"""
from __future__ import annotations

import os
import sys
from typing import Optional


def root() -> str:
    """``$SAM3D_CODEMOD_CACHE``, else platformdirs' ``user_cache_dir("sam3d-codemod")``: on Linux
    and other XDG systems ``$XDG_CACHE_HOME/sam3d-codemod``, else ``~/.cache/sam3d-codemod``.

    On XDG systems the same path is computed here without importing platformdirs (~10 ms, on the
    replay path of a warm check); tests/cli/test_conventions.py compares the two."""
    override = os.environ.get("SAM3D_CODEMOD_CACHE")
    if override:
        return override
    if sys.platform in ("darwin", "win32", "cygwin") or hasattr(sys, "getandroidapilevel"):
        import platformdirs

        return platformdirs.user_cache_dir("sam3d-codemod", appauthor=False)
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if not xdg.strip():
        xdg = os.path.expanduser("~/.cache")
    return os.path.join(xdg, "sam3d-codemod")


def path(*parts: str) -> str:
    return os.path.join(root(), *parts)


def read_marshal(file: str, key) -> Optional[object]:
    """The value stored under ``key`` (None when absent, stale or unreadable)."""
    import marshal

    try:
        with open(file, "rb") as f:
            stored = marshal.load(f)
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if not (isinstance(stored, tuple) and len(stored) == 2 and stored[0] == key):
        return None
    return stored[1]


def write_marshal(file: str, key, value) -> None:
    """Atomically; an unwritable cache is not an error."""
    import marshal
    import tempfile

    try:
        os.makedirs(os.path.dirname(file), exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(file))
        try:
            with os.fdopen(fd, "wb") as f:
                marshal.dump((key, value), f)
            os.replace(tmp, file)
        except BaseException:
            os.unlink(tmp)
            raise
    except (OSError, ValueError):
        pass

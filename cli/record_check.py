"""Checks of apply-record entries: their form on reading, and the file system right before a write.

The record lives outside the tree (cli/record_store.py), but it names files inside it, and the
tree may have changed since (a folder replaced by a symlink, a file by a device). An entry is
used only when its path is relative and normalised, stays inside the tree through real
directories only, names a regular file (or nothing), and its bytes match the SHA-256 recorded
with them.
"""
from __future__ import annotations

import hashlib
import os
import posixpath
import re
import stat
from pathlib import Path
from typing import Optional

MAX_SITES = 100_000


class RecordError(ValueError):
    """One line naming the entry and what is wrong with it."""


def _known_codes() -> frozenset:
    """Every code the rule registry declares: a record can claim sites of these only."""
    from ..codemods.rules import every_rule

    return frozenset(r.code for r in every_rule())


def check_rel(rel: object) -> str:
    """``rel`` if it is a relative, normalised POSIX path of plain names below the tree."""
    if not isinstance(rel, str) or not rel:
        raise RecordError(f"entry {rel!r}: not a path")
    if "\0" in rel or "\\" in rel or rel.startswith("/") or re.match(r"[A-Za-z]:", rel):
        raise RecordError(f"entry {rel!r}: not a relative path inside the tree")
    parts = rel.split("/")
    if posixpath.normpath(rel) != rel or any(p in ("", ".", "..", ".git") for p in parts):
        raise RecordError(f"entry {rel!r}: not a normalised path inside the tree")
    return rel


def check_entry(rel: object, entry: dict, original_sha: object, patched_sha: object) -> None:
    check_rel(rel)
    if not isinstance(entry["patched"], bytes):
        raise RecordError(f"entry {rel!r}: no patched bytes")
    for key, sha in (("original", original_sha), ("patched", patched_sha)):
        data = entry[key]
        want = None if data is None else hashlib.sha256(data).hexdigest()
        if sha != want:
            raise RecordError(f"entry {rel!r}: its {key} bytes do not match the recorded SHA-256")
    sites = entry["sites"]
    if not isinstance(sites, dict) or not all(
            isinstance(c, str) and c in _known_codes() and type(n) is int and 0 <= n <= MAX_SITES
            for c, n in sites.items()):
        raise RecordError(f"entry {rel!r}: sites must map rule codes to counts")


def lstat_inside(root: Path, rel: str) -> Optional[os.stat_result]:
    """lstat of ``root/rel`` reached through real directories only; None when it does not exist.
    RecordError for a symlinked or non-directory component, or a target that is not a regular file."""
    check_rel(rel)
    parts = rel.split("/")
    current = str(root)
    for i, part in enumerate(parts):
        current = os.path.join(current, part)
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            return None
        except NotADirectoryError:
            raise RecordError(f"{rel}: a component of its path is not a folder; nothing written") from None
        last = i == len(parts) - 1
        if stat.S_ISLNK(st.st_mode):
            raise RecordError(f"{rel}: {'is' if last else 'lies under'} a symbolic link; nothing written "
                              "(the tool writes only regular files inside the tree)")
        if not last and not stat.S_ISDIR(st.st_mode):
            raise RecordError(f"{rel}: a component of its path is not a folder; nothing written")
        if last and not stat.S_ISREG(st.st_mode):
            raise RecordError(f"{rel}: not a regular file; nothing written")
    return st

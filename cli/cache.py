"""Per-file result cache for warm runs: ``<root>/.sam3d-codemod-cache/``.

Keyed by tool version and run configuration; an entry is reused only when the file's content
hash (SHA-256 of its bytes, read every run) matches: a stat key alone would trust a same-size
in-place edit that kept the mtime (``cp -p``, ``touch -r``, coarse timestamps). Reading and
hashing every file costs about 2 ms on the real tree (106 files, 0.75 MB). ``--no-cache`` turns
it off. The cache directory is used only when it is a real directory (never a symlink), and its
files are created without following links; a failed write (disk full) leaves no temp file.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import zlib
from pathlib import Path
from typing import Dict, Optional

from .. import __version__
from ..codemods.base import Site
from .fileio import InputError, read_bytes
from .fingerprint import CACHE_DIR  # one definition for both caches
from .fingerprint import code_fingerprint as _code_fingerprint

MAX_CACHE_BYTES = 256 * 1024 * 1024


def _stat_key(st: os.stat_result) -> list:
    return [st.st_mtime_ns, st.st_size, st.st_ino]


def _valid(entry) -> bool:
    if not isinstance(entry, dict) or not isinstance(entry.get("stat"), list) or not isinstance(entry.get("sha"), str):
        return False
    if entry.get("skip") is True:
        return True
    return (isinstance(entry.get("sites"), list) and all(isinstance(s, list) and len(s) == 4 for s in entry["sites"])
            and isinstance(entry.get("needs_compat"), bool) and (entry.get("new") is None or isinstance(entry.get("new"), str)))


class ResultCache:
    def __init__(self, root: Path, config: str, enabled: bool = True) -> None:
        self.enabled = enabled
        self.dir = root / CACHE_DIR
        digest = hashlib.sha256(f"{__version__}|{_code_fingerprint()}|{config}".encode()).hexdigest()[:16]
        self.file = self.dir / f"results-{digest}.json"
        self.entries: Dict[str, dict] = {}
        self.dirty = False
        if enabled and os.path.islink(self.dir):
            self.enabled = False  # never read or write through a link (it could lead out of the tree)
        if self.enabled and self.file.is_file() and not self.file.is_symlink():
            try:
                entries = json.loads(read_bytes(self.file, MAX_CACHE_BYTES, follow=False))
                self.entries = entries if isinstance(entries, dict) else {}
            except (InputError, ValueError):
                self.entries = {}  # a damaged cache is only a cold run

    def lookup(self, rel: str, st: os.stat_result, raw: bytes) -> Optional[dict]:
        if not self.enabled:
            return None
        entry = self.entries.get(rel)
        if not _valid(entry):
            return None
        if entry["sha"] == hashlib.sha256(raw).hexdigest():
            if entry["stat"] != _stat_key(st):
                entry["stat"] = _stat_key(st)
                self.dirty = True
            return entry
        return None

    def store(self, rel: str, st: os.stat_result, raw: bytes, outcome=None) -> None:
        if not self.enabled:
            return
        entry = {"stat": _stat_key(st), "sha": hashlib.sha256(raw).hexdigest(), "skip": outcome is None}
        if outcome is not None:
            if outcome.error:
                return  # errors are re-reported from scratch every run
            entry["sites"] = [[s.code, s.line, s.status, s.message] for s in outcome.sites]
            entry["needs_compat"] = outcome.needs_compat
            entry["host"] = outcome.host.relative_to(outcome.root).as_posix() if outcome.host is not None else None
            entry["new"] = base64.b64encode(zlib.compress(outcome.new)).decode() if outcome.new is not None else None
        self.entries[rel] = entry
        self.dirty = True

    @staticmethod
    def restore(entry: dict, outcome) -> bool:
        """Fill ``outcome`` from ``entry``; False (outcome untouched) if the entry is damaged."""
        try:
            sites = [Site(code, outcome.rel, int(line), status, message) for code, line, status, message in entry["sites"]]
            new = zlib.decompress(base64.b64decode(entry["new"])) if entry["new"] is not None else None
        except (ValueError, TypeError, zlib.error):
            return False
        outcome.sites, outcome.needs_compat, outcome.new = sites, entry["needs_compat"], new
        host = entry.get("host")
        if isinstance(host, str):
            outcome.host = outcome.root / host
        return True

    def save(self) -> None:
        if not (self.enabled and self.dirty):
            return
        try:
            self.dir.mkdir(exist_ok=True)
            if not stat.S_ISDIR(os.lstat(self.dir).st_mode):
                return  # a link or a file in its place: never write through it
            gitignore = self.dir / ".gitignore"
            if not os.path.lexists(gitignore):
                _write_new(gitignore, b"# created by sam3d-codemod\n*\n")
            tmp = self.file.with_suffix(f".tmp{os.getpid()}")
            _write_new(tmp, json.dumps(self.entries, separators=(",", ":")).encode())
            try:
                if os.path.islink(self.file):
                    os.unlink(self.file)
                os.replace(tmp, self.file)  # replaces a link itself, never its target
            except OSError:
                _unlink(tmp)
                raise
        except OSError:
            pass  # a read-only tree (or a full disk) just runs cold


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _write_new(path: Path, data: bytes) -> None:
    """Create ``path`` (which must not exist, nor be a link) holding ``data``; on any failure
    (disk full) the partial file is removed."""
    if os.path.lexists(path):
        _unlink(path)  # a leftover of a killed run (or a planted link: removed, not followed)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0), 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except BaseException:
        os.close(fd)
        _unlink(path)
        raise
    os.close(fd)

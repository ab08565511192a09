"""Per-file result cache for warm runs: ``<root>/.sam3d-codemod-cache/``.

Keyed by tool version and run configuration; an entry is reused only when the file's content
hash (SHA-256 of its bytes, read every run) matches: a stat key alone would trust a same-size
in-place edit that kept the mtime (``cp -p``, ``touch -r``, coarse timestamps). Reading and
hashing every file costs about 2 ms on the real tree (106 files, 0.75 MB). ``--no-cache`` turns
it off. The cache directory is used only when it is a real directory (never a symlink), and its
files are created without following links; a failed write (disk full) leaves no temp file.

Trust boundary: the cache directory sits inside the tree, which is untrusted: an upstream commit
could carry a results file saying a file with findings is clean. So each results file starts with
an HMAC-SHA256 of its body under a per-user key kept in the user cache (``cache-key``, mode 0600);
a file without a valid one is not read (a cold run), nor one nested deeper than cli/bounded.py allows.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import zlib
from pathlib import Path
from typing import Dict, Optional

from .. import __version__
from ..codemods.base import Site
from ..codemods.engine.bounded_read import InputError, read_bytes
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
        self.key = key = _user_key() if self.enabled else None
        if key is None:
            self.enabled = False  # no private key to sign with: a result could not be told from a planted one
        elif self.enabled and self.file.is_file() and not self.file.is_symlink():
            try:
                entries = json.loads(_verified(read_bytes(self.file, MAX_CACHE_BYTES, follow=False), key))
                self.entries = entries if isinstance(entries, dict) else {}
            except (InputError, ValueError, RecursionError):
                self.entries = {}  # a damaged, foreign or planted cache is only a cold run

    def lookup(self, rel: str, st: os.stat_result, raw: bytes) -> Optional[dict]:
        if not self.enabled:
            return None
        entry = self.entries.get(rel)
        if entry is None or not _valid(entry):
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
        if not (self.enabled and self.dirty) or self.key is None:  # (enabled has a key)
            return
        from .tree_fs import DirChain

        try:
            try:
                os.mkdir(self.dir)
            except FileExistsError:
                pass
            # Through descriptors from the tree root, never following a link (cli/tree_fs.py): the
            # folder swapped for a symlink at any point is refused, not written through.
            with DirChain(self.dir.parent, str(self.file)) as chain:
                fd, name = chain.fd, chain.name
                try:
                    os.stat(".gitignore", dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    _write_new(".gitignore", b"# created by sam3d-codemod\n*\n", fd)
                tmp = f"{name}.tmp{os.getpid()}"
                body = json.dumps(self.entries, separators=(",", ":")).encode()
                _write_new(tmp, _MAGIC + hmac.new(self.key, body, "sha256").hexdigest().encode() + b"\n" + body, fd)
                try:
                    chain.verify()
                    os.replace(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)  # replaces a link itself, never its target
                except OSError:
                    _unlink(tmp, fd)
                    raise
        except OSError:
            pass  # a read-only tree (or a full disk, or a folder swapped for a link) just runs cold


_MAGIC = b"sam3d-codemod-mac "
_KEY: list = []


def _user_key() -> Optional[bytes]:
    """This user's cache-signing key (32 random bytes in the user cache, created on first use)."""
    if _KEY:
        return _KEY[0]
    from ..codemods.engine import user_cache

    path = user_cache.path("cache-key")
    for _ in range(2):
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
            with os.fdopen(fd, "rb") as fh:
                key = fh.read(64)
            if len(key) == 32:
                _KEY.append(key)
                return key
            return None
        except FileNotFoundError:
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                _write_new_exclusive(path, os.urandom(32))
            except FileExistsError:
                continue  # another run created it first: read that one
            except OSError:
                return None
        except OSError:
            return None
    return None


def _write_new_exclusive(path: str, data: bytes) -> None:
    """``path`` holding all of ``data`` or not created (a concurrent reader never sees half a key)."""
    tmp = f"{path}.{os.getpid()}.{os.urandom(4).hex()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.link(tmp, path)  # FileExistsError when another run was first
    finally:
        os.unlink(tmp)


def _verified(raw: bytes, key: bytes) -> bytes:
    """The JSON body of a results file signed with ``key``; ValueError for any other file."""
    from .bounded import check_json_depth

    head, sep, body = raw.partition(b"\n")
    if not sep or not head.startswith(_MAGIC):
        raise ValueError("unsigned")
    if not hmac.compare_digest(head[len(_MAGIC):], hmac.new(key, body, "sha256").hexdigest().encode()):
        raise ValueError("not signed by this user")
    check_json_depth(body, "result cache")
    return body


def _unlink(name: str, dir_fd: int) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except OSError:
        pass


def _write_new(name: str, data: bytes, dir_fd: int) -> None:
    """Create ``name`` in the directory ``dir_fd`` (it must not exist, nor be a link) holding ``data``;
    on any failure (disk full) the partial file is removed."""
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        _unlink(name, dir_fd)  # a leftover of a killed run (or a planted link: removed, not followed)
    except FileNotFoundError:
        pass
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0),
                 0o644, dir_fd=dir_fd)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except BaseException:
        os.close(fd)
        _unlink(name, dir_fd)
        raise
    os.close(fd)

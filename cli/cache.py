"""Per-file result cache for warm runs: ``<root>/.sam3d-codemod-cache/``.

Keyed by tool version and run configuration; an entry is reused when the file's stat key
(mtime_ns, size, inode) matches, else when its content hash does. ``--no-cache`` turns it off.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import zlib
from pathlib import Path
from typing import Dict, Optional

from .. import __version__
from ..codemods.base import Site

from .replay import CACHE_DIR, code_fingerprint as _code_fingerprint  # one definition for both caches


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
        if enabled and self.file.is_file():
            try:
                entries = json.loads(self.file.read_text())
                self.entries = entries if isinstance(entries, dict) else {}
            except (OSError, ValueError):
                self.entries = {}  # a damaged cache is only a cold run

    def lookup(self, rel: str, st: os.stat_result, raw: Optional[bytes] = None) -> Optional[dict]:
        if not self.enabled:
            return None
        entry = self.entries.get(rel)
        if not _valid(entry):
            return None
        if entry["stat"] == _stat_key(st):
            return entry
        if raw is not None and entry["sha"] == hashlib.sha256(raw).hexdigest():
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
            gitignore = self.dir / ".gitignore"
            if not gitignore.exists():
                gitignore.write_text("# created by sam3d-codemod\n*\n")
            tmp = self.file.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps(self.entries, separators=(",", ":")))
            os.replace(tmp, self.file)
        except OSError:
            pass  # a read-only tree just runs cold

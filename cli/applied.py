"""What `apply` changed, so that `revert` can undo exactly that: the apply record.

Trust boundary: the tree is untrusted input (an upstream commit controls every file in it), so
the record never lives there. It is kept in the checkout's git directory
(``<git dir>/sam3d-codemod/applied*.json``; for a submodule that is the superproject's
``.git/modules/<name>``), where no commit can write, or, outside a git checkout, in the user
cache keyed by the tree's real path (cli/record_store.py). A ``.sam3d-codemod-applied.json``
found inside the tree is never read: the commands say so in a note. Every entry is checked on
reading (cli/record_check.py) and again, against the file system, before revert writes anything.

Per changed file: its bytes before the first `apply` (``null`` for a file apply created, the
generated helper), its bytes as apply last wrote them, a SHA-256 of each, and the sites each rule
patched there (so a lock counts a patched site as the same site: cli/lockfile.py). The record is
written atomically *before* the files it describes, so an interrupted apply leaves files that are
either recorded or untouched.
"""
from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import zlib
from collections import Counter
from pathlib import Path
from typing import Dict, Iterable, Optional

from ..codemods.engine.bounded_read import InputError, read_bytes
from . import record_store
from .bounded import BoundsError, inflate, load_json
from .fileio import atomic_write
from .record_check import RecordError, check_entry, lstat_inside

STRAY = ".sam3d-codemod-applied.json"  # where older releases kept it: inside the tree, never read now
VERSION = 2
# apply never writes a file over the hard read limit (cli/runner.py HARD_MAX_BYTES); the helper is ~30 KB.
MAX_FILE_BYTES = 8 * 1024 * 1024


class ManifestError(Exception):
    """A record that cannot be used: one line; nothing is written."""


def _pack(data: Optional[bytes]) -> Optional[str]:
    return None if data is None else base64.b64encode(zlib.compress(data, 6)).decode("ascii")


def _unpack(text: object, what: str) -> Optional[bytes]:
    if text is None:
        return None
    if not isinstance(text, str):
        raise RecordError(f"{what}: not packed bytes")
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raise RecordError(f"{what}: not base64") from None
    return inflate(raw, MAX_FILE_BYTES, what)


def _sha(data: Optional[bytes]) -> Optional[str]:
    return None if data is None else hashlib.sha256(data).hexdigest()


def location(root: Path) -> Path:
    return record_store.location(Path(root))


def stray_note(root: Path) -> Optional[str]:
    """The note for a record found inside the tree (planted by a commit, or left by an older release)."""
    path = Path(root) / STRAY
    if not os.path.lexists(path):
        return None
    return (f"note: {path} is inside the tree and is not read (a commit can plant one); "
            f"apply keeps its record in {location(root)}")


def load(root: Path) -> Dict[str, dict]:
    """rel path -> {"original": bytes|None, "patched": bytes, "sites": {code: n}}; {} without a record.
    Every entry's shape, path form and hashes are checked (ManifestError, one line)."""
    path = location(root)
    try:
        data = load_json(path, "apply record")
    except FileNotFoundError:
        return {}
    except BoundsError as exc:
        raise ManifestError(str(exc)) from None
    if not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get("files"), dict):
        raise ManifestError(f"{path}: not a version-{VERSION} sam3d-codemod apply record")
    out: Dict[str, dict] = {}
    try:
        for rel, e in data["files"].items():
            if not isinstance(e, dict):
                raise RecordError(f"entry {rel!r}: not an object")
            entry = {"original": _unpack(e.get("original"), f"entry {rel!r} original"),
                     "patched": _unpack(e.get("patched"), f"entry {rel!r} patched"), "sites": e.get("sites", {})}
            check_entry(rel, entry, e.get("original_sha256"), e.get("patched_sha256"))
            out[rel] = entry
    except (RecordError, BoundsError) as exc:
        raise ManifestError(f"{path}: apply record refused: {exc}") from None
    return out


def save(root: Path, files: Dict[str, dict]) -> None:
    path = location(root)
    if not files:
        forget(root)
        return
    import json

    from .. import __version__

    data = {"version": VERSION, "generated_by": f"sam3d-codemod {__version__}",
            "tree": os.path.realpath(root),
            "files": {rel: {"original": _pack(e["original"]), "patched": _pack(e["patched"]),
                            "original_sha256": _sha(e["original"]), "patched_sha256": _sha(e["patched"]),
                            "sites": e["sites"]}
                      for rel, e in sorted(files.items())}}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode())
    except (OSError, InputError) as exc:
        raise ManifestError(f"{path}: cannot write the apply record: {exc}") from None


def forget(root: Path) -> None:
    try:
        location(root).unlink()
    except FileNotFoundError:
        pass


def merge(current: bytes, base: bytes, other: bytes) -> Optional[bytes]:
    """``current`` with the change base -> other applied (``git merge-file``); None on a conflict or without git."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="sam3d-merge-") as tmp:
        names = []
        for name, data in (("current", current), ("base", base), ("other", other)):
            p = os.path.join(tmp, name)
            with open(p, "wb") as fh:
                fh.write(data)
            names.append(p)
        try:
            proc = subprocess.run(["git", "merge-file", "-p", *names], capture_output=True, timeout=60)
        except (OSError, subprocess.SubprocessError):
            return None
        return proc.stdout if proc.returncode == 0 else None


def record(outcomes: Iterable) -> None:
    """Before apply writes ``outcomes``: add them to their roots' records (a file's first original is kept)."""
    by_root: Dict[Path, list] = {}
    for o in outcomes:
        by_root.setdefault(o.root, []).append(o)
    for root, items in by_root.items():
        files = load(root)
        for o in items:
            entry = files.get(o.rel)
            sites = Counter(s.code for s in o.sites if s.status == "patched" and s.code != "TC000")
            if entry is None:
                files[o.rel] = {"original": o.old if o.path.exists() else None, "patched": o.new, "sites": dict(sites)}
            elif o.old == entry["original"] or (o.old == b"" and entry["original"] is None):
                # Still the original (an apply interrupted between its record and this file's write,
                # or a file put back by hand): recorded afresh.
                files[o.rel] = {"original": entry["original"], "patched": o.new, "sites": dict(sites)}
            else:  # patched again (a refreshed helper, or a file edited since apply)
                if o.old != entry["patched"] and entry["original"] is not None:
                    # Edited since: the original becomes the edited file without our patch, so a
                    # revert keeps the edit (or, where the two overlap, the edited file as it is).
                    entry["original"] = merge(o.old, entry["patched"], entry["original"]) or o.old
                merged = Counter(entry["sites"])
                merged.update(sites)
                entry.update(patched=o.new, sites=dict(merged))
        save(root, files)


def forget_unwritten(outcomes: Iterable) -> None:
    """After apply: drop entries of files whose write failed and which still hold their original."""
    by_root: Dict[Path, list] = {}
    for o in outcomes:
        if not o.written:
            by_root.setdefault(o.root, []).append(o)
    for root, items in by_root.items():
        files = load(root)
        changed = False
        for o in items:
            entry = files.get(o.rel)
            if entry is None:
                continue
            try:
                current = read_bytes(o.path, MAX_FILE_BYTES, follow=False) if lstat_inside(root, o.rel) else None
            except (RecordError, InputError):
                continue
            if current == entry["original"]:
                del files[o.rel]
                changed = True
        if changed:
            save(root, files)


def patched_counts(root: Path, current: Optional[Dict[str, bytes]] = None) -> Dict[str, Dict[str, int]]:
    """code -> {rel: sites apply patched there}, for the files that still hold what apply wrote
    (or, when ``current`` is None, every recorded file)."""
    try:
        files = load(root)
    except ManifestError:
        return {}
    out: Dict[str, Dict[str, int]] = {}
    for rel, entry in files.items():
        try:  # through real directories only, never a link, a device or a FIFO
            if lstat_inside(Path(root), rel) is None:
                continue
            data = read_bytes(Path(root) / rel, MAX_FILE_BYTES, follow=False)
        except (RecordError, InputError):
            continue
        if data != entry["patched"]:
            continue  # reverted or edited since: its sites are counted as they are now
        for code, n in entry["sites"].items():
            out.setdefault(code, {})[rel] = n
    return out

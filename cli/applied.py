"""What `apply` changed, so that `revert` can undo exactly that: ``<root>/.sam3d-codemod-applied.json``.

Per changed file: its bytes before the first `apply` (``null`` for a file apply created, the
generated helper), its bytes as apply last wrote them, and the sites each rule patched there (so a
lock counts a patched site as the same site: cli/lockfile.py). The manifest is written atomically
*before* the files it describes, so an interrupted apply leaves files that are either recorded or
untouched. Inside a git checkout the manifest is listed in the checkout's ``info/exclude``.
"""
from __future__ import annotations

import base64
import json
import os
import subprocess
import zlib
from collections import Counter
from pathlib import Path
from typing import Dict, Iterable, Optional

from .fileio import atomic_write

MANIFEST = ".sam3d-codemod-applied.json"
VERSION = 1


def _pack(data: Optional[bytes]) -> Optional[str]:
    return None if data is None else base64.b64encode(zlib.compress(data, 6)).decode("ascii")


def _unpack(text: Optional[str]) -> Optional[bytes]:
    return None if text is None else zlib.decompress(base64.b64decode(text))


class ManifestError(Exception):
    """A manifest that cannot be read: one line."""


def load(root: Path) -> Dict[str, dict]:
    """rel path -> {"original": bytes|None, "patched": bytes, "sites": {code: n}}; {} without a manifest."""
    path = Path(root) / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ManifestError(f"{path}: cannot read the apply manifest: {exc}") from None
    if not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get("files"), dict):
        raise ManifestError(f"{path}: not a version-{VERSION} sam3d-codemod apply manifest")
    try:
        return {rel: {"original": _unpack(e["original"]), "patched": _unpack(e["patched"]),
                      "sites": dict(e.get("sites", {}))} for rel, e in data["files"].items()}
    except (KeyError, TypeError, ValueError, zlib.error) as exc:
        raise ManifestError(f"{path}: damaged apply manifest ({type(exc).__name__})") from None


def save(root: Path, files: Dict[str, dict]) -> None:
    path = Path(root) / MANIFEST
    if not files:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        return
    from .. import __version__

    data = {"version": VERSION, "generated_by": f"sam3d-codemod {__version__}",
            "files": {rel: {"original": _pack(e["original"]), "patched": _pack(e["patched"]), "sites": e["sites"]}
                      for rel, e in sorted(files.items())}}
    atomic_write(path, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode())
    _exclude_from_git(Path(root))


def _exclude_from_git(root: Path) -> None:
    """List the manifest in the enclosing checkout's info/exclude (a submodule has its own)."""
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "--git-path", "info/exclude", "--show-prefix"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return
    if out.returncode != 0:
        return
    lines = out.stdout.splitlines()
    if len(lines) < 1:
        return
    exclude = Path(lines[0]) if os.path.isabs(lines[0]) else root / lines[0]
    prefix = lines[1] if len(lines) > 1 else ""
    pattern = f"/{prefix}{MANIFEST}"
    try:
        existing = exclude.read_text(encoding="utf-8", errors="replace") if exclude.exists() else ""
        if pattern in existing.splitlines():
            return
        exclude.parent.mkdir(parents=True, exist_ok=True)
        with open(exclude, "a", encoding="utf-8") as fh:
            fh.write(("" if not existing or existing.endswith("\n") else "\n") + pattern + "\n")
    except OSError:
        pass  # git then lists the manifest as untracked: visible, harmless


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
    """Before apply writes ``outcomes``: add them to their roots' manifests (a file's first original is kept)."""
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
                current = o.path.read_bytes()
            except FileNotFoundError:
                current = None
            if current == entry["original"]:
                del files[o.rel]
                changed = True
        if changed:
            save(root, files)


def patched_counts(root: Path, current: Dict[str, bytes] = None) -> Dict[str, Dict[str, int]]:
    """code -> {rel: sites apply patched there}, for the files that still hold what apply wrote
    (or, when ``current`` is None, every recorded file)."""
    try:
        files = load(root)
    except ManifestError:
        return {}
    out: Dict[str, Dict[str, int]] = {}
    for rel, entry in files.items():
        path = Path(root) / rel
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if data != entry["patched"]:
            continue  # reverted or edited since: its sites are counted as they are now
        for code, n in entry["sites"].items():
            out.setdefault(code, {})[rel] = n
    return out

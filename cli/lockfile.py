"""The site-count lock (``sam3d-codemod.lock``): per rule and file, how many sites a rule patches.

An upstream bump that renames or moves code makes a rule silently match fewer sites; comparing
counts against the lock turns that into a visible drift.
"""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Optional

from .. import __version__
from .fileio import atomic_write

LOCK_VERSION = 1


def counts(report) -> Dict[str, Dict[str, int]]:
    out: Dict[str, Dict[str, int]] = defaultdict(dict)
    for site in report.sites:
        if site.status == "patched" and site.code not in ("TC000",):
            out[site.code][site.path] = out[site.code].get(site.path, 0) + 1
    return {code: dict(sorted(files.items())) for code, files in sorted(out.items())}


def write_lock(path: str, report) -> dict:
    data = {"version": LOCK_VERSION, "generated_by": f"sam3d-codemod {__version__}",
            "rules": sorted(r.code for r in report.rules), "sites": counts(report)}
    target = Path(path)
    if not target.exists():
        target.write_bytes(b"")
    atomic_write(target, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())
    return data


def read_lock(path: str) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path}: no such lock file (create it with `sam3d-codemod lock PATH --lock {path}`)") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not a sam3d-codemod lock file: {exc}") from None
    if not isinstance(data, dict) or data.get("version") != LOCK_VERSION or not isinstance(data.get("sites"), dict):
        raise ValueError(f"{path}: not a version-{LOCK_VERSION} sam3d-codemod lock file")
    return data


def compare(lock: Optional[dict], report) -> List[dict]:
    """Every (rule, file) whose count differs from the lock, for the rules this run selected."""
    if lock is None:
        return []
    selected = {r.code for r in report.rules}
    now = counts(report)
    drift = []
    for code in sorted(selected & (set(lock["sites"]) | set(now))):
        before = lock["sites"].get(code, {})
        after = now.get(code, {})
        for path in sorted(set(before) | set(after)):
            if before.get(path, 0) != after.get(path, 0):
                drift.append({"code": code, "path": path, "locked": before.get(path, 0), "found": after.get(path, 0)})
    return drift

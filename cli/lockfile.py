"""The site-count lock (``sam3d-codemod.lock``): per rule and file, how many sites a rule patches.

An upstream bump that renames or moves code makes a rule silently match fewer sites; comparing
counts against the lock turns that into a visible drift.
"""
from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from .. import __version__
from ..codemods.engine.bounded_read import InputError, read_bytes
from . import inputs
from .fileio import atomic_write

LOCK_VERSION = 1
MAX_LOCK_BYTES = 64 * 1024 * 1024


def counts(report, paths: Sequence[str] = ()) -> Dict[str, Dict[str, int]]:
    """Sites per rule and file, the same on a pristine and a patched tree: a site `apply` patched
    counts where the file still holds what apply wrote (its manifest, cli/applied.py)."""
    from .applied import patched_counts

    out: Dict[str, Dict[str, int]] = defaultdict(dict)
    for site in report.sites:
        if site.status == "patched" and site.code not in ("TC000",):
            out[site.code][site.path] = out[site.code].get(site.path, 0) + 1
    selected = {r.code for r in report.rules}
    for root in _roots(paths):
        for code, files in patched_counts(root).items():
            if code in selected:
                for rel, n in files.items():
                    out[code][rel] = out[code].get(rel, 0) + n
    return {code: dict(sorted(files.items())) for code, files in sorted(out.items())}


def _roots(paths: Sequence[str]) -> List[Path]:
    roots = []
    for p in paths:
        if Path(p).is_dir():
            root = Path(p)
        else:  # a single file is read as part of its tree, as the runner does (cli/paths.py)
            from .paths import project_root

            root = project_root(Path(p))
        if root not in roots:
            roots.append(root)
    return roots


def write_lock(path: str, report, paths: Sequence[str] = ()) -> dict:
    data = {"version": LOCK_VERSION, "generated_by": f"sam3d-codemod {__version__}",
            "rules": sorted(r.code for r in report.rules), "sites": counts(report, paths)}
    # The lock file is named by the user (like an output file), not part of the tree: a link to it
    # is written at its target, which must be a regular file or not exist yet.
    target = Path(os.path.realpath(path))
    atomic_write(target, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())
    return data


def read_lock(path: str) -> dict:
    """The lock's data; ValueError with a one-line message for anything but a well-formed lock
    (a FIFO or device is refused without blocking, a large file without reading it all)."""
    inputs.note(path)
    if not os.path.lexists(path):
        raise ValueError(f"{path}: no such lock file (create it with `sam3d-codemod lock PATH --lock {path}`)")
    from .bounded import check_json_depth

    try:
        raw = read_bytes(Path(path), MAX_LOCK_BYTES, what="a smaller lock")
        check_json_depth(raw, f"{path}: lock file")  # BoundsError is a ValueError: one line
        data = json.loads(raw.decode("utf-8"))
    except InputError as exc:
        raise ValueError(f"{path}: cannot read the lock file: {exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"{path}: not a sam3d-codemod lock file: {' '.join(str(exc).split())}") from None
    if not isinstance(data, dict) or data.get("version") != LOCK_VERSION or not isinstance(data.get("sites"), dict):
        raise ValueError(f"{path}: not a version-{LOCK_VERSION} sam3d-codemod lock file")
    for code, files in data["sites"].items():
        if not isinstance(files, dict) or not all(
                isinstance(f, str) and type(n) is int and n >= 0 for f, n in files.items()):
            raise ValueError(f"{path}: not a version-{LOCK_VERSION} sam3d-codemod lock file "
                             f"(sites.{code} must map file paths to site counts)")
    return data


def compare(lock: Optional[dict], report, paths: Sequence[str] = ()) -> List[dict]:
    """Every (rule, file) whose count differs from the lock, for the rules this run selected."""
    if lock is None:
        return []
    selected = {r.code for r in report.rules}
    now = counts(report, paths)
    drift = []
    for code in sorted(selected & (set(lock["sites"]) | set(now))):
        before = lock["sites"].get(code, {})
        after = now.get(code, {})
        for path in sorted(set(before) | set(after)):
            if before.get(path, 0) != after.get(path, 0):
                drift.append({"code": code, "path": path, "locked": before.get(path, 0), "found": after.get(path, 0)})
    return drift

"""`sam3d-codemod revert PATH`: undo exactly what `apply` changed (its manifest, cli/applied.py).

Per recorded file: still as apply wrote it -> its original bytes (a file apply created, the
helper, is removed); already the original -> nothing; edited since -> a 3-way merge (``git
merge-file``: the file as it is now, apply's output as the base, the original) takes the patch out
and keeps the edits. Where that conflicts, or a recorded file was deleted, nothing at all is
written and the files are named. Writes are atomic; the manifest goes last.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from . import applied
from .fileio import InputError, atomic_write


class RevertError(Exception):
    """Nothing was changed; one line naming the files."""


@dataclass
class Plan:
    root: Path
    writes: Dict[str, bytes] = field(default_factory=dict)  # rel -> bytes to write
    removes: List[str] = field(default_factory=list)        # rel of files apply created
    merged: List[str] = field(default_factory=list)          # files whose own edits were kept
    unchanged: List[str] = field(default_factory=list)       # already the original
    empty: bool = False                                      # no apply record at all


def plan(root: Path) -> Plan:
    try:
        files = applied.load(root)
    except applied.ManifestError as exc:
        raise RevertError(str(exc)) from None
    out = Plan(root=root, empty=not files)
    conflicts, missing = [], []
    for rel, entry in sorted(files.items()):
        path = root / rel
        try:
            current: Optional[bytes] = path.read_bytes()
        except FileNotFoundError:
            current = None
        except OSError as exc:
            raise RevertError(f"{rel}: cannot read: {exc.strerror or exc}; nothing reverted") from None
        original, patched = entry["original"], entry["patched"]
        if current is None:
            if original is None:
                out.unchanged.append(rel)
            else:
                missing.append(rel)
        elif current == original:
            out.unchanged.append(rel)
        elif current == patched:
            if original is None:
                out.removes.append(rel)
            else:
                out.writes[rel] = original
        elif original is None:
            conflicts.append(rel)  # the generated helper, edited by hand
        else:
            merged = applied.merge(current, patched, original)
            if merged is None:
                conflicts.append(rel)
            else:
                out.writes[rel] = merged
                out.merged.append(rel)
    if conflicts or missing:
        parts = []
        if conflicts:
            parts.append("your edits overlap the patch in " + ", ".join(conflicts))
        if missing:
            parts.append("deleted since apply: " + ", ".join(missing))
        raise RevertError(f"{root}: nothing reverted: {'; '.join(parts)} (restore or commit them, then run again)")
    return out


def execute(p: Plan) -> None:
    """Write the plan. Files whose write fails stay recorded in the manifest (a second revert retries)."""
    files = applied.load(p.root)
    failed: List[Tuple[str, str]] = []
    for rel, data in sorted(p.writes.items()):
        try:
            atomic_write(p.root / rel, data)
            files.pop(rel, None)
        except InputError as exc:
            failed.append((rel, str(exc)))
    for rel in p.removes:
        try:
            (p.root / rel).unlink()
            files.pop(rel, None)
        except FileNotFoundError:
            files.pop(rel, None)
        except OSError as exc:
            failed.append((rel, exc.strerror or str(exc)))
    for rel in p.unchanged:
        files.pop(rel, None)
    applied.save(p.root, files)
    if failed:
        raise RevertError("; ".join(f"{rel}: {why}" for rel, why in failed))


def revert(root: Path) -> Plan:
    p = plan(root)
    execute(p)
    return p

"""`sam3d-codemod revert PATH`: undo exactly what `apply` changed (its record, cli/applied.py).

Per recorded file: still as apply wrote it -> its original bytes (a file apply created, the
helper, is removed); already the original -> nothing; edited since -> a 3-way merge (``git
merge-file``: the file as it is now, apply's output as the base, the original) takes the patch out
and keeps the edits. Where that conflicts, or a recorded file was deleted, nothing at all is
written and the files are named.

Before anything is written every entry is checked against the file system (cli/record_check.py:
a relative, normalised path reached through real directories, naming a regular file); one bad
entry refuses the whole revert. Each write re-reads its file right before the rename and writes
only if it still holds the bytes the plan was made from (cli/fileio.py), through directory
descriptors that never leave the tree (cli/tree_fs.py). The record goes last.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from ..codemods.engine.bounded_read import InputError, read_bytes
from . import applied
from .fileio import atomic_write
from .record_check import RecordError, lstat_inside


class RevertError(Exception):
    """Nothing was changed; one line naming the files."""


@dataclass
class Plan:
    root: Path
    writes: Dict[str, bytes] = field(default_factory=dict)  # rel -> bytes to write
    removes: List[str] = field(default_factory=list)        # rel of files apply created
    merged: List[str] = field(default_factory=list)          # files whose own edits were kept
    unchanged: List[str] = field(default_factory=list)       # already the original
    seen: Dict[str, Optional[bytes]] = field(default_factory=dict)  # rel -> bytes the plan was made from
    empty: bool = False                                      # no apply record at all


def read_current(root: Path, rel: str) -> Optional[bytes]:
    """The file's bytes (None when absent), reached through real directories inside the tree only."""
    try:
        st = lstat_inside(root, rel)
    except RecordError as exc:
        raise RevertError(f"{root}: nothing reverted: {exc}") from None
    if st is None:
        return None
    try:
        return read_bytes(root / rel, max(st.st_size, 1) + applied.MAX_FILE_BYTES, follow=False)
    except InputError as exc:
        raise RevertError(f"{rel}: cannot read: {exc}; nothing reverted") from None


def plan(root: Path) -> Plan:
    try:
        files = applied.load(root)
    except applied.ManifestError as exc:
        raise RevertError(str(exc)) from None
    out = Plan(root=root, empty=not files)
    conflicts, missing = [], []
    for rel in sorted(files):  # every path checked before any merge or write
        out.seen[rel] = read_current(root, rel)
    for rel, entry in sorted(files.items()):
        current = out.seen[rel]
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


def execute(p: Plan, all_or_nothing: bool = False) -> None:
    """Write the plan. Each file is written only if it still holds ``p.seen[rel]``. Files whose
    write fails stay recorded (a second revert retries); with ``all_or_nothing`` the files already
    written are put back as they were and RevertError says nothing was changed."""
    from .tree_fs import ChainError, unlink_inside

    files = applied.load(p.root)
    failed: List[Tuple[str, str]] = []
    done: List[Tuple[str, Optional[bytes], Optional[bytes]]] = []  # (rel, before, after)
    for rel, data in sorted(p.writes.items()):
        if all_or_nothing and failed:
            break
        try:
            atomic_write(p.root / rel, data, expected=p.seen.get(rel), root=p.root)
            done.append((rel, p.seen.get(rel), data))
            files.pop(rel, None)
        except InputError as exc:
            failed.append((rel, str(exc)))
    for rel in p.removes:
        if all_or_nothing and failed:
            break
        try:
            if read_current(p.root, rel) != p.seen.get(rel):
                raise InputError("changed on disk during the run; left unchanged (run again)")
            unlink_inside(p.root, p.root / rel)
            done.append((rel, p.seen.get(rel), None))
            files.pop(rel, None)
        except (InputError, RevertError) as exc:
            failed.append((rel, str(exc)))
        except (ChainError, OSError) as exc:
            failed.append((rel, exc.strerror or str(exc)))
    if failed and all_or_nothing:
        undo(p.root, done)
        raise RevertError(f"{p.root}: nothing reverted: " + "; ".join(f"{rel}: {why}" for rel, why in failed))
    for rel in p.unchanged:
        files.pop(rel, None)
    try:
        applied.save(p.root, files)
    except applied.ManifestError as exc:
        failed.append(("apply record", str(exc)))
    if failed:
        raise RevertError("; ".join(f"{rel}: {why}" for rel, why in failed))


def undo(root: Path, done: List[Tuple[str, Optional[bytes], Optional[bytes]]]) -> List[str]:
    """Put back files an interrupted plan wrote (each only if it still holds what was written);
    the rels that could not be put back."""
    left = []
    for rel, before, after in reversed(done):
        try:
            if before is None:
                from .tree_fs import unlink_inside

                if read_current(root, rel) == after:
                    unlink_inside(root, root / rel)
            else:
                atomic_write(root / rel, before, expected=after if after is not None else b"", root=root)
        except (InputError, RevertError, OSError):
            left.append(rel)
    return left


def revert(root: Path) -> Plan:
    p = plan(root)
    execute(p)
    return p

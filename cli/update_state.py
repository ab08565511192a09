"""An `update` in progress, recorded so that the next run recognises an interrupted one.

The marker (``<git dir>/sam3d-codemod/update.json``, beside the apply record: cli/record_store.py,
outside the tree) holds the commit the checkout was at and the one it was moving to. It is
written before the revert begins and removed once apply has run on the new commit, or once a
refused checkout has been undone. Found on a later run, it means that run was killed:

* git's ``index.lock`` still there (a kill during ``git checkout``): explained, nothing done, since
  only the user can know that no git command is running;
* HEAD still at the old commit: the checkout was cut short; every file that differs from HEAD must
  be the new commit's own bytes (or apply's, in its record), and then the checkout is finished;
  any other difference is named and nothing is done;
* HEAD at the new commit: the run went on to apply; update proceeds as usual.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

from . import record_store
from .fileio import atomic_write


class Interrupted(Exception):
    """One line: what was interrupted and what to do."""


def marker(path: Path) -> Path:
    return record_store.location(path, "update")


def begin(path: Path, before: str, target: str) -> None:
    where = marker(path)
    where.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(where, json.dumps({"from": before, "to": target, "pid": os.getpid()}).encode())


def end(path: Path) -> None:
    try:
        marker(path).unlink()
    except FileNotFoundError:
        pass


def pending(path: Path) -> Optional[dict]:
    """The marker of an earlier, interrupted update, or None."""
    from .bounded import BoundsError, load_json

    where = marker(path)
    try:
        data = load_json(where, "update marker", max_bytes=4096)
    except FileNotFoundError:
        return None
    except BoundsError:
        data = None
    hexes = set("0123456789abcdef")
    if not (isinstance(data, dict) and all(isinstance(data.get(k), str) and len(data[k]) in (40, 64)
                                           and set(data[k]) <= hexes for k in ("from", "to"))):
        end(path)  # not ours to act on: forget it
        return None
    return data


def index_lock(path: Path) -> Optional[Path]:
    found = record_store.git_dir(path)
    if found is None:
        return None
    lock = Path(found[0]) / "index.lock"
    return lock if os.path.lexists(lock) else None

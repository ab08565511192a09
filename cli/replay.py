"""Warm ``check`` without the full start-up: replay the last identical run when nothing it read changed.

The console script (cli/entry.py) asks here first. For ``check`` with its output going to a pipe or file (not a
terminal, where rich renders), a finished run leaves a record in the user cache: the exact command
line, working directory and tool build, the stat key of every path the run read or listed (noted
where it was read: cli/inputs.py, so there is one list), and its output and exit code. The next identical command stats those
paths; if every key still matches, it prints the recorded output (with this run's elapsed time) and
exits with the recorded code, without importing click, rich, libcst or the runner. Anything else
(a changed file, a new file in any directory, another option, ``--no-cache``) runs normally.

Only the standard library is imported here, and only what a replay needs.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from typing import Iterable, List, Optional, Sequence

from .. import __version__
from ..codemods.engine import user_cache
from .fingerprint import code_fingerprint

ELAPSED = "\x00elapsed\x00"  # stands for " in 0.12s" in a recorded text report
RECORD_VERSION = 1
MAX_RECORDS = 256
# A run over files changed this recently is not recorded (as git's "racy clean"): a second change
# within the file system's timestamp resolution would leave the same stat key.
RACY_FINE_NS = 100_000_000  # nanosecond timestamps advance at least every few ms
RACY_NS = 2_000_000_000  # whole-second (or FAT's 2 s) timestamps


def runs_dir() -> str:
    return user_cache.path("runs")


# Environment that changes a run's output (colour, annotation paths) is part of a record's key.
OUTPUT_ENV = ("NO_COLOR", "FORCE_COLOR", "GITHUB_WORKSPACE")


def _record_path(argv: Sequence[str]) -> str:
    key = json.dumps([RECORD_VERSION, __version__, os.getcwd(), list(argv), [os.environ.get(k) for k in OUTPUT_ENV]])
    return os.path.join(runs_dir(), hashlib.sha256(key.encode()).hexdigest()[:24] + ".json")


def _stat_key(path: str) -> Optional[list]:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino]


def replayable(argv: Sequence[str]) -> bool:
    """``check`` writing to a pipe or file, with the per-file cache on (and SAM3D_CODEMOD_NO_REPLAY unset)."""
    return (len(argv) > 1 and argv[0] == "check" and "--no-cache" not in argv and "-" not in argv
            and not os.environ.get("SAM3D_CODEMOD_NO_REPLAY")
            and not sys.stdout.isatty() and not sys.stderr.isatty())


def try_replay(argv: Sequence[str]) -> Optional[int]:
    """The recorded exit code after printing the recorded output, or None to run for real."""
    if not replayable(argv):
        return None
    start = time.perf_counter()
    try:
        with open(_record_path(argv), encoding="utf-8") as fh:
            record = json.load(fh)
        if record.get("tool") != code_fingerprint():
            return None
        for path, key in record["watched"]:
            if _stat_key(path) != key:
                return None
        out, err, code = record["stdout"], record["stderr"], int(record["exit_code"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    elapsed = f" in {time.perf_counter() - start:.2f}s"
    sys.stdout.write(out.replace(ELAPSED, elapsed))
    sys.stderr.write(err.replace(ELAPSED, elapsed))
    sys.stdout.flush()
    return code


def snapshot(watched: Iterable[str]) -> List[list]:
    """[absolute path, stat key or None] for each path, once each."""
    return [[p, _stat_key(p)] for p in dict.fromkeys(os.path.abspath(p) for p in watched)]


def record(argv: Sequence[str], keys: List[list], taken_ns: int, stdout: str, stderr: str, exit_code: int) -> None:
    """Save a finished run for ``try_replay``. ``keys``: the ``snapshot``, after the run, of every
    path it noted as read (cli/inputs.py); ``taken_ns``: a time before it read anything, so a path
    changed during the run (its ctime is later) keeps the run from being recorded. A failure to
    save only costs the next run its speed."""
    if not replayable(argv):
        return
    stamps = [t for _, key in keys if key is not None for t in key[:2]]
    # Whole-second timestamps (an old file system): two changes a second apart can look alike.
    window = RACY_NS if stamps and all(t % 1_000_000_000 == 0 for t in stamps) else RACY_FINE_NS
    if any(t > taken_ns - window for t in stamps):
        return  # changed a moment ago: another change within the clock's resolution could hide
    data = {
        "tool": code_fingerprint(),
        "argv": list(argv),
        "watched": keys,
        "stdout": stdout, "stderr": stderr, "exit_code": exit_code,
    }
    target = _record_path(argv)
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        tmp = f"{target}.tmp{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, separators=(",", ":"))
        os.replace(tmp, target)
        _prune(os.path.dirname(target))
    except OSError:
        pass


def _prune(folder: str) -> None:
    """Keep the newest MAX_RECORDS records: one per command line and folder adds up."""
    names = [n for n in os.listdir(folder) if n.endswith(".json")]
    if len(names) <= MAX_RECORDS:
        return
    paths = sorted((os.path.join(folder, n) for n in names), key=lambda p: os.stat(p).st_mtime_ns)
    for path in paths[: len(paths) - MAX_RECORDS]:
        try:
            os.unlink(path)
        except OSError:
            pass

"""``-`` as the PATH: the source comes from standard input (editors, formatter-style integrations).

As ``ruff check --fix -`` and ``black -``: ``--stdin-filename`` says where the source lives; it
places the file in its tree (the helper module's place and the import form are those of that tree),
names it in reports and diff headers, and finds the config. ``apply -`` prints the rewritten source
(or the input unchanged) on stdout and writes nothing; the report goes to stderr.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from ..codemods.base import api_scan_enabled
from ..codemods.engine.bounded_read import _size
from ..codemods.engine.hosts import HostFinder
from ..codemods.rules import select_rules
from .compat_module import COMPAT_FILE, render_compat
from .filejob import FileJob, _checkable, conflict_marker, prefilter, transform_file
from .outcome import FileOutcome, RunReport
from .paths import project_root
from .settings import Options, UsageError

DEFAULT_NAME = "stdin.py"


def read_stdin(max_bytes: int, stream=None) -> bytes:
    """At most ``max_bytes + 1`` bytes (one more says it is over the limit)."""
    import sys

    stream = stream if stream is not None else sys.stdin.buffer
    return stream.read(max_bytes + 1)


def run_stdin(data: bytes, filename: Optional[str], options: Options, verify: bool = False,
              command: str = "check", lock: Optional[dict] = None) -> RunReport:
    """One file from ``data``; nothing is written. Sites of a missing helper module are noted.
    ``lock`` (check --lock): the report's drift against it."""
    report = _run_stdin(data, filename, options, verify, command)
    if lock is not None:
        from .lockfile import compare

        report.drift = compare(lock, report, ())
    return report


def _run_stdin(data: bytes, filename: Optional[str], options: Options, verify: bool, command: str) -> RunReport:
    try:
        rules = select_rules(options.select, options.ignore, options.target)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    name = Path(filename or DEFAULT_NAME)
    if name.suffix != ".py":
        raise UsageError(f"--stdin-filename {name}: not a .py file")
    root = project_root(name)
    path = root / os.path.relpath(name, root)
    report = RunReport(rules=rules, command=command)
    report.files_seen = 1
    if len(data) > options.max_bytes:
        report.outcomes.append(FileOutcome(path=path, root=root, error=f"input is over the {_size(options.max_bytes)} "
                                           "limit (raise it with --max-file-size)"))
        return report
    if b"\0" in data:
        report.outcomes.append(FileOutcome(path=path, root=root, old=data,
                                           error="contains NUL bytes (binary content in a .py file?)"))
        return report
    conflict = conflict_marker(data)
    if conflict is not None:
        report.outcomes.append(FileOutcome(path=path, root=root, old=data, error=conflict))
        return report
    python_rules = [r for r in rules if r.kind == "python"]
    codes = prefilter(path, data, python_rules)
    scan_api = verify and api_scan_enabled(options.select, options.ignore)
    checkable = _checkable(rules, options, scan_api) if verify else None  # unused suppressions (check)
    finder = HostFinder(root)
    compat_import = finder.import_statement(path) if codes else None
    report.files_parsed = 1 if codes else 0
    outcome = transform_file(FileJob(root, path, data, codes, options.target, compat_import, verify,
                                     scan_api and b"torch" in data, checkable))  # every file: its syntax too
    report.outcomes.append(outcome)
    if outcome.needs_compat and not outcome.error:
        outcome.host = finder.host_for(path)[0]
        if outcome.host is not None:
            helper = outcome.host / COMPAT_FILE
            from ..codemods.engine.bounded_read import DEFAULT_MAX_BYTES, InputError, read_bytes

            try:  # never blocks on a FIFO, never follows a link (as the runner reads helpers)
                current = read_bytes(helper, DEFAULT_MAX_BYTES, follow=False) if os.path.lexists(helper) else None
            except InputError:
                current = None
            if current is None:
                report.missing_helper = helper
            elif current != render_compat():
                report.stale_helper = helper
    return report

"""Discover files, pre-filter, transform (in a pool when it pays), write or diff, and collect a report.

libcst is imported only when some file passes the text pre-filter, torch never.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from ..codemods.base import api_scan_enabled
from ..codemods.engine.bounded_read import InputError, read_bytes
from ..codemods.engine.hosts import HostFinder
from ..codemods.rules import select_rules
from .cache import ResultCache
from .compat_module import COMPAT_FILE, _add_compat_modules, _is_generated_compat
from .config_rules import _run_config_rules
from .discovery import discover
from .fileio import atomic_write
from .filejob import FileJob, _checkable, _load_api_table, _warm_up, _worker_died, conflict_marker, prefilter, transform_file
from .outcome import FileOutcome, RunReport
from .pins_files import run_pins  # requirement files, pyproject, environments/*.yml (codemods/pins)
from .settings import Options, UsageError

POOL_MIN_FILES = 24  # files seen; below this worker processes cost more than they save
# Memory bounds (per worker; measured with /usr/bin/time -v, see the README's "Hostile trees"):
# CPython's own parser takes 160-230 MB per MB of source, so no file over HARD_MAX_BYTES is read,
# whatever --max-file-size says. LibCST's bounds: LIBCST_MAX_BYTES, LIBCST_MAX_LINE in cli/filejob.py.
HARD_MAX_BYTES = 8 * 1024 * 1024


# ---------------------------------------------------------------- run

def run(paths: Sequence[str], options: Options, write: bool = False,
        progress: Optional[Callable[[int, int], None]] = None, verify: bool = False,
        before_write: Optional[Callable[[List[FileOutcome]], None]] = None,
        command: Optional[str] = None, lock: Optional[dict] = None) -> RunReport:
    """``verify`` (check, lock): also prove idempotence and scan for unhandled newer torch APIs.
    ``command`` says what the report's outcomes mean (default: apply when writing, else check);
    ``lock`` (check --lock, from cli/lockfile.read_lock): the report's drift against it."""
    try:
        rules = select_rules(options.select, options.ignore, options.target)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    report = RunReport(rules=rules, command=command or ("apply" if write else "check"))
    what_limit = "--max-file-size" if options.max_bytes <= HARD_MAX_BYTES else \
        f"no option: {HARD_MAX_BYTES // (1024 * 1024)} MB is the hard limit, parsing takes ~200 MB per MB"
    unlisted: List[Tuple[Path, Path, str]] = []
    files = discover(paths, options.exclude, unlisted, options.force_exclude)
    report.files_seen = len(files)
    report.outcomes += [FileOutcome(path=d, root=root, error=msg) for root, d, msg in unlisted]
    python_rules = [r for r in rules if r.kind == "python"]
    hosts: Dict[Path, HostFinder] = {}
    jobs = []
    caches: Dict[Path, ResultCache] = {}
    scan_api = verify and api_scan_enabled(options.select, options.ignore)
    checkable = _checkable(rules, options, scan_api) if verify else None
    config_key = f"{sorted(r.code for r in python_rules)}|{options.target}|{verify}|{scan_api}|{options.max_bytes}"
    if checkable is not None:
        config_key += f"|{sorted(checkable)}"
    fresh: Dict[Path, tuple] = {}  # path -> (cache, rel, stat, raw) to store after the run
    helpers: Dict[Path, Tuple[Path, bytes]] = {}  # host dir -> (root, bytes) of helper modules already there
    pool = None
    may_pool = options.jobs > 1 and len(files) >= POOL_MIN_FILES and hasattr(os, "fork")
    finished = False
    try:
        for root, path in files:
            cache = caches.get(root)
            if cache is None:
                cache = caches[root] = ResultCache(root, config_key, options.cache)
            rel = path.relative_to(root).as_posix()
            try:
                st = path.stat()
                raw = read_bytes(path, min(options.max_bytes, HARD_MAX_BYTES), what=what_limit)
                entry = cache.lookup(rel, st, raw)
            except (OSError, InputError) as exc:
                error = str(exc) if isinstance(exc, InputError) else f"cannot read: {exc.strerror}"
                report.outcomes.append(FileOutcome(path=path, root=root, error=error))
                continue
            if entry is not None:
                if entry["skip"]:
                    continue
                outcome = FileOutcome(path=path, root=root)
                if ResultCache.restore(entry, outcome):
                    if outcome.new is not None:
                        outcome.old = raw
                    hosts.setdefault(root, HostFinder(root))
                    report.outcomes.append(outcome)
                    report.files_cached += 1
                    continue
            if _is_generated_compat(path, raw):
                helpers.setdefault(path.parent, (root, raw))  # refreshed below when the template changed
                continue
            if b"\0" in raw:
                report.outcomes.append(FileOutcome(path=path, root=root, old=raw,
                                                   error="contains NUL bytes (binary content in a .py file?)"))
                continue
            conflict = conflict_marker(raw)
            if conflict is not None:
                report.outcomes.append(FileOutcome(path=path, root=root, old=raw, error=conflict))
                continue
            codes = prefilter(path, raw, python_rules)
            fresh[path] = (cache, rel, st, raw)
            if codes and may_pool and pool is None:
                # The first LibCST file: its worker starts importing libcst now, beside this loop.
                from .pool import WarmPool

                if scan_api:
                    _load_api_table(options.target)
                pool = WarmPool(options.jobs, _warm_up, transform_file)
            finder = hosts.setdefault(root, HostFinder(root))
            compat_import = finder.import_statement(path) if codes else None
            # Every file is checked for syntax errors (a light job: compile() unless the TC100 scan parses it).
            jobs.append(FileJob(root, path, raw, codes, options.target, compat_import, verify,
                                scan_api and b"torch" in raw, checkable))
        report.files_parsed = sum(1 for job in jobs if job.codes)
        results: Iterable[FileOutcome]
        if pool is not None:
            results = pool.run([job for job in jobs if job.codes], [job for job in jobs if not job.codes], _worker_died,
                               weight=lambda job: len(job.raw))
        else:
            results = map(transform_file, jobs)
        for i, outcome in enumerate(results, 1):
            if outcome.needs_compat and not outcome.error:
                outcome.host = hosts[outcome.root].host_for(outcome.path)[0]
            cache, rel, st, raw = fresh[outcome.path]
            if outcome.sites or outcome.error or outcome.needs_compat or outcome.new is not None:
                report.outcomes.append(outcome)
                cache.store(rel, st, raw, outcome)
            else:
                cache.store(rel, st, raw)  # parsed, nothing to do: a skip entry
            if progress:
                progress(i, len(jobs))
        finished = True
    finally:
        if pool is not None:
            pool.close(abandon=not finished)  # Ctrl-C, SIGTERM or a bug: do not wait for a worker's file
    for cache in caches.values():
        cache.save()
    compat = _add_compat_modules(report, hosts, helpers, write)
    _run_config_rules(report, rules, paths)
    run_pins(report, paths, options.select, options.ignore, options.target, options.cuda)
    report.outcomes.sort(key=lambda o: (str(o.root), o.rel))
    if lock is not None:
        from .lockfile import compare

        report.drift = compare(lock, report, paths)
    if write:
        if before_write is not None:
            before_write(report.changed)  # cli/applied.py records what is about to change
        _write_all(report, compat)
    return report


def _write_all(report: RunReport, compat: Dict[Path, FileOutcome]) -> None:
    """Helper modules first; a file that imports a helper is written only when that helper is in
    place (written now, or already there and current), so no file is left importing a missing one."""
    for outcome in compat.values():
        if outcome.new is not None and not outcome.error:
            try:
                atomic_write(outcome.path, outcome.new, expected=outcome.old, root=outcome.root)
                outcome.written = True
            except InputError as exc:
                outcome.error = str(exc)
    for outcome in report.changed:
        if outcome.path.name == COMPAT_FILE and outcome.path.parent in compat:
            continue
        if outcome.needs_compat:
            helper = compat.get(outcome.host) if outcome.host is not None else None
            if helper is None or helper.error:
                name = helper.rel if helper is not None else COMPAT_FILE
                outcome.error = f"not written: the helper module it imports ({name}) could not be written; left unchanged"
                continue
        assert outcome.new is not None  # (report.changed)
        try:
            atomic_write(outcome.path, outcome.new, expected=outcome.old, root=outcome.root)
            outcome.written = True
        except InputError as exc:
            outcome.error = str(exc)

"""Discover files, pre-filter, transform (in a pool when it pays), write or diff, and collect a report.

libcst is imported only when some file passes the text pre-filter, torch never.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from ..codemods.base import UNUSED_SUPPRESSION_CODE, Rule, api_scan_enabled, check_enabled
from ..codemods.rules import select_rules
from .cache import ResultCache
from .fileio import DEFAULT_MAX_BYTES, InputError, atomic_write, read_bytes
from ..codemods.engine.hosts import SKIP_DIRS, HostFinder  # noqa: F401  (HostFinder re-exported: bench/worker_rss.py)
# Re-exported: cli/stdin.py, cli/main.py, tests and bench/ import these from here.
from .compat_module import COMPAT_FILE, COMPAT_MARKER, _add_compat_modules, _is_generated_compat, render_compat  # noqa: F401
from .config_rules import _run_config_rules  # noqa: F401  (looked up here at call time: tests patch it)
from .pins_files import run_pins  # requirement files, pyproject, environments/*.yml (codemods/pins)
from .diff import _git_quote, unified_diff  # noqa: F401
from .filejob import (LIBCST_MAX_BYTES, LIBCST_MAX_LINE, _known_codes, _load_api_table, _over_libcst_limits,  # noqa: F401
                      _python_rejects, _rules_for, _syntax_error, _warm_up, _worker_died, conflict_marker, prefilter,
                      transform_file)
from .outcome import FileOutcome, RunReport  # noqa: F401

POOL_MIN_FILES = 24  # files seen; below this worker processes cost more than they save
# Memory bounds (per worker; measured with /usr/bin/time -v, see the README's "Hostile trees"):
# CPython's own parser takes 160-230 MB per MB of source, so no file over HARD_MAX_BYTES is read,
# whatever --max-file-size says. LibCST's bounds: LIBCST_MAX_BYTES, LIBCST_MAX_LINE in cli/filejob.py.
HARD_MAX_BYTES = 8 * 1024 * 1024


class UsageError(Exception):
    """Bad arguments or paths: exit 2 before any work."""


@dataclass
class Options:
    select: Sequence[str] = ()
    ignore: Sequence[str] = ()
    target: str = "2.0"
    jobs: int = 1
    max_bytes: int = DEFAULT_MAX_BYTES
    exclude: Sequence[str] = ()
    cache: bool = True
    cuda: Optional[str] = None  # --target-cuda (the pins rules); None: the pin table's default for the target torch


# ---------------------------------------------------------------- discovery

def discover(paths: Sequence[str], exclude: Sequence[str] = (),
             errors: Optional[List[Tuple[Path, Path, str]]] = None) -> List[Tuple[Path, Path]]:
    """(root, file) pairs for every .py file; symlinks never lead out of the root, and each real file is seen once.
    ``errors`` gets (root, directory, message) for each directory that could not be listed."""
    found: List[Tuple[Path, Path]] = []
    seen = set()
    for raw_path in paths:
        path = Path(raw_path)
        if not path.exists() and not path.is_symlink():
            raise UsageError(f"{raw_path}: no such file or directory")
        if path.is_file():
            if path.suffix != ".py":
                raise UsageError(f"{raw_path}: not a directory or .py file")
            # The tree the file belongs to, so it gets the rewrite (helper, import form, diff
            # paths) that processing that whole tree gives it.
            from .paths import project_root

            root = project_root(path)
            path = root / os.path.relpath(path, root)
            files = [path]
        elif path.is_dir():
            root = path
            files = _walk(path, exclude, errors)
        else:
            raise UsageError(f"{raw_path}: not a directory or .py file")
        real_root = os.path.realpath(root)
        links = {file for file in files if os.path.islink(file)}
        for file in sorted(files, key=lambda f: f in links):  # a real file claims itself before an in-tree link to it
            # _walk never enters a linked directory: only a linked file can lead elsewhere.
            real = os.path.realpath(file) if file in links or files == [path] else \
                os.path.join(real_root, os.path.relpath(file, root))
            if os.path.commonpath([real, real_root]) != real_root:
                continue  # a link out of the tree
            if real in seen:
                continue
            seen.add(real)
            found.append((root, file))
    return found


def _walk(root: Path, exclude: Sequence[str], errors: Optional[list] = None) -> List[Path]:
    from .ignore import IgnoreRules

    ignore = IgnoreRules(root, exclude)
    files = []

    def unlistable(exc: OSError) -> None:  # never a silent skip: its files would count as clean
        if errors is not None:
            reason = "permission denied" if isinstance(exc, PermissionError) else " ".join(str(exc.strerror or exc).split())
            errors.append((root, Path(exc.filename or root), f"cannot list this directory ({reason}); its files were not checked"))

    for dirpath, dirnames, filenames in os.walk(root, followlinks=False, onerror=unlistable):
        rel_dir = os.path.relpath(dirpath, root)
        ignore.enter(rel_dir, filenames)
        keep = []
        for d in sorted(dirnames):
            rel = d if rel_dir == "." else f"{rel_dir}/{d}"
            if d in SKIP_DIRS or d.startswith(".") or os.path.islink(os.path.join(dirpath, d)):
                continue
            if ignore.ignored(rel, is_dir=True):
                continue
            keep.append(d)
        dirnames[:] = keep
        for name in sorted(filenames):
            if not name.endswith(".py"):
                continue
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if ignore.ignored(rel):
                continue
            files.append(Path(dirpath) / name)
    return files


# ---------------------------------------------------------------- run

def _checkable(rules: Sequence[Rule], options: Options, scan_api: bool) -> Optional[Tuple[str, ...]]:
    """The codes a TC101 finding may name (this run could have suppressed them), or None when TC101 is off."""
    if not check_enabled(UNUSED_SUPPRESSION_CODE, options.select, options.ignore):
        return None
    return tuple(r.code for r in rules) + ("TC000", UNUSED_SUPPRESSION_CODE) + (("TC100",) if scan_api else ())


def run(paths: Sequence[str], options: Options, write: bool = False,
        progress: Optional[Callable[[int, int], None]] = None, verify: bool = False,
        before_write: Optional[Callable[[List[FileOutcome]], None]] = None) -> RunReport:
    """``verify`` (check, lock): also prove idempotence and scan for unhandled newer torch APIs."""
    try:
        rules = select_rules(options.select, options.ignore, options.target)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    report = RunReport(rules=rules)
    what_limit = "--max-file-size" if options.max_bytes <= HARD_MAX_BYTES else \
        f"no option: {HARD_MAX_BYTES // (1024 * 1024)} MB is the hard limit, parsing takes ~200 MB per MB"
    unlisted: List[Tuple[Path, Path, str]] = []
    files = discover(paths, options.exclude, unlisted)
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
                report.outcomes.append(FileOutcome(path=path, root=root, error=str(exc) if isinstance(exc, InputError) else f"cannot read: {exc.strerror}"))
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
                report.outcomes.append(FileOutcome(path=path, root=root, old=raw, error="contains NUL bytes (binary content in a .py file?)"))
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
            jobs.append((root, path, raw, codes, options.target, compat_import, verify, scan_api and b"torch" in raw, checkable))
        report.files_parsed = sum(1 for job in jobs if job[3])
        results: Iterable[FileOutcome]
        if pool is not None:
            results = pool.run([job for job in jobs if job[3]], [job for job in jobs if not job[3]], _worker_died)
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
        try:
            atomic_write(outcome.path, outcome.new, expected=outcome.old, root=outcome.root)
            outcome.written = True
        except InputError as exc:
            outcome.error = str(exc)

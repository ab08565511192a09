"""Discover files, pre-filter, transform (in a pool when it pays), write or diff, and collect a report.

libcst is imported only when some file passes the text pre-filter, torch never.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from ..codemods.base import (COMPAT_MODULE, UNUSED_SUPPRESSION_CODE, Rule, Site, api_scan_enabled, check_enabled,
                              parse_quietly, select_rules)
from .cache import ResultCache
from .fileio import DEFAULT_MAX_BYTES, InputError, atomic_write, decode, read_bytes
from .hosts import SKIP_DIRS, HostFinder  # noqa: F401  (HostFinder re-exported: bench/worker_rss.py)

COMPAT_FILE = COMPAT_MODULE + ".py"
COMPAT_MARKER = b"SAM3D_CODEMOD_HASH"
POOL_MIN_FILES = 24  # files seen; below this worker processes cost more than they save
# Memory bounds (per worker; measured with /usr/bin/time -v, see the README's "Hostile trees"):
# CPython's own parser takes 160-230 MB per MB of source, so no file over HARD_MAX_BYTES is read,
# whatever --max-file-size says. LibCST takes ~450 MB per MB of a file it parses and ~3 KB per byte
# of its longest line, so a file that needs it is refused over LIBCST_MAX_BYTES, or with a line
# over LIBCST_MAX_LINE (before: a 30 MB file peaked at 20 GB, a 1 MB line at 3.1 GB).
HARD_MAX_BYTES = 8 * 1024 * 1024
LIBCST_MAX_BYTES = 1024 * 1024
LIBCST_MAX_LINE = 32 * 1024


class UsageError(Exception):
    """Bad arguments or paths: exit 2 before any work."""


@dataclass
class FileOutcome:
    path: Path
    root: Path
    old: bytes = b""
    new: Optional[bytes] = None
    sites: List[Site] = field(default_factory=list)
    error: Optional[str] = None
    needs_compat: bool = False
    host: Optional[Path] = None  # package that hosts _torch_compat for this file, when it needs it
    written: bool = False

    @property
    def rel(self) -> str:
        return self.path.relative_to(self.root).as_posix()


@dataclass
class RunReport:
    rules: List[Rule]
    outcomes: List[FileOutcome] = field(default_factory=list)
    notes: List[Site] = field(default_factory=list)
    files_seen: int = 0
    files_parsed: int = 0
    files_cached: int = 0

    @property
    def errors(self) -> List[FileOutcome]:
        return [o for o in self.outcomes if o.error]

    @property
    def changed(self) -> List[FileOutcome]:
        return [o for o in self.outcomes if o.new is not None and not o.error]

    @property
    def sites(self) -> List[Site]:
        return [s for o in self.outcomes for s in o.sites]

    @property
    def unhandled(self) -> List[Site]:
        return [s for s in self.sites if s.status == "unhandled"]


@dataclass
class Options:
    select: Sequence[str] = ()
    ignore: Sequence[str] = ()
    target: str = "2.0"
    jobs: int = 1
    max_bytes: int = DEFAULT_MAX_BYTES
    exclude: Sequence[str] = ()
    cache: bool = True


# ---------------------------------------------------------------- discovery

def _is_generated_compat(path: Path, raw: bytes) -> bool:
    return path.name == COMPAT_FILE and COMPAT_MARKER in raw


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
            root = path.parent
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
    spec = _ignore_spec(root, exclude)
    files = []

    def unlistable(exc: OSError) -> None:  # never a silent skip: its files would count as clean
        if errors is not None:
            reason = "permission denied" if isinstance(exc, PermissionError) else " ".join(str(exc.strerror or exc).split())
            errors.append((root, Path(exc.filename or root), f"cannot list this directory ({reason}); its files were not checked"))

    for dirpath, dirnames, filenames in os.walk(root, followlinks=False, onerror=unlistable):
        rel_dir = os.path.relpath(dirpath, root)
        keep = []
        for d in sorted(dirnames):
            rel = d if rel_dir == "." else f"{rel_dir}/{d}"
            if d in SKIP_DIRS or d.startswith(".") or os.path.islink(os.path.join(dirpath, d)):
                continue
            if spec is not None and spec.match_file(rel + "/"):
                continue
            keep.append(d)
        dirnames[:] = keep
        for name in sorted(filenames):
            if not name.endswith(".py"):
                continue
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if spec is not None and spec.match_file(rel):
                continue
            files.append(Path(dirpath) / name)
    return files


def _ignore_spec(root: Path, exclude: Sequence[str]):
    patterns = list(exclude)
    gitignore = root / ".gitignore"
    if gitignore.is_file():
        try:
            patterns += read_bytes(gitignore, DEFAULT_MAX_BYTES, what="a smaller .gitignore").decode(
                "utf-8", "replace").splitlines()
        except InputError as exc:
            raise UsageError(f"{gitignore}: {exc}") from None
    if not patterns:
        return None
    import pathspec

    return pathspec.PathSpec.from_lines("gitwildmatch", patterns)


# ---------------------------------------------------------------- compat host

def render_compat() -> bytes:
    """The helper module for trees: the template with this tool's version and the template's hash."""
    import hashlib

    from .. import __version__

    template = (Path(__file__).resolve().parent.parent / "codemods" / "_runtime" / "torch_compat.py")
    if not template.is_file():  # installed layout
        from ..codemods import _runtime

        template = Path(_runtime.__file__).parent / "torch_compat.py"
    data = template.read_bytes()
    digest = hashlib.sha256(data).hexdigest()[:16]
    data = data.replace(b'SAM3D_CODEMOD_VERSION = "0+template"', f'SAM3D_CODEMOD_VERSION = "{__version__}"'.encode(), 1)
    data = data.replace(b'SAM3D_CODEMOD_HASH = "template"', f'SAM3D_CODEMOD_HASH = "{digest}"'.encode(), 1)
    return data


# ---------------------------------------------------------------- transform

_WORKER_RULES: Dict[tuple, List[Rule]] = {}


def _rules_for(codes: Tuple[str, ...], target: str) -> List[Rule]:
    key = (codes, target)
    if key not in _WORKER_RULES:
        _WORKER_RULES[key] = [r for r in select_rules(codes, (), target) if r.code in codes]
    return _WORKER_RULES[key]


_CONFLICT = re.compile(r"(<{7}|>{7})(?: |$)|={7}$")
_CONFLICT_BYTES = re.compile(rb"(?m)^<{7}(?: |$)")


def _syntax_error(text: str, exc: Exception) -> str:
    """One line: Python's own parser locates syntax errors precisely (LibCST's line is often off by one)."""
    import ast

    try:
        ast.parse(text)
    except SyntaxError as err:
        lines = text.splitlines()
        marker = next((i for i, line in enumerate(lines, 1) if _CONFLICT.match(line)), None)
        if marker is not None:
            return f"unresolved merge conflict marker at line {marker} (resolve the merge, then run again)"
        return f"syntax error at line {err.lineno}: {err.msg}"
    except ValueError as err:
        return f"syntax error: {err}"
    detail = str(getattr(exc, "message", exc)).splitlines()[0] if str(exc) else ""
    return f"LibCST cannot parse this file (Python can: newer syntax?): {detail}"


_REJECTED = (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError)


def _python_rejects(text: str, path: Path, need_tree: bool):
    """(ast tree or None, error or None): every file is checked by this Python, not only by LibCST
    (which also accepts syntax this Python rejects, e.g. ``type X = int`` before 3.12, PEP 701
    f-strings before 3.12, parentheses nested deeper than the parser allows). ``compile`` (faster
    than ``ast.parse``, and it also runs the compiler's own checks) where no tree is needed."""
    import sys
    import warnings

    try:
        if need_tree:
            return parse_quietly(text), None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the input's own SyntaxWarnings are not ours to report
            compile(text, str(path), "exec", dont_inherit=True)
        return None, None
    except _REJECTED as err:
        where = f" at line {err.lineno}" if getattr(err, "lineno", None) else ""
        msg = " ".join(str(getattr(err, "msg", None) or err or type(err).__name__).split())
        return None, (f"syntax error{where}: {msg} (Python {sys.version_info[0]}.{sys.version_info[1]} rejects this "
                      "file; left unchanged)")


def _over_libcst_limits(raw: bytes) -> Optional[str]:
    """Why a file some rule must rewrite is too large for LibCST's memory use, or None."""
    mb = 1024 * 1024
    if len(raw) > LIBCST_MAX_BYTES:
        return (f"a rule must rewrite this file, but it is {len(raw) / mb:.1f} MB, over the {LIBCST_MAX_BYTES // mb} MB "
                "limit for LibCST (which takes ~450 MB of memory per MB); left unchanged")
    if len(raw) > LIBCST_MAX_LINE:
        longest = max(map(len, raw.splitlines()), default=0)
        if longest > LIBCST_MAX_LINE:
            line = next(i for i, ln in enumerate(raw.splitlines(), 1) if len(ln) == longest)
            return (f"a rule must rewrite this file, but line {line} is {longest // 1024} KB long, over the "
                    f"{LIBCST_MAX_LINE // 1024} KB limit for LibCST (~3 KB of memory per byte of a line); left unchanged")
    return None


def transform_file(job: tuple) -> FileOutcome:
    """Worker entry point (picklable): transform one pre-filtered file; in check mode also prove
    the output idempotent and scan it for newer-than-target torch APIs."""
    root, path, raw, codes, target, compat_import, verify, scan_api, checkable = job
    outcome = FileOutcome(path=path, root=root, old=raw)
    try:
        source = decode(path, raw)
    except InputError as exc:
        outcome.error = str(exc)
        return outcome
    text = source.text
    used: set = set()  # (ordinal, code) of sites a suppression comment suppressed
    if codes:
        too_big = _over_libcst_limits(raw)
        if too_big:
            outcome.error = too_big
            return outcome
    tree, rejected = _python_rejects(text, path, bool(codes) or scan_api)
    if rejected:
        outcome.error = rejected
        return outcome
    if codes:
        rules = _rules_for(codes, target)
        from ..codemods.engine import CannotParse, LossyInput, RuleBug, cst, transform_source

        try:
            try:
                result = transform_source(text, rules, str(path), compat_import, target, tree=tree)
            except cst.ParserSyntaxError as exc:
                outcome.error = _syntax_error(text, exc)
                return outcome
            except CannotParse as exc:
                outcome.error = str(exc)
                return outcome
            if verify and result.code is not None:
                again = transform_source(result.code, rules, str(path), compat_import, target, tree=result.tree,
                                         reuse=result.reuse)
                if again.code is not None:
                    raise RuleBug(f"rules {sorted({s.code for s in again.sites if s.status == 'patched'})} are not idempotent here")
                used |= again.suppressed
            used |= result.suppressed
        except RuleBug as exc:
            outcome.error = f"internal error: {exc}"
            return outcome
        except LossyInput as exc:
            outcome.error = str(exc)
            return outcome
        except Exception as exc:  # a rule crashed on this file: report it, go on with the other files
            detail = str(exc).splitlines()[0] if str(exc) else ""
            outcome.error = f"internal error (please report): {type(exc).__name__}: {detail}"
            return outcome
        outcome.sites = [Site(s.code, outcome.rel, s.line, s.status, s.message) for s in result.sites]
        outcome.needs_compat = result.needs_compat
        if result.code is not None:
            try:
                outcome.new = source.encode(result.code)
            except InputError as exc:  # new code the file's declared encoding cannot hold
                outcome.error = str(exc)
                return outcome
            text = result.code
        tree = result.tree
    hits: set = set()
    if scan_api:
        from ..codemods.api_scan import scan

        outcome.sites += [Site(s.code, outcome.rel, s.line, s.status, s.message)
                          for s in scan(text, outcome.rel, target, tree, hits)]
    if checkable is not None and "sam3d-codemod" in source.text:
        from ..codemods.suppressions import unused_sites

        outcome.sites += unused_sites(source.text, text, used, hits, outcome.rel, checkable, _known_codes())
    return outcome


@lru_cache(maxsize=None)
def _known_codes() -> Tuple[str, ...]:
    from ..codemods.base import CHECK_CODES, all_rules

    return tuple(r.code for r in all_rules()) + ("TC000",) + CHECK_CODES


def _checkable(rules: Sequence[Rule], options: Options, scan_api: bool) -> Optional[Tuple[str, ...]]:
    """The codes a TC101 finding may name (this run could have suppressed them), or None when TC101 is off."""
    if not check_enabled(UNUSED_SUPPRESSION_CODE, options.select, options.ignore):
        return None
    return tuple(r.code for r in rules) + ("TC000", UNUSED_SUPPRESSION_CODE) + (("TC100",) if scan_api else ())


def _load_api_table(target: str) -> None:
    """The TC100 scan's table (~25 ms), loaded once: before the workers fork, they inherit it."""
    from ..codemods.api_scan import scan

    scan("import torch\n", "<warm-up>", target)


def _warm_up() -> None:
    """What every LibCST job needs, loaded once in the first worker, before it forks the others."""
    from ..codemods import engine  # noqa: F401  (imports libcst)


def _worker_died(job: tuple) -> FileOutcome:
    root, path, raw = job[:3]
    return FileOutcome(path=path, root=root, old=raw, error="internal error (please report): the worker process "
                       "transforming this file died")


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
            body = raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw  # a BOM would hide line 1 from `^import` patterns
            if b"\r" in body:  # Python also ends a line at a lone CR; `(?m)^` only sees LF
                body = body.replace(b"\r", b"\n")
            if b"<<<<<<<" in body and _CONFLICT_BYTES.search(body):  # a `git stash pop` or merge that stopped halfway
                line = body.count(b"\n", 0, _CONFLICT_BYTES.search(body).start()) + 1
                report.outcomes.append(FileOutcome(path=path, root=root, old=raw, error=f"unresolved merge conflict marker at line {line} "
                                                   "(resolve the merge, then run again)"))
                continue
            codes = tuple(r.code for r in python_rules if r.matches_bytes(body, path.name))
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
                atomic_write(outcome.path, outcome.new, expected=outcome.old)
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
            atomic_write(outcome.path, outcome.new, expected=outcome.old)
            outcome.written = True
        except InputError as exc:
            outcome.error = str(exc)


def _add_compat_modules(report: RunReport, hosts: Dict[Path, HostFinder], helpers: Dict[Path, Tuple[Path, bytes]],
                        write: bool) -> Dict[Path, FileOutcome]:
    """An outcome per helper module: those files need, and those an earlier run wrote (refreshed)."""
    needed: Dict[Path, Path] = {}
    for outcome in report.outcomes:
        if outcome.needs_compat and not outcome.error:
            host = outcome.host or hosts[outcome.root].host_for(outcome.path)[0]
            if host is not None:
                needed[host] = outcome.root
    for host, (root, _raw) in helpers.items():
        needed.setdefault(host, root)
    compat: Dict[Path, FileOutcome] = {}
    if not needed:
        return compat
    content = render_compat()
    for host, root in sorted(needed.items()):
        target = host / COMPAT_FILE
        outcome = compat[host] = FileOutcome(path=target, root=root)
        try:
            outcome.old = helpers[host][1] if host in helpers else (
                read_bytes(target, max(DEFAULT_MAX_BYTES, 4 * len(content)), follow=False) if os.path.lexists(target) else b"")
        except InputError as exc:
            outcome.error = f"cannot use this path for the runtime helpers: {exc}"
            report.outcomes.append(outcome)
            continue
        if outcome.old != content:
            outcome.new = content
            verb = ("written" if write else "to write") if not outcome.old else ("refreshed" if write else "to refresh")
            outcome.sites.append(Site("TC000", outcome.rel, 0, "patched", f"runtime helpers {verb}"))
        report.outcomes.append(outcome)
    return compat


def _run_config_rules(report: RunReport, rules: Sequence[Rule], paths: Sequence[str]) -> None:
    from ..codemods import tc010_pipeline_yaml as yaml_rule

    if not any(r.code == yaml_rule.RULE.code for r in rules):
        return
    for raw_path in paths:
        root = Path(raw_path)
        if not root.is_dir():
            continue
        configs = yaml_rule.find_configs(root)
        if not configs:
            report.notes.append(Site(yaml_rule.RULE.code, yaml_rule.CONFIG_GLOB, 0, "note",
                                     "no checkpoints/*/pipeline.yaml in the tree (download checkpoints, then re-run)"))
        for config in configs:
            outcome = FileOutcome(path=config, root=root)
            try:
                raw = outcome.old = read_bytes(config, DEFAULT_MAX_BYTES, what="a smaller pipeline.yaml")
                text = raw.decode("utf-8")
            except InputError as exc:
                outcome.error = str(exc)
                report.outcomes.append(outcome)
                continue
            except UnicodeDecodeError:
                outcome.error = "cannot decode as utf-8"
                report.outcomes.append(outcome)
                continue
            new, lines = yaml_rule.transform_text(text)
            outcome.sites = [Site(yaml_rule.RULE.code, outcome.rel, ln, "patched", "compile_model: false") for ln in lines]
            if new != text:
                linked = yaml_rule.linked_part(root, config)
                if linked is not None:
                    outcome.error = (f"reached through the symbolic link {linked} (it may lead out of the tree): not "
                                     "rewritten; set compile_model: false there yourself")
                else:
                    outcome.new = new.encode("utf-8")
            report.outcomes.append(outcome)


# ---------------------------------------------------------------- diff

_GIT_ESCAPES = {7: b"\\a", 8: b"\\b", 9: b"\\t", 10: b"\\n", 11: b"\\v", 12: b"\\f", 13: b"\\r",
                34: b'\\"', 92: b"\\\\"}


def _git_quote(name: bytes) -> bytes:
    """A diff header's file name as git writes it: quoted, C-style, when it holds a control
    character, a quote or a backslash (a newline in a name would otherwise end the header line)."""
    if not any(c < 32 or c == 127 or c in (34, 92) for c in name):
        return name
    return b'"' + b"".join(_GIT_ESCAPES.get(c) or (b"\\%03o" % c if c < 32 or c == 127 else bytes([c]))
                           for c in name) + b'"'


def unified_diff(outcome: FileOutcome) -> bytes:
    """A ``git apply``-able diff of one file, in the file's own bytes (encoding, CRLF kept)."""
    # git splits lines at LF only (a lone CR stays inside its line); bytes.splitlines would split there too.
    import difflib

    old_lines = re.findall(rb"[^\n]*\n|[^\n]+$", outcome.old)
    new_lines = re.findall(rb"[^\n]*\n|[^\n]+$", outcome.new or b"")
    rel = os.fsencode(outcome.rel)  # a non-UTF-8 file name travels as its own bytes
    a_name, b_name = _git_quote(b"a/" + rel), _git_quote(b"b/" + rel)
    old_name = a_name if outcome.old else b"/dev/null"
    lines = list(difflib.diff_bytes(difflib.unified_diff, old_lines, new_lines, old_name, b_name, n=3))
    if not lines:
        return b""
    out = []
    if not outcome.old:
        out.append(b"diff --git " + a_name + b" " + b_name + b"\nnew file mode 100644\n")
    for line in lines:
        if line.startswith((b"---", b"+++")):
            out.append(line.rstrip(b"\n") + b"\n")
        elif line.startswith(b"@@"):
            out.append(line)
        elif line.endswith(b"\n"):
            out.append(line)
        else:
            out.append(line + b"\n\\ No newline at end of file\n")
    return b"".join(out)

"""`sam3d-codemod status PATH`: the tree's state at a glance.

The upstream commit; whether apply patched it (its record) and which tool version wrote the helper
module (current or older than this tool's template); the files edited since apply; what a
`check` finds now (pending rewrites, unhandled sites, drift against a lock); and the running
processes that loaded the tree's code before the last apply (cli/processes.py). Exit 1 when
something wants action (pending rewrites, unhandled sites, drift, an older helper, a stale
process), else 0; 2 on errors.
"""
from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

from .escape import shown
from .exits import EXIT_CLEAN, EXIT_ERROR, EXIT_PENDING
from .processes import StaleProcess

_VERSION = re.compile(rb'(?m)^SAM3D_CODEMOD_VERSION = "([^"\n]{1,64})"')


@dataclass
class TreeStatus:
    root: Path
    commit: Optional[str] = None  # "abc1234 2026-11-30 subject", None outside git
    recorded: int = 0  # files in apply's record
    record_error: Optional[str] = None
    helpers: List[tuple] = field(default_factory=list)  # (rel, version, current)
    edited: List[str] = field(default_factory=list)  # recorded files changed since apply wrote them
    pending: int = 0  # files a check would change
    pending_sites: int = 0
    unhandled: int = 0
    errors: int = 0
    drift: Optional[List[dict]] = None  # None: no lock given
    stale: List[StaleProcess] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.errors or self.record_error:
            return EXIT_ERROR
        old_helper = any(not current for _, _, current in self.helpers)
        if (self.pending and self.drift is None) or self.unhandled or self.drift or old_helper or self.stale:
            return EXIT_PENDING
        return EXIT_CLEAN


def _commit(root: Path) -> Optional[str]:
    try:
        proc = subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%h %cs %s"], capture_output=True,
                              text=True, errors="replace", timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def gather(root: Path, options, lock: Optional[dict] = None) -> TreeStatus:
    from . import applied
    from .compat_module import COMPAT_FILE, render_compat
    from .processes import stale_processes
    from .runner import run

    status = TreeStatus(root=root, commit=_commit(root))
    written_at = None
    try:
        record = applied.load(root)
    except applied.ManifestError as exc:
        record, status.record_error = {}, str(exc)
    status.recorded = len(record)
    for rel, entry in sorted(record.items()):
        path = root / rel
        try:
            current = path.read_bytes()
        except OSError:
            current = None
        if current == entry["patched"]:
            written_at = max(written_at or 0.0, path.stat().st_mtime)
        elif current != entry["original"]:
            status.edited.append(rel)
    report = run([str(root)], options, verify=True, lock=lock, command="check")
    template = render_compat()
    for o in report.outcomes:
        if o.path.name == COMPAT_FILE and o.old:
            found = _VERSION.search(o.old)
            status.helpers.append((o.rel, found.group(1).decode("ascii", "replace") if found else "?", o.old == template))
    status.pending = sum(1 for o in report.changed if not (o.path.name == COMPAT_FILE and o.old))
    status.pending_sites = sum(1 for o in report.changed for s in o.sites if s.status == "patched" and s.code != "TC000")
    status.unhandled = len(report.unhandled)
    status.errors = len(report.errors)
    status.drift = report.drift
    if written_at is not None:  # processes that loaded the code before apply last wrote it
        try:
            status.stale = stale_processes([str(root)], before=written_at)
        except ImportError:
            pass
    return status


def render(status: TreeStatus, lock_file: Optional[str]) -> str:
    def row(label: str, text: str) -> str:
        return f"{label + ':':<11}{text}"

    lines = [row("tree", shown(status.root)), row("upstream", shown(status.commit or "not a git checkout"))]
    if status.record_error:
        lines.append(row("patched", f"unknown: {shown(status.record_error)}"))
    elif status.recorded:
        lines.append(row("patched", f"yes: apply changed {status.recorded} file(s)"))
    else:
        lines.append(row("patched", "no apply record"))
    for rel, version, current in status.helpers:
        state = "current" if current else "older than this tool's: run `sam3d-codemod apply`"
        lines.append(row("helper", f"{shown(rel)} from sam3d-codemod {shown(version)} ({state})"))
    if status.edited:
        lines.append(row("edited", f"{len(status.edited)} file(s) since apply: {shown(', '.join(status.edited))}"))
    elif status.recorded:
        lines.append(row("edited", "none since apply"))
    if status.pending and status.drift is None:
        lines.append(row("pending", f"{status.pending} file(s) would change ({status.pending_sites} sites); "
                                    "run `sam3d-codemod apply`"))
    elif status.pending:
        lines.append(row("pending", f"{status.pending} file(s) would change, as the lock expects"))
    else:
        lines.append(row("pending", "nothing to change"))
    if status.unhandled:
        lines.append(row("unhandled", f"{status.unhandled} site(s): newer torch API (see `sam3d-codemod check`)"))
    if status.errors:
        lines.append(row("errors", f"{status.errors} file(s) could not be checked (see `sam3d-codemod check`)"))
    if status.drift is None:
        lines.append(row("lock", "none given (--lock FILE)"))
    elif status.drift:
        lines.append(row("lock", f"{len(status.drift)} count(s) drifted from {shown(lock_file)} "
                                 "(see `sam3d-codemod check --lock`)"))
    else:
        lines.append(row("lock", f"matches {shown(lock_file)}"))
    if status.stale:
        lines.append(row("processes", f"{len(status.stale)} still run the code from before apply; restart:"))
        lines += [f"  {p.describe()}" for p in status.stale]
    else:
        lines.append(row("processes", "none running older code"))
    return "\n".join(lines) + "\n"


def to_json(status: TreeStatus, lock_file: Optional[str]) -> str:
    import json

    return json.dumps({
        "tree": str(status.root), "commit": status.commit, "recorded_files": status.recorded,
        "record_error": status.record_error,
        "helpers": [{"path": rel, "version": v, "current": c} for rel, v, c in status.helpers],
        "edited": status.edited, "pending_files": status.pending, "pending_sites": status.pending_sites,
        "unhandled": status.unhandled, "errors": status.errors, "lock": lock_file, "drift": status.drift,
        "processes": [{"pid": p.pid, "cmdline": p.cmdline, "started": p.started} for p in status.stale],
        "exit_code": status.exit_code,
    }, indent=2, sort_keys=True)


def default_lock() -> Optional[str]:
    return "sam3d-codemod.lock" if os.path.isfile("sam3d-codemod.lock") else None


def _check_settings(path: str, passed: List[str]):
    """The settings ``check PATH`` would resolve with the same options: the same config discovery,
    trust rules and precedence, so that status and check agree on what is pending."""
    import click

    from .options import Run, common_options

    @click.command(name="status")
    @common_options
    def settings(ctx, **_):
        return Run(ctx, "status").options()

    return settings.main([path, *passed], standalone_mode=False)


def command():
    """The click command (registered by cli/main.py)."""
    import click

    from .config import CUDA_VERSION, TORCH_VERSION

    @click.command(name="status")
    @click.argument("path", type=click.Path(exists=True, file_okay=False))
    @click.option("--lock", "lock_file", type=click.Path(dir_okay=False), default=None,
                  help="Lock to compare with. [default: ./sam3d-codemod.lock when there is one]")
    @click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None, help="As for check.")
    @click.option("--isolated", is_flag=True, help="As for check.")
    @click.option("--select", multiple=True, help="As for check.")
    @click.option("--ignore", multiple=True, help="As for check.")
    @click.option("--target-torch", type=TORCH_VERSION, default=None, help="As for check. [default: the config's, or 2.0]")
    @click.option("--target-cuda", type=CUDA_VERSION, default=None, help="As for check.")
    @click.option("--output-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
    def status(path, lock_file, config_file, isolated, select, ignore, target_torch, target_cuda, output_format):
        """The tree's state at a glance: upstream commit, patched or not (helper version current?),
        files edited since apply, pending rewrites, drift against the lock, processes running older code.
        Pending work is what `check` with the same options and configuration would report.

        Exit 1 when something wants action, 0 when nothing does, 2 on errors."""
        import sys

        from .lockfile import read_lock
        from .settings import UsageError

        passed = (["--config", config_file] if config_file else []) + (["--isolated"] if isolated else [])
        passed += [a for code in select for a in ("--select", code)] + [a for code in ignore for a in ("--ignore", code)]
        passed += (["--target-torch", target_torch] if target_torch else []) + (["--target-cuda", target_cuda] if target_cuda else [])
        options = _check_settings(path, passed)
        lock_file = lock_file or default_lock()
        try:
            lock = read_lock(lock_file) if lock_file else None
            state = gather(Path(path), options, lock)
        except (ValueError, UsageError) as exc:
            click.echo(f"sam3d-codemod: error: {shown(exc)}", err=True)
            sys.exit(EXIT_ERROR)
        click.echo(to_json(state, lock_file) if output_format == "json" else render(state, lock_file), nl=False)
        sys.exit(state.exit_code)

    return status

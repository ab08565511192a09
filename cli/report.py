"""Render a RunReport as text (rich on a terminal), JSON (stable, documented in the README) or GitHub annotations.

The text report reads as Ruff's and Black's: the findings, then one summary line ("All clean: 109
files", "19 files would change (61 sites); run `sam3d-codemod apply`"). The per-rule table comes
with ``-v``. Every string from the tree passes through cli/escape.py."""
from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from typing import IO, Dict, List, Optional

from .escape import shown, workflow_data, workflow_property
from .outcome import RunReport

JSON_SCHEMA_VERSION = 1


def summary_rows(report: RunReport) -> List[dict]:
    found: Counter = Counter()
    patched: Counter = Counter()
    unhandled: Counter = Counter()
    files: Dict[str, set] = defaultdict(set)
    for site in report.sites:
        found[site.code] += 1
        if site.status == "patched":
            patched[site.code] += 1
        elif site.status == "unhandled":
            unhandled[site.code] += 1
        files[site.code].add(site.path)
    rows = []
    for rule in report.rules:
        rows.append({
            "code": rule.code, "name": rule.name, "found": found[rule.code], "patched": patched[rule.code],
            "unhandled": unhandled[rule.code], "files": len(files[rule.code]),
        })
    from ..codemods.rules import every_rule

    for rule in every_rule():  # check-only and helper codes too, so JSON, SARIF and `rules` list the same
        if not rule.applies:
            code = rule.code
            rows.append({"code": code, "name": rule.name, "found": found[code], "patched": patched[code],
                         "unhandled": unhandled[code], "files": len(files[code])})
    return sorted(rows, key=lambda row: row["code"])


def to_json(report: RunReport, command: str, extra: Optional[dict] = None) -> str:
    data = {
        "version": JSON_SCHEMA_VERSION,
        "command": command,
        "exit_code": report.exit_code,
        "files_seen": report.files_seen,
        "files_parsed": report.files_parsed,
        "files_changed": sorted(o.rel for o in report.changed),
        "rules": summary_rows(report),
        "sites": [s.to_json() for s in sorted(report.sites, key=lambda s: (s.path, s.line, s.code))],
        "notes": [s.to_json() for s in report.notes],
        "errors": [{"path": o.rel, "message": o.error} for o in report.errors],
    }
    if report.drift is not None:
        data["drift"] = report.drift
    if extra:
        data.update(extra)
    return json.dumps(data, indent=2, sort_keys=True)


def github_annotations(report: RunReport, pending_level: str = "warning") -> str:
    """One workflow command per line. File names and messages are data: control characters shown
    escaped, then escaped as GitHub's toolkit does (``%``; in properties also ``:`` and ``,``), so a
    name holding ``\n::warning::`` cannot start a command of its own. ``file=`` is relative to the
    repository (GITHUB_WORKSPACE, the git top, or the cwd), not to PATH."""
    from .paths import annotation_base, annotation_path

    base = annotation_base()
    out = []
    for o in report.errors:
        out.append(f"::error file={workflow_property(annotation_path(o.root, o.rel, base))},title=sam3d-codemod::"
                   f"{workflow_data(o.error)}")
    for o in report.outcomes:
        path = workflow_property(annotation_path(o.root, o.rel, base)) if o.sites else None
        for s in o.sites:
            if s.status == "unhandled":
                out.append(f"::error file={path},line={max(s.line, 1)},title={workflow_property(s.code)}::"
                           f"{workflow_data(s.message)}")
            elif s.status == "patched":
                out.append(f"::{pending_level} file={path},line={max(s.line, 1)},title={workflow_property(s.code)}::"
                           f"{workflow_data(s.message)} (run `sam3d-codemod apply`)")
    for s in report.notes:
        out.append(f"::notice title={workflow_property(s.code)}::{workflow_data(s.message)}")
    for d in report.drift or ():
        root = report.outcomes[0].root if report.outcomes else base
        out.append(f"::error file={workflow_property(annotation_path(root, d['path'], base))},"
                   f"title={workflow_property(d['code'])} drift::{d['locked']} in the lock, {d['found']} now; "
                   "run `sam3d-codemod lock` to accept (after reviewing the upstream change)")
    return "\n".join(out)


def print_text(report: RunReport, command: str, stream: Optional[IO] = None, show_sites: bool = True,
               elapsed: Optional[float] = None, color: Optional[bool] = None, show_fixes: bool = False,
               table: bool = False) -> None:
    """``color``: None = on a terminal; rich renders only when colouring. ``table``: the per-rule table (-v)."""
    stream = stream or sys.stdout
    if color is None:
        isatty = getattr(stream, "isatty", None)
        color = bool(isatty and isatty())
    if not color:
        stream.write(plain_text(report, command, show_sites, elapsed, show_fixes, table))  # no rich import
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(file=stream, highlight=False, soft_wrap=True, force_terminal=True, no_color=False)
    for o in report.errors:  # file names and messages are data: never rich markup
        console.print(f"[red]error[/red]: {escape(shown(o.rel))}: {escape(shown(o.error))}")
    if show_sites:
        for s in _shown_sites(report, command, show_fixes):
            if s.status == "unhandled":
                console.print(f"[yellow]{escape(shown(s.path))}:{s.line}[/yellow]: [bold]{s.code}[/bold] unhandled: "
                              f"{escape(shown(s.message))}")
            elif s.status == "note":
                console.print(f"{escape(shown(s.path))}:{s.line}: [bold]{s.code}[/bold] [cyan]note:[/cyan] "
                              f"{escape(shown(s.message))}")
            else:
                console.print(f"{escape(shown(s.path))}:{s.line}: [bold]{s.code}[/bold] {escape(shown(s.message))}")
    for s in report.notes:
        console.print(f"[cyan]note[/cyan]: {s.code}: {escape(shown(s.message))}")
    for line in _drift_lines(report):
        console.print(f"[yellow]drift[/yellow]: {escape(line)}")
    if table:
        columns = _columns(command)
        rich_table = Table(title=f"sam3d-codemod {command}", show_lines=False)
        for col in columns:
            rich_table.add_column(col, justify="right" if col in NUMERIC else "left")
        for row in _table_rows(report):
            rich_table.add_row(*row)
        console.print(rich_table)
    summary = summary_line(report, command, elapsed if table else None)
    console.print(f"[bold]{escape(summary)}[/bold]" if report.exit_code else f"[green]{escape(summary)}[/green]")


NUMERIC = ("sites", "patched", "pending", "unhandled", "files")


def _columns(command: str) -> tuple:
    """In apply the rewritten sites are patched; in check and diff they are pending (would be patched)."""
    return ("rule", "name", "sites", "patched" if command == "apply" else "pending", "unhandled", "files")


def _shown_sites(report: RunReport, command: str, show_fixes: bool = False):
    for s in sorted(report.sites, key=lambda s: (s.path, s.line, s.code)):
        if s.status in ("unhandled", "note") or ((command == "check" or show_fixes) and s.status == "patched"):
            yield s


def _table_rows(report: RunReport) -> List[tuple]:
    return [(r["code"], r["name"], str(r["found"]), str(r["patched"]), str(r["unhandled"]), str(r["files"]))
            for r in summary_rows(report)]


def _drift_lines(report: RunReport) -> List[str]:
    return [f"{d['code']} {shown(d['path'])}: {d['locked']} in the lock, {d['found']} now; "
            "run `sam3d-codemod lock` to accept" for d in report.drift or ()]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def summary_line(report: RunReport, command: str, elapsed=None) -> str:
    """One line: what the command found or did. ``elapsed`` (with -v): a float, or a str standing
    for the whole tail (a replay record's placeholder, filled in when it is shown)."""
    tail = elapsed if isinstance(elapsed, str) else f" in {elapsed:.2f}s" if elapsed is not None else ""
    changed = report.changed
    pending_sites = sum(1 for o in changed for s in o.sites if s.status == "patched")
    parts = []
    if changed:
        if command == "apply":
            parts.append(f"{_plural(len(changed), 'file')} changed ({_plural(pending_sites, 'site')})")
        elif report.drift is not None:
            parts.append(f"{_plural(len(changed), 'file')} would change ({_plural(pending_sites, 'site')}), "
                         "as the lock expects")
        else:
            parts.append(f"{_plural(len(changed), 'file')} would change ({_plural(pending_sites, 'site')})")
    if report.unhandled:
        parts.append(f"{_plural(len(report.unhandled), 'unhandled site')} (newer torch API)")
    if report.drift:
        parts.append(f"{len(report.drift)} drifted from the lock")
    if report.errors:
        parts.append(_plural(len(report.errors), "error"))
    if not parts:
        locked = ", as the lock expects" if report.drift is not None else ""
        return f"All clean: {_plural(report.files_seen, 'file')}{locked}{tail}"
    line = ", ".join(parts)
    if len(parts) == 1 and report.drift is not None and not report.drift and changed:
        line = f"Matches the lock: {line}"
    if tail:
        line += f" ({_plural(report.files_seen, 'file')}{tail})"
    if command == "check" and changed and report.drift is None:
        line += "; run `sam3d-codemod apply`"
    elif command == "check" and report.drift:
        line += "; review, then run `sam3d-codemod lock`"
    return line


def plain_text(report: RunReport, command: str, show_sites: bool = True, elapsed: Optional[float] = None,
               show_fixes: bool = False, table: bool = False) -> str:
    """The text report as rich prints it to a pipe or file (same lines and table), without rich."""
    lines = [f"error: {shown(o.rel)}: {shown(o.error)}" for o in report.errors]
    if show_sites:
        for s in _shown_sites(report, command, show_fixes):
            middle = {"unhandled": " unhandled:", "note": " note:"}.get(s.status, "")
            lines.append(f"{shown(s.path)}:{s.line}: {s.code}{middle} {shown(s.message)}")
    lines += [f"note: {s.code}: {shown(s.message)}" for s in report.notes]
    lines += [f"drift: {line}" for line in _drift_lines(report)]
    if table:
        lines += _plain_table(report, command)
    lines.append(summary_line(report, command, elapsed if table else None))
    return "\n".join(lines) + "\n"


def _plain_table(report: RunReport, command: str) -> List[str]:
    columns = _columns(command)
    rows = _table_rows(report)
    widths = [max([len(col)] + [len(row[i]) for row in rows]) for i, col in enumerate(columns)]

    def cells(values, left: str, mid: str, right: str) -> str:
        padded = (v.rjust(w) if c in NUMERIC else v.ljust(w) for v, w, c in zip(values, widths, columns))
        return left + mid.join(f" {v} " for v in padded) + right

    def rule(left: str, fill: str, mid: str, right: str) -> str:
        return left + mid.join(fill * (w + 2) for w in widths) + right

    return [f"sam3d-codemod {command}",
            rule("┏", "━", "┳", "┓"), cells(columns, "┃", "┃", "┃"), rule("┡", "━", "╇", "┩"),
            *[cells(row, "│", "│", "│") for row in rows], rule("└", "─", "┴", "┘")]

"""Render a RunReport as text (rich), JSON (stable, documented in the README) or GitHub annotations."""
from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from typing import IO, Dict, List

from .runner import RunReport

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


def to_json(report: RunReport, command: str, exit_code: int, extra: dict = None) -> str:
    data = {
        "version": JSON_SCHEMA_VERSION,
        "command": command,
        "exit_code": exit_code,
        "files_seen": report.files_seen,
        "files_parsed": report.files_parsed,
        "files_changed": sorted(o.rel for o in report.changed),
        "rules": summary_rows(report),
        "sites": [s.to_json() for s in sorted(report.sites, key=lambda s: (s.path, s.line, s.code))],
        "notes": [s.to_json() for s in report.notes],
        "errors": [{"path": o.rel, "message": o.error} for o in report.errors],
    }
    if extra:
        data.update(extra)
    return json.dumps(data, indent=2, sort_keys=True)


def github_annotations(report: RunReport, pending_level: str = "warning") -> str:
    """One workflow command per line. File names and messages are data: escaped as GitHub's
    toolkit does (``%``, CR, LF; in properties also ``:`` and ``,``), so a name holding
    ``\n::warning::`` cannot start a command of its own. ``file=`` is relative to the repository
    (GITHUB_WORKSPACE, the git top, or the cwd), not to PATH."""
    from .paths import annotation_base, annotation_path

    base = annotation_base()
    out = []
    for o in report.errors:
        out.append(f"::error file={_prop(annotation_path(o.root, o.rel, base))},title=sam3d-codemod::{_escape(o.error)}")
    for o in report.outcomes:
        path = _prop(annotation_path(o.root, o.rel, base)) if o.sites else None
        for s in o.sites:
            if s.status == "unhandled":
                out.append(f"::error file={path},line={max(s.line, 1)},title={_prop(s.code)}::{_escape(s.message)}")
            elif s.status == "patched":
                out.append(f"::{pending_level} file={path},line={max(s.line, 1)},title={_prop(s.code)}::"
                           f"{_escape(s.message)} (run `sam3d-codemod apply`)")
    for s in report.notes:
        out.append(f"::notice title={_prop(s.code)}::{_escape(s.message)}")
    return "\n".join(out)


def _escape(text: str) -> str:
    """A workflow command's message (actions/toolkit ``escapeData``)."""
    return str(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(text: str) -> str:
    """A workflow command's property value (actions/toolkit ``escapeProperty``)."""
    return _escape(text).replace(":", "%3A").replace(",", "%2C")


def shown(text: str) -> str:
    """A file name or message in the text report: control characters (a newline in a file name)
    shown escaped, so every report line is one line and no name can forge another line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def print_text(report: RunReport, command: str, stream: IO = None, show_sites: bool = True, elapsed: float = None,
               color: bool = None, show_fixes: bool = False) -> None:
    """``color``: None = on a terminal; rich renders only when colouring."""
    stream = stream or sys.stdout
    if color is None:
        isatty = getattr(stream, "isatty", None)
        color = bool(isatty and isatty())
    if not color:
        stream.write(plain_text(report, command, show_sites, elapsed, show_fixes))  # no rich import: most of a warm run
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
                console.print(f"[yellow]{escape(shown(s.path))}:{s.line}[/yellow]: [bold]{s.code}[/bold] unhandled: {escape(shown(s.message))}")
            else:
                console.print(f"{escape(shown(s.path))}:{s.line}: [bold]{s.code}[/bold] {escape(shown(s.message))}")
    for s in report.notes:
        console.print(f"[cyan]note[/cyan]: {s.code}: {escape(s.message)}")
    table = Table(title=f"sam3d-codemod {command}", show_lines=False)
    for col in COLUMNS:
        table.add_column(col, justify="right" if col in NUMERIC else "left")
    for row in _table_rows(report):
        table.add_row(*row)
    console.print(table)
    console.print(_summary_line(report, command, elapsed))


COLUMNS = ("rule", "name", "sites", "patched", "unhandled", "files")
NUMERIC = ("sites", "patched", "unhandled", "files")


def _shown_sites(report: RunReport, command: str, show_fixes: bool = False):
    for s in sorted(report.sites, key=lambda s: (s.path, s.line, s.code)):
        if s.status == "unhandled" or ((command == "check" or show_fixes) and s.status == "patched"):
            yield s


def _table_rows(report: RunReport) -> List[tuple]:
    return [(r["code"], r["name"], str(r["found"]), str(r["patched"]), str(r["unhandled"]), str(r["files"]))
            for r in summary_rows(report)]


def _summary_line(report: RunReport, command: str, elapsed: float = None) -> str:
    verb = {"apply": "changed", "diff": "would change", "check": "would change"}.get(command, "changed")
    # A str stands for the whole tail (a replay record's placeholder, filled in when it is shown).
    tail = elapsed if isinstance(elapsed, str) else f" in {elapsed:.2f}s" if elapsed is not None else ""
    drift = getattr(report, "drift", None)  # set by `check --lock`
    drifted = f"{len(drift)} drift, " if drift is not None else ""
    return (f"{report.files_seen} files scanned, {report.files_parsed} parsed, {len(report.changed)} {verb}, "
            f"{len(report.unhandled)} unhandled, {drifted}{len(report.errors)} errors{tail}")


def plain_text(report: RunReport, command: str, show_sites: bool = True, elapsed: float = None,
               show_fixes: bool = False) -> str:
    """The text report as rich prints it to a pipe or file (same lines and table), without rich."""
    lines = [f"error: {shown(o.rel)}: {shown(o.error)}" for o in report.errors]
    if show_sites:
        for s in _shown_sites(report, command, show_fixes):
            middle = " unhandled:" if s.status == "unhandled" else ""
            lines.append(f"{shown(s.path)}:{s.line}: {s.code}{middle} {shown(s.message)}")
    lines += [f"note: {s.code}: {s.message}" for s in report.notes]
    rows = _table_rows(report)
    widths = [max([len(col)] + [len(row[i]) for row in rows]) for i, col in enumerate(COLUMNS)]

    def cells(values, left: str, mid: str, right: str) -> str:
        padded = (v.rjust(w) if c in NUMERIC else v.ljust(w) for v, w, c in zip(values, widths, COLUMNS))
        return left + mid.join(f" {v} " for v in padded) + right

    def rule(left: str, fill: str, mid: str, right: str) -> str:
        return left + mid.join(fill * (w + 2) for w in widths) + right

    lines.append(f"sam3d-codemod {command}")
    lines.append(rule("┏", "━", "┳", "┓"))
    lines.append(cells(COLUMNS, "┃", "┃", "┃"))
    lines.append(rule("┡", "━", "╇", "┩"))
    lines += [cells(row, "│", "│", "│") for row in rows]
    lines.append(rule("└", "─", "┴", "┘"))
    lines.append(_summary_line(report, command, elapsed))
    return "\n".join(lines) + "\n"

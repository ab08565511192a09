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
    extra_names = {"TC000": "runtime-helpers", "TC100": "newer-torch-api"}
    for code, name in extra_names.items():
        if found[code]:
            rows.append({"code": code, "name": name, "found": found[code], "patched": patched[code],
                         "unhandled": unhandled[code], "files": len(files[code])})
    return rows


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
    out = []
    for o in report.errors:
        out.append(f"::error file={o.rel},title=sam3d-codemod::{_escape(o.error)}")
    for s in report.sites:
        if s.status == "unhandled":
            out.append(f"::error file={s.path},line={max(s.line, 1)},title={s.code}::{_escape(s.message)}")
        elif s.status == "patched":
            out.append(f"::{pending_level} file={s.path},line={max(s.line, 1)},title={s.code}::{_escape(s.message)} (run `sam3d-codemod apply`)")
    for s in report.notes:
        out.append(f"::notice title={s.code}::{_escape(s.message)}")
    return "\n".join(out)


def _escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def print_text(report: RunReport, command: str, stream: IO = None, show_sites: bool = True, elapsed: float = None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(file=stream or sys.stdout, highlight=False, soft_wrap=True)
    for o in report.errors:  # file names and messages are data: never rich markup
        console.print(f"[red]error[/red]: {escape(o.rel)}: {escape(o.error)}")
    if show_sites:
        for s in sorted(report.sites, key=lambda s: (s.path, s.line, s.code)):
            if s.status == "unhandled":
                console.print(f"[yellow]{escape(s.path)}:{s.line}[/yellow]: [bold]{s.code}[/bold] unhandled: {escape(s.message)}")
            elif command == "check" and s.status == "patched":
                console.print(f"{escape(s.path)}:{s.line}: [bold]{s.code}[/bold] {escape(s.message)}")
    for s in report.notes:
        console.print(f"[cyan]note[/cyan]: {s.code}: {escape(s.message)}")
    rows = summary_rows(report)
    table = Table(title=f"sam3d-codemod {command}", show_lines=False)
    for col in ("rule", "name", "sites", "patched", "unhandled", "files"):
        table.add_column(col, justify="right" if col in ("sites", "patched", "unhandled", "files") else "left")
    for r in rows:
        table.add_row(r["code"], r["name"], str(r["found"]), str(r["patched"]), str(r["unhandled"]), str(r["files"]))
    console.print(table)
    verb = {"apply": "changed", "diff": "would change", "check": "would change"}.get(command, "changed")
    tail = f" in {elapsed:.2f}s" if elapsed is not None else ""
    console.print(
        f"{report.files_seen} files scanned, {report.files_parsed} parsed, {len(report.changed)} {verb}, "
        f"{len(report.unhandled)} unhandled, {len(report.errors)} errors{tail}"
    )

"""Extra renderings of a RunReport: ``--statistics`` (counts per rule, as ``ruff --statistics``)
and ``--output-format sarif`` (SARIF 2.1.0, for code-scanning uploads)."""
from __future__ import annotations

import json
from typing import List, Optional

from .. import __version__
from .exits import EXIT_ERROR
from .outcome import RunReport
from .paths import annotation_base, annotation_path
from .report import summary_rows

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def statistics_rows(report: RunReport) -> List[dict]:
    """Rules with at least one site, most sites first (then by code)."""
    rows = [r for r in summary_rows(report) if r["found"]]
    return sorted(rows, key=lambda r: (-r["found"], r["code"]))


def statistics_text(report: RunReport) -> str:
    rows = statistics_rows(report)
    done = "patched" if report.command == "apply" else "pending"  # check and diff patch nothing
    lines = []
    width = max([len(str(r["found"])) for r in rows] + [1])
    for r in rows:
        detail = f"{done} {r['patched']}, unhandled {r['unhandled']}, {r['files']} file(s)"
        lines.append(f"{str(r['found']).rjust(width)}\t{r['code']}\t{r['name']}\t({detail})")
    if report.errors:
        lines.append(f"{str(len(report.errors)).rjust(width)}\terror\t(files that could not be processed)")
    return "".join(line + "\n" for line in lines)


def statistics_json(report: RunReport) -> str:
    data = [{"code": r["code"], "name": r["name"], "count": r["found"], "patched": r["patched"],
             "unhandled": r["unhandled"], "files": r["files"]} for r in statistics_rows(report)]
    return json.dumps(data, indent=2)


def _rule_entries(report: RunReport) -> List[dict]:
    from ..codemods.rules import every_rule

    out = []
    ran = {rule.code for rule in report.rules}
    for rule in every_rule():
        if rule.applies and rule.code not in ran:
            continue
        entry = {"id": rule.code, "name": rule.name, "shortDescription": {"text": rule.summary}}
        if rule.fixes:
            entry["fullDescription"] = {"text": f"Fixes on torch 2.0: {rule.fixes}"}
        if rule.applies:
            entry["properties"] = {"fixed_in": rule.fixed_in or "never"}
        out.append(entry)
    return out


def to_sarif(report: RunReport, command: str, base: Optional[str] = None) -> str:
    """Results: unhandled sites and errors are ``error``, pending rewrites ``warning``, notes ``note``.
    Paths are relative to the repository (``annotation_base``), like the GitHub annotations."""
    base = base or annotation_base()
    results = []
    for o in report.outcomes:
        uri = annotation_path(o.root, o.rel, base)
        if o.error:
            results.append({"ruleId": "error", "level": "error", "message": {"text": o.error},
                            "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri}}}]})
        for s in sorted(o.sites, key=lambda s: (s.line, s.code)):
            if s.status not in ("unhandled", "patched"):
                continue
            level = "error" if s.status == "unhandled" else "warning"
            text = s.message if s.status == "unhandled" else f"{s.message} (run `sam3d-codemod apply`)"
            results.append({"ruleId": s.code, "level": level, "message": {"text": text},
                            "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri},
                                                                "region": {"startLine": max(s.line, 1)}}}]})
    for s in report.notes:
        results.append({"ruleId": s.code, "level": "note", "message": {"text": s.message}})
    data = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "sam3d-codemod", "version": __version__,
                                "rules": _rule_entries(report)}},
            "invocations": [{"executionSuccessful": report.exit_code != EXIT_ERROR, "exitCode": report.exit_code,
                             "commandLine": f"sam3d-codemod {command}"}],
            "results": results,
        }],
    }
    return json.dumps(data, indent=2)

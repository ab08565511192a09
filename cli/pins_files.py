"""The pins rules (codemods/pins) in a run: each tree's requirement files, pyproject.toml and
environments/*.yml become outcomes like the Python files' (so apply writes and records them, diff
shows them, check fails on pending rewrites and TP100, revert restores them byte for byte)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..codemods.base import Site, check_enabled
from ..codemods.pins.files import pin_files, rewriter_for
from ..codemods.pins.registry import ALL_PIN_RULES
from ..codemods.pins.table import TableError, load_target
from .fileio import DEFAULT_MAX_BYTES, InputError, read_bytes
from .outcome import FileOutcome, RunReport


def run_pins(report: RunReport, paths: Sequence[str], select: Sequence[str], ignore: Sequence[str],
             target_torch: str, cuda=None) -> None:
    chosen = [r for r in ALL_PIN_RULES if check_enabled(r.code, select, ignore)]
    roots = [Path(p) for p in paths if Path(p).is_dir()]
    found = [(root, f) for root in roots for f in pin_files(root)]
    if not chosen or not found:
        return  # (a tree without pin files reports exactly as before the pins rules existed)
    try:
        target = load_target(target_torch, cuda)
    except TableError as exc:
        report.notes.append(Site(chosen[0].code, found[0][1].name, 0, "note", f"{exc}: pin files not checked"))
        return
    report.rules = list(report.rules) + chosen
    enabled = {r.code for r in chosen}
    for root, path in found:
        outcome = FileOutcome(path=path, root=root)
        report.outcomes.append(outcome)
        try:
            raw = outcome.old = read_bytes(path, DEFAULT_MAX_BYTES, what="a smaller pin file")
            text = raw.decode("utf-8")
        except InputError as exc:
            outcome.error = str(exc)
            continue
        except UnicodeDecodeError:
            outcome.error = "cannot decode as utf-8"
            continue
        edit = rewriter_for(path)(text, target, enabled)
        outcome.sites = [Site(f.code, outcome.rel, line, f.status, f.message) for line, f in edit.findings]
        if edit.text is not None:
            outcome.new = edit.text.encode("utf-8")

"""The pins rules (codemods/pins) in a run: each tree's requirement files, pyproject.toml and
environments/*.yml become outcomes like the Python files' (so apply writes and records them, diff
shows them, check fails on pending rewrites and TP100, revert restores them byte for byte)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..codemods.base import Site, check_enabled
from ..codemods.engine.bounded_read import DEFAULT_MAX_BYTES, InputError, read_bytes
from ..codemods.pins.locate import pin_files
from ..codemods.pins.registry import ALL_PIN_RULES
from . import inputs
from .outcome import FileOutcome, RunReport


def run_pins(report: RunReport, paths: Sequence[str], select: Sequence[str], ignore: Sequence[str],
             target_torch: str, cuda=None) -> None:
    chosen = [r for r in ALL_PIN_RULES if check_enabled(r.code, select, ignore)]
    roots = [Path(p) for p in paths if Path(p).is_dir()]
    found = [(root, f) for root in roots for f in pin_files(root)]
    if not chosen or not found:
        return  # (a tree without pin files reports exactly as before the pins rules existed)
    from ..codemods.pins.table import TableError, load_target  # the rewriters need packaging: only here

    try:
        target = load_target(target_torch, cuda)
    except TableError as exc:
        named = [f for _, f in found if f.name != "pyproject.toml"]
        if named:  # (a pyproject.toml alone is most often the tool's own config holder: no note there)
            report.notes.append(Site(chosen[0].code, named[0].name, 0, "note", f"{exc}: pin files not checked"))
        return
    enabled = {r.code for r in chosen}
    outcomes = [_outcome(root, path, target, enabled) for root, path in found]
    report.outcomes += [o for o in outcomes if o.sites or o.error or o.new is not None]
    # The TP rows join the report where the tree pins packages in a requirements or environment file
    # (a pyproject.toml alone, such as a config holder, leaves the report as it was).
    if any(o.path.name != "pyproject.toml" for o in outcomes) or any(o.sites or o.error for o in outcomes):
        report.rules = list(report.rules) + chosen


def _outcome(root: Path, path: Path, target, enabled) -> FileOutcome:
    outcome = FileOutcome(path=path, root=root)
    inputs.note(path)
    try:
        raw = outcome.old = read_bytes(path, DEFAULT_MAX_BYTES, what="a smaller pin file")
        text = raw.decode("utf-8")
    except InputError as exc:
        outcome.error = str(exc)
        return outcome
    except UnicodeDecodeError:
        outcome.error = "cannot decode as utf-8"
        return outcome
    from ..codemods.pins.files import rewriter_for

    rewrite = rewriter_for(path)
    if path.name == "requirements.txt" and path.parent == root:
        edit = rewrite(text, target, enabled, main_file=True)  # the file `pip install -r` starts from
    else:
        edit = rewrite(text, target, enabled)
    outcome.sites = [Site(f.code, outcome.rel, line, f.status, f.message) for line, f in edit.findings]
    if edit.text is not None:
        outcome.new = edit.text.encode("utf-8")
    return outcome

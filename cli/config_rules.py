"""Rules over a tree's config files rather than its Python (TC010: checkpoints/*/pipeline.yaml)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from ..codemods.base import Rule, Site
from ..codemods.engine.bounded_read import DEFAULT_MAX_BYTES, InputError, read_bytes
from . import inputs
from .outcome import FileOutcome, RunReport


def _run_config_rules(report: RunReport, rules: Sequence[Rule], paths: Sequence[str]) -> None:
    from ..codemods.rules import tc010_pipeline_yaml as yaml_rule

    if not any(r.code == yaml_rule.RULE.code for r in rules):
        return
    for raw_path in paths:
        root = Path(raw_path)
        if not root.is_dir():
            continue
        configs = yaml_rule.find_configs(root)
        _note_checkpoints(Path(root))
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
            _same, lines = yaml_rule.transform_text(text)  # read only: compile_model is decided at run time
            outcome.sites = [Site(yaml_rule.RULE.code, outcome.rel, ln, yaml_rule.SITE_STATUS, yaml_rule.SITE_MESSAGE) for ln in lines]
            report.outcomes.append(outcome)


def _note_checkpoints(root: Path) -> None:
    """TC010 reads ``checkpoints/*/pipeline.yaml``, a folder the walk may skip: note the folders
    whose listing decides which files exist (for replay, cli/inputs.py)."""
    folder = root / "checkpoints"
    inputs.note(folder)
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            inputs.note(entry.path)

"""TC010: ``compile_model: false`` in ``checkpoints/*/pipeline.yaml``.

The released pipeline configs turn on ``torch.compile``, which torch 2.0 cannot do on Python 3.11
and which costs minutes of warm-up elsewhere. Only the value changes: comments, key order and
formatting stay. A tree without downloaded checkpoints gets a note, not an error. A config
reached through a symbolic link (``checkpoints`` or a model directory linked to shared storage)
is never rewritten: the runner reports it, since the link may lead out of the tree.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import List, Optional, Tuple

from .base import Rule

CONFIG_GLOB = "checkpoints/*/pipeline.yaml"
_COMPILE_TRUE = re.compile(r"(?m)^(?P<key>[ \t]*compile_model[ \t]*:[ \t]*)(?P<value>true|True|TRUE|yes|on)(?P<rest>[ \t]*(#[^\r\n]*)?)$")


def find_configs(root: Path) -> List[Path]:
    return sorted(p for p in root.glob(CONFIG_GLOB) if p.is_file())


def linked_part(root: Path, config: Path) -> Optional[str]:
    """The first part of ``config``'s path below ``root`` that is a symbolic link, or None."""
    part = root
    for name in config.relative_to(root).parts:
        part = part / name
        if os.path.islink(part):
            return part.relative_to(root).as_posix()
    return None


def transform_text(text: str) -> Tuple[str, List[int]]:
    """Returns the new text and the 1-based lines changed."""
    lines = [text.count("\n", 0, m.start()) + 1 for m in _COMPILE_TRUE.finditer(text)]
    return _COMPILE_TRUE.sub(lambda m: m.group("key") + "false" + m.group("rest"), text), lines


RULE = Rule(
    code="TC010",
    name="pipeline-yaml",
    summary="Set compile_model: false in checkpoints/*/pipeline.yaml",
    fixes="RuntimeError: Python 3.11+ not yet supported for torch.compile",
    fixed_in="2.1",
    triggers=("compile_model",),
    kind="config",
)
__getattr__ = RULE.module_getattr  # `Command`: this rule as a LibCST codemod (codemods/libcst_command.py)

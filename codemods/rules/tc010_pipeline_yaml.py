"""TC010: ``compile_model: true`` in ``checkpoints/*/pipeline.yaml`` is decided at run time.

The released pipeline configs turn on ``torch.compile``, which torch 2.0 cannot do on Python 3.11.
Earlier versions of this rule rewrote the value to ``false`` in the file, so every torch, the new
ones too, lost compilation. Now the file is left as it is: the code that reads ``compile_model``
calls ``torch.compile``, which TC011 routes through ``_torch_compat.compile`` (native where this
torch can compile, eager with one warning where it cannot). Each ``compile_model: true`` gets a
note saying so; a file already patched to ``false`` by an older version stays ``false`` (set it
back to ``true`` by hand to compile on new torch). A tree without downloaded checkpoints gets a
note, not an error.
The configs are only read, so one reached through a symbolic link (shared storage) is safe.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import List, Tuple

from ..base import Rule
from ..engine.libcst_command import command_getattr

CONFIG_GLOB = "checkpoints/*/pipeline.yaml"
_COMPILE_TRUE = re.compile(
    r"(?m)^(?P<key>[ \t]*compile_model[ \t]*:[ \t]*)(?P<value>true|True|TRUE|yes|on)(?P<rest>[ \t]*(#[^\r\n]*)?)\r?$")


def find_configs(root: Path) -> List[Path]:
    return sorted(p for p in root.glob(CONFIG_GLOB) if p.is_file())


SITE_STATUS = "note"
SITE_MESSAGE = ("compile_model: true kept; torch.compile goes through _torch_compat.compile (TC011), "
                "eager only where this torch cannot compile")


def transform_text(text: str) -> Tuple[str, List[int]]:
    """Returns the text (unchanged: the decision is made at run time) and the 1-based lines of
    ``compile_model: true``, each reported as a ``SITE_STATUS`` site."""
    lines = [text.count("\n", 0, m.start()) + 1 for m in _COMPILE_TRUE.finditer(text)]
    return text, lines


RULE = Rule(
    code="TC010",
    name="pipeline-yaml",
    summary="Keep compile_model in checkpoints/*/pipeline.yaml; note that _torch_compat.compile decides at run time",
    fixes="RuntimeError: Python 3.11+ not yet supported for torch.compile",
    fixed_in="2.1",
    triggers=("compile_model",),
    kind="config",
    shapes=(
        '`compile_model: true` in checkpoints/*/pipeline.yaml: a note (TC011 decides at run time)',
        'a tree without downloaded checkpoints: a note',
    ),
)
__getattr__ = command_getattr(RULE, __name__)  # `Command`: this rule as a LibCST codemod

"""TC006: make Lightning an optional import.

Inference needs Lightning only to load sharded checkpoints, yet ``model/io.py`` imports it at the
top; a missing or broken install (a torchvision mismatch raises RuntimeError, not ImportError)
stops the whole package from importing. The import is wrapped; on failure the names become
``_torch_compat.missing`` placeholders: fine in ``Union[pl.LightningModule, ...]`` annotations,
never matched by ``isinstance``, and a clear RuntimeError naming the package when called.
"""
from __future__ import annotations

from ._shared import OptionalImport
from .base import Rule


class Transformer(OptionalImport):
    PACKAGES = ("lightning", "pytorch_lightning")
    PIP_NAME = "lightning"


RULE = Rule(
    code="TC006",
    name="optional-lightning",
    summary="Guard Lightning imports; use placeholders that raise a clear error when Lightning is needed",
    fixes="RuntimeError: operator torchvision::nms does not exist",
    fixed_in=None,
    triggers=("lightning",),
    pattern=r"(?m)^\s*(import|from)\s+(pytorch_)?lightning\b",
    transformer=Transformer,
    needs_compat=True,
)
Transformer.rule = RULE
__getattr__ = RULE.module_getattr  # `Command`: this rule as a LibCST codemod (codemods/libcst_command.py)

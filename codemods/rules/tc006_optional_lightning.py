"""TC006: make Lightning an optional import.

Inference needs Lightning only to load sharded checkpoints, yet ``model/io.py`` imports it at the
top; a missing or broken install (a torchvision mismatch raises RuntimeError, not ImportError)
stops the whole package from importing. The import is wrapped; on failure the names become
``_torch_compat.missing`` placeholders: fine in ``Union[pl.LightningModule, ...]`` annotations,
never matched by ``isinstance``, and a clear RuntimeError naming the package when called (a
placeholder used as a decorator raises when the decorated function is called, not at definition).
The pip name follows the import: ``pytorch_lightning`` -> ``pytorch-lightning``. Lightning's
``rank_zero_only``/``rank_zero_info``/``rank_zero_warn`` fall back to ``_torch_compat`` helpers that
behave like Lightning's own (the rank from the same environment variables), so decorated logging
code keeps running without Lightning.
"""
from __future__ import annotations

from ..base import Rule
from ..engine.libcst_command import command_getattr
from ._shared import OptionalImport


class Transformer(OptionalImport):
    PACKAGES = ("lightning", "pytorch_lightning")
    PIP_NAME = "lightning"
    PIP_NAMES = {"pytorch_lightning": "pytorch-lightning"}
    NESTED = True  # forks import Lightning where a checkpoint or a trainer needs it
    WIDEN = True  # and guard it by hand against ImportError only, which its RuntimeError passes
    FALLBACKS = {
        f"{module}.{name}": name
        for module in (
            "pytorch_lightning.utilities",
            "pytorch_lightning.utilities.rank_zero",
            "lightning.pytorch.utilities",
            "lightning.pytorch.utilities.rank_zero",
            "lightning.fabric.utilities",
            "lightning.fabric.utilities.rank_zero",
        )
        for name in ("rank_zero_only", "rank_zero_info", "rank_zero_warn")
    }


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
    helpers=("missing",) + tuple(sorted(set(Transformer.FALLBACKS.values()))),
    shapes=(
        'import lightning / pytorch_lightning (as pl) at module level',
        'from lightning.pytorch... import X',
        "the same imports inside a def, an if or a with",
        "try: <lightning import> except ImportError / ModuleNotFoundError / (ImportError, ...): widened",
        'rank_zero_only / rank_zero_info / rank_zero_warn -> faithful _torch_compat fallbacks',
    ),
)
Transformer.rule = RULE
__getattr__ = command_getattr(RULE, __name__)  # `Command`: this rule as a LibCST codemod

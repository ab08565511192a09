"""TC001: import torch submodules that ``import torch`` does not load.

``torch.utils.checkpoint.checkpoint(...)`` after a bare ``import torch`` fails on torch 2.0 (and
still up to 2.3): the attribute appears only once something imports the submodule. The fix adds
the explicit ``import torch.utils.checkpoint``, which is harmless on every release.
"""
from __future__ import annotations

from ..base import Rule
from ..engine.libcst_command import command_getattr
from ._shared import SubmoduleUse

# Submodules that `import torch` leaves unloaded on 2.0 (checked with scripts/torch-envs 2.0.0).
# torch._dynamo is TC002's.
LAZY_SUBMODULES = (
    "torch.utils.checkpoint",
    "torch.utils.benchmark",
    "torch.utils.cpp_extension",
    "torch.utils.tensorboard",
    "torch.utils.flop_counter",
    "torch.distributed.checkpoint",
    "torch.distributed.fsdp",
)


class Transformer(SubmoduleUse):
    SUBMODULES = LAZY_SUBMODULES


RULE = Rule(
    code="TC001",
    name="submodule-import",
    summary="Add `import torch.<submodule>` where a lazily loaded submodule is reached by attribute",
    fixes="AttributeError: module 'torch.utils' has no attribute 'checkpoint'",
    fixed_in=None,
    triggers=("checkpoint", "benchmark", "cpp_extension", "tensorboard", "flop_counter", "fsdp"),
    pattern=r"\.utils\.(checkpoint|benchmark|cpp_extension|tensorboard|flop_counter)\b|\.distributed\.(checkpoint|fsdp)\b",
    transformer=Transformer,
    shapes=(
        'torch.utils.checkpoint.checkpoint(...) (and the other lazy submodules) after a bare `import torch`',
        'the same through an alias of torch (`import torch as th`)',
        'left alone: the submodule already imported (`import torch.utils.checkpoint`, from-import)',
    ),
)
Transformer.rule = RULE
__getattr__ = command_getattr(RULE, __name__)  # `Command`: this rule as a LibCST codemod

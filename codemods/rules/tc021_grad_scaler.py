"""TC021: ``torch.GradScaler`` / ``torch.amp.GradScaler`` via ``_torch_compat.GradScaler``.

The device-generic scaler is new in torch 2.3; before it only ``torch.cuda.amp.GradScaler`` exists.
``_torch_compat.GradScaler`` is the native class where present, else a subclass of the CUDA scaler
with the native signature (``device`` first, default ``"cuda"``) and state_dict. A non-CUDA
``device`` with ``enabled=True`` raises RuntimeError there (torch < 2.3 cannot scale on it).
"""
from __future__ import annotations

from ..base import Rule
from ..engine.libcst_command import command_getattr
from ._compat_names import RedirectNames


class Transformer(RedirectNames):
    NAMES = {"torch.GradScaler": "GradScaler", "torch.amp.GradScaler": "GradScaler"}


RULE = Rule(
    code="TC021",
    name="grad-scaler",
    summary="Route torch.GradScaler / torch.amp.GradScaler through _torch_compat.GradScaler",
    fixes="AttributeError: module 'torch' has no attribute 'GradScaler'",
    fixed_in="2.3",
    triggers=("GradScaler",),
    transformer=Transformer,
    needs_compat=True,
    routes=tuple(Transformer.NAMES.items()),
    helpers=tuple(sorted(set(Transformer.NAMES.values()))),
    shapes=(
        'torch.GradScaler(...) / torch.amp.GradScaler(...) as attributes, through any alias',
        'from torch.amp import GradScaler / from torch import GradScaler',
        'left alone: torch.cuda.amp.GradScaler',
    ),
)
Transformer.rule = RULE
__getattr__ = command_getattr(RULE, __name__)  # `Command`: this rule as a LibCST codemod

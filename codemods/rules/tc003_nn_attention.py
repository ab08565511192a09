"""TC003: ``torch.nn.attention`` (``sdpa_kernel``, ``SDPBackend``) on torches that lack it.

The module arrives in torch 2.3; on 2.0 even an unused ``from torch.nn.attention import ...``
fails. Uses are pointed at ``_torch_compat``, which re-exports the native API where it exists and
otherwise keeps the backend restriction through ``torch.backends.cuda.sdp_kernel(enable_flash=...)``.
"""
from __future__ import annotations

from ..base import Rule
from ..engine.libcst_command import command_getattr
from ._shared import Redirect


class Transformer(Redirect):
    MODULE = "torch.nn.attention"
    NAMES = ("sdpa_kernel", "SDPBackend")


RULE = Rule(
    code="TC003",
    name="nn-attention",
    summary="Route torch.nn.attention.sdpa_kernel/SDPBackend through _torch_compat",
    fixes="ModuleNotFoundError: No module named 'torch.nn.attention'",
    fixed_in="2.3",
    triggers=("attention",),
    pattern=r"nn\.attention|from\s+torch\.nn\s+import\s+(?:\([^)]*|[^\n]*)\battention\b",
    transformer=Transformer,
    needs_compat=True,
    routes=(("torch.nn.attention.sdpa_kernel", "sdpa_kernel"), ("torch.nn.attention.SDPBackend", "SDPBackend")),
    helpers=("sdpa_kernel", "SDPBackend"),
    shapes=(
        'from torch.nn.attention import sdpa_kernel, SDPBackend (parenthesised, unused too)',
        'import torch.nn.attention as A; A.sdpa_kernel(...)',
        'torch.nn.attention.sdpa_kernel(...) / .SDPBackend.X as attributes',
        'reported: other names of torch.nn.attention (no helper)',
    ),
)
Transformer.rule = RULE
__getattr__ = command_getattr(RULE, __name__)  # `Command`: this rule as a LibCST codemod

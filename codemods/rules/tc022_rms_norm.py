"""TC022: ``torch.nn.RMSNorm`` / ``torch.nn.functional.rms_norm`` via ``_torch_compat``.

Both are new in torch 2.4. ``_torch_compat.RMSNorm`` is the native class where present, else a
module with the same constructor, ``weight`` parameter (state_dict keys), ``eps=None`` meaning the
machine epsilon of the computation dtype, repr and forward (ATen's composite: float32 math for
16-bit inputs, cast back, times ``weight``); ``_torch_compat.rms_norm`` likewise.
"""
from __future__ import annotations

from ..base import Rule
from ..engine.libcst_command import command_getattr
from ._compat_names import RedirectNames


class Transformer(RedirectNames):
    NAMES = {"torch.nn.RMSNorm": "RMSNorm", "torch.nn.functional.rms_norm": "rms_norm"}


RULE = Rule(
    code="TC022",
    name="rms-norm",
    summary="Route torch.nn.RMSNorm / F.rms_norm through _torch_compat (a faithful module before 2.4)",
    fixes="AttributeError: module 'torch.nn' has no attribute 'RMSNorm'",
    fixed_in="2.4",
    triggers=("RMSNorm", "rms_norm"),
    # whole names only: a tree's own ``MultiHeadRMSNorm`` or ``qk_rms_norm`` is not torch's
    pattern=r"(?<![\w])(?:RMSNorm|rms_norm)\b",
    transformer=Transformer,
    needs_compat=True,
    routes=tuple(Transformer.NAMES.items()),
    helpers=tuple(sorted(set(Transformer.NAMES.values()))),
    shapes=(
        'torch.nn.RMSNorm(...) / torch.nn.functional.rms_norm(...) as attributes, any alias (nn, F)',
        'from torch.nn import RMSNorm / from torch.nn.functional import rms_norm',
    ),
)
Transformer.rule = RULE
__getattr__ = command_getattr(RULE, __name__)  # `Command`: this rule as a LibCST codemod

"""Redirects newer-than-target torch names (``torch.nn.RMSNorm``, ``torch.GradScaler``) to the
same-named ``_torch_compat`` helpers, wherever they are spelled: attribute chains through any
import alias, and ``from torch.nn import RMSNorm``. One building block for TC021 and TC022."""
from __future__ import annotations

from typing import Dict

from ..base import RuleTransformer, cst, dotted_name
from ._shared import compat_from_import


class RedirectNames(RuleTransformer):
    """``NAMES``: qualified torch name -> ``_torch_compat`` helper of the same meaning."""

    NAMES: Dict[str, str] = {}

    def leave_Attribute(self, original, updated):
        qualified = self.ctx.index.resolve(original)
        helper = self.NAMES.get(qualified) if qualified else None
        if helper is None:
            return updated
        if not self.report(original, "patched", f"`{qualified}` -> _torch_compat.{helper}"):
            return updated
        return self.ctx.compat_attr(helper).with_changes(lpar=updated.lpar, rpar=updated.rpar)

    def leave_ImportFrom(self, original, updated):
        if updated.relative or updated.module is None or isinstance(updated.names, cst.ImportStar):
            return updated
        module = self.ctx.index.resolve(updated.module) or dotted_name(updated.module)
        if module is None:
            return updated
        names = [a.name.value for a in updated.names if isinstance(a.name, cst.Name)]
        ours = [n for n in names if self.NAMES.get(f"{module}.{n}") == n]
        if not ours:
            return updated
        if len(ours) != len(names):
            others = ", ".join(n for n in names if n not in ours)
            self.report(original, "unhandled",
                        f"`from {module} import {ours[0]}` shares its statement with {others}: import {ours[0]} on its own line")
            return updated
        if self.ctx.compat_import is None:
            self.report(original, "unhandled", f"`from {module} import {ours[0]}` needs a package to host _torch_compat")
            return updated
        if not self.report(original, "patched", f"`from {module} import {', '.join(ours)}` -> _torch_compat"):
            return updated  # a suppression comment: the import stays as it is
        return compat_from_import(self.ctx, updated)

"""The rules, one module each, found by name: every ``tcNNN_*.py`` in this folder declares its ``RULE``.

A copied module under a new code is registered by being here: ``rules``, the JSON and SARIF
outputs and the summary all list what this registry lists. TC000 (the helper module), TC100 (newer
torch API) and TC101 (unused suppression) are modules here too, of kind "helper" and "check": the
engine does not run them, but they are declared the same way. The requirement-pin rules (TP001...,
``codemods/pins/registry.py``) are listed here too.
"""
from __future__ import annotations

import importlib
import os
import re
from functools import lru_cache
from typing import Dict, Iterable, List, Optional, Tuple

from ..base import Rule, parse_version, routes_of
from ..pins.registry import ALL_PIN_RULES

_MODULE_NAME = re.compile(r"^(tc\d{3})_\w+\.py$")


@lru_cache(maxsize=None)
def module_names() -> Tuple[str, ...]:
    """``tc001_submodule_import``, ...: every rule module in this folder, in code order."""
    here = os.path.dirname(os.path.abspath(__file__))
    return tuple(sorted(name[:-3] for name in os.listdir(here) if _MODULE_NAME.match(name)))


@lru_cache(maxsize=None)
def every_rule() -> Tuple[Rule, ...]:
    """Every declared code, rules and check-only findings alike, in code order."""
    found: Dict[str, Rule] = {}
    for name in module_names():
        rule = importlib.import_module(f"{__name__}.{name}").RULE
        if rule.code.lower() != name[:5]:
            raise RuntimeError(f"{name}.py declares {rule.code}: a rule module is named after its code")
        if rule.code in found:
            raise RuntimeError(f"two rule modules declare {rule.code}")
        found[rule.code] = rule
    for rule in ALL_PIN_RULES:  # the requirement-pin rules (kind "pins"), declared in one list
        found[rule.code] = rule
    return tuple(sorted(found.values(), key=lambda r: r.code))


def all_rules() -> List[Rule]:
    """The rules the engine applies (kinds "python" and "config")."""
    return [r for r in every_rule() if r.applies]


def by_code(code: str) -> Optional[Rule]:
    return next((r for r in every_rule() if r.code == code.strip().upper()), None)


def module_of(rule: Rule) -> str:
    """The dotted module that declares ``rule``."""
    name = next(n for n in module_names() if n.startswith(rule.code.lower() + "_"))
    return f"{__name__}.{name}"


def routes() -> Dict[str, Tuple[str, Optional[str]]]:
    """Torch API -> (the rule that routes it, its helper or None), over every rule: a version gate
    is decided by what the tool as a whole routes, whichever rules this run selected (a gated API
    no selected rule routes yet is reported as still used directly)."""
    return routes_of(all_rules())


def select_rules(select: Iterable[str] = (), ignore: Iterable[str] = (), target: str = "2.0") -> List[Rule]:
    """Rules enabled for ``target``, filtered by code prefixes (``TC00`` selects TC001..TC009)."""
    select = [s.strip().upper() for s in select if s.strip()]
    ignore = [s.strip().upper() for s in ignore if s.strip()]
    target_v = parse_version(target)
    known = {r.code for r in every_rule()}
    for code in select + ignore:
        if code != "ALL" and not any(k.startswith(code) for k in known):
            raise ValueError(f"unknown rule code: {code} (see `sam3d-codemod rules`)")
    chosen = []
    for rule in all_rules():
        if select and "ALL" not in select and not any(rule.code.startswith(s) for s in select):
            continue
        if any(rule.code.startswith(s) for s in ignore):
            continue
        if not rule.enabled_for(target_v):
            continue
        chosen.append(rule)
    return chosen

#!/usr/bin/env python3
"""Which of the given torch API symbols the *running* torch really exposes (run under its python).

``scripts/gen_api_table.py`` reads the wheels statically: stubs (``.pyi``) and source. Some names
exist only at run time: torch 2.0 creates ``torch.return_types.min`` and the like when it is
imported, from ``torch._C._return_types``, and ships no stub for them (2.1 added one), so the
static scan dates them to 2.1. This probe imports torch and answers, for each symbol on stdin (a
JSON list, the table's spellings), whether it resolves:

* ``torch.a.b``: attribute by attribute from ``torch``, importing a submodule where the attribute
  is missing (``import torch.nn.attention`` fails on 2.0: absent);
* ``f(kw=)``, ``f(*args=)``, ``f(**kw=)``: ``f`` resolves and ``inspect.signature(f)`` has that
  parameter (a builtin without a signature answers nothing).

A parent that answers every attribute (a module ``__getattr__`` or a namespace such as
``torch.ops``) proves nothing, so its children count as unknown. Prints a JSON list of the symbols
present. Only the standard library and torch; never imported by the tool.
"""
import importlib
import inspect
import json
import sys
import warnings

_MISSING = object()
_PROBE = "__sam3d_no_such_attribute__"


def _answers_everything(obj) -> bool:
    try:
        getattr(obj, _PROBE)
    except Exception:
        return False
    return True


def resolve(dotted: str, cache: dict):
    """The object ``dotted`` names at run time, or ``_MISSING``."""
    if dotted in cache:
        return cache[dotted]
    parent_name, _, leaf = dotted.rpartition(".")
    if not parent_name:
        try:
            found = importlib.import_module(dotted)
        except Exception:
            found = _MISSING
        cache[dotted] = found
        return found
    parent = resolve(parent_name, cache)
    found = _MISSING
    if parent is not _MISSING and not _answers_everything(parent):
        try:
            found = getattr(parent, leaf)
        except Exception:
            found = _MISSING
        if found is _MISSING and inspect.ismodule(parent):
            try:
                found = importlib.import_module(dotted)
            except Exception:
                found = _MISSING
    cache[dotted] = found
    return found


def has_kwarg(func, kw: str) -> bool:
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return False
    for p in params:
        if kw.startswith("**"):
            if p.kind is p.VAR_KEYWORD and p.name == kw[2:]:
                return True
        elif kw.startswith("*"):
            if p.kind is p.VAR_POSITIONAL and p.name == kw[1:]:
                return True
        elif p.name == kw and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            return True
    return False


def present(symbol: str, cache: dict) -> bool:
    if "(" in symbol:
        func_name, _, rest = symbol.partition("(")
        kw = rest.rstrip(")").rstrip("=")
        func = resolve(func_name, cache)
        return func is not _MISSING and has_kwarg(func, kw)
    return resolve(symbol, cache) is not _MISSING


def main() -> int:
    symbols = json.load(sys.stdin)
    warnings.simplefilter("ignore")  # deprecated modules warn on import: not our output
    import torch  # the release being probed

    cache: dict = {}
    found = [s for s in symbols if present(s, cache)]
    json.dump({"torch": torch.__version__, "present": found}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Widening a hand-written ``except ImportError`` around an optional package's import.

Packages with native parts fail to import with more than ImportError (kaolin: ``RuntimeError:
Error loading warp.so``; a missing shared library: OSError). A ``try`` whose body only imports
(and binds plain values, ``HAS_KAOLIN = True``) gets RuntimeError and OSError added to the handler
that catches ImportError, so the user's own fallback runs. A body that does more is reported:
widening it would also swallow errors of the code the user wrote there.
"""
from __future__ import annotations

from typing import List, Optional

from ..base import cst

IMPORT_ERRORS = frozenset({"ImportError", "ModuleNotFoundError"})
WIDER = ("RuntimeError", "OSError")
# handler types that already catch RuntimeError and OSError (or everything)
CATCH_ALL = frozenset({"Exception", "BaseException"})


def _types(handler) -> Optional[List[str]]:
    """The builtin exception names a handler names; ``None`` for a bare ``except:``; a name it
    cannot read (``except errors.Missing``) as ``"?"``."""
    t = handler.type
    if t is None:
        return None
    items = [e.value for e in t.elements] if isinstance(t, cst.Tuple) else [t]
    return [i.value if isinstance(i, cst.Name) else "?" for i in items]


def _plain(stmt, importer) -> bool:
    """Whether ``stmt`` only imports or binds a plain value: nothing else a wider handler could hide."""
    if not isinstance(stmt, cst.SimpleStatementLine):
        return False
    for small in stmt.body:
        if isinstance(small, (cst.Import, cst.ImportFrom, cst.Pass)):
            continue
        if isinstance(small, cst.Assign) and isinstance(small.value, (cst.Name, cst.SimpleString, cst.Integer)):
            continue
        return False
    return True


def widen_try(importer, original, updated):
    body = list(original.body.body)
    if not any(importer.imports_package(s) for s in body):
        return updated
    if not isinstance(original, cst.Try) or not original.handlers:
        return updated
    caught = set()
    target = None
    for i, handler in enumerate(original.handlers):
        types = _types(handler)
        if types is None or CATCH_ALL & set(types):
            return updated  # already catches everything the import can raise
        caught.update(types)
        if target is None and IMPORT_ERRORS & set(types):
            target = i
    missing = [w for w in WIDER if w not in caught]
    if target is None or not missing:
        return updated
    # what the try holds after this run (a gate rule may have dropped a statement of it), so that a
    # second run decides as this one does
    if not all(_plain(s, importer) for s in updated.body.body):
        importer.report(original, "unhandled", f"the {importer.PIP_NAME} import is guarded against ImportError "
                        f"only, and its try holds other code: add {', '.join(missing)} to the handler by hand")
        return updated
    if not importer.report(original, "patched", f"{importer.PIP_NAME} import guard widened with {', '.join(missing)} "
                           f"(a broken install raises them, not ImportError)"):
        return updated
    handler = updated.handlers[target]
    old = handler.type
    elements = list(old.elements) if isinstance(old, cst.Tuple) else [cst.Element(old)]
    elements = [e.with_changes(comma=cst.MaybeSentinel.DEFAULT) for e in elements]
    elements += [cst.Element(cst.Name(w)) for w in missing]
    new_type = cst.Tuple(elements=elements)
    handlers = list(updated.handlers)
    handlers[target] = handler.with_changes(type=new_type)
    return updated.with_changes(handlers=handlers)

"""Import libcst with its generated dataclass methods compiled once per machine, not once per run.

libcst defines ~200 node classes as frozen dataclasses. For each one, ``dataclasses`` writes the
source of ``__init__``, ``__eq__``, ``__repr__``, ``__hash__``, ... and compiles it: about 600
small ``compile()`` calls, more than half of the ~0.25 s that ``import libcst`` costs. Python keeps
the compiled bytecode of modules in ``.pyc`` files, but not of these generated functions.

``load()`` imports libcst with ``dataclasses``' ``exec`` served from a marshal file of the code
objects, keyed by their exact source text, per interpreter and environment. A
source it has not seen (another libcst or Python) is compiled as before; the file is then
rewritten with exactly the entries this import used. The functions are the same: the same source,
compiled the same way, run in the same globals. ``SAM3D_CODEMOD_NO_COMPILE_CACHE=1`` turns it off.
"""
from __future__ import annotations

import os
import sys
from types import ModuleType

from . import user_cache

ENV_OFF = "SAM3D_CODEMOD_NO_COMPILE_CACHE"
stats = {"reused": 0, "compiled": 0}  # of the last load() that imported libcst


def cache_file() -> str:
    # One file per environment: two venvs with different libcst releases do not rewrite each other's.
    import zlib

    env = f"{zlib.crc32(sys.prefix.encode()):08x}"
    return user_cache.path("compiled", f"libcst-dataclasses.{sys.implementation.cache_tag}.{env}.marshal")


def load() -> ModuleType:
    """``import libcst``, through the compile cache the first time in this process."""
    if "libcst" in sys.modules or os.environ.get(ENV_OFF):
        import libcst

        return libcst
    import dataclasses

    path = cache_file()
    known = user_cache.read_marshal(path, _KEY)
    if not isinstance(known, dict):
        known = {}
    used = {}
    stats.update(reused=0, compiled=0)

    def cached_exec(source, globals=None, locals=None):
        if not isinstance(source, str):
            return exec(source, globals, locals)
        code = known.get(source)
        if code is None:
            stats["compiled"] += 1
            # Exactly what exec(source) compiles: no future flags inherited from this module.
            code = compile(source, "<string>", "exec", dont_inherit=True)
        else:
            stats["reused"] += 1
        used[source] = code
        return exec(code, globals, locals)

    had = dataclasses.__dict__.get("exec", _ABSENT)
    namespace = dataclasses.__dict__
    namespace["exec"] = cached_exec  # a module global shadows the builtin for dataclasses' own calls
    try:
        import libcst
    finally:
        if had is _ABSENT:
            del namespace["exec"]
        else:
            namespace["exec"] = had
    if stats["compiled"] or len(used) != len(known):
        user_cache.write_marshal(path, _KEY, used)
    return libcst


_ABSENT = object()
_KEY = "libcst dataclass code v1"


"""Which package hosts ``_torch_compat.py`` for a file, and how the file imports it."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from ..base import COMPAT_MODULE
from .bounded_read import DEFAULT_MAX_BYTES, InputError, read_bytes

SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", ".venv", "venv", ".tox", ".nox", "node_modules", ".mypy_cache",
             ".pytest_cache", ".ruff_cache", ".sam3d-codemod-cache", "build", "dist", ".eggs"}
_ABS_IMPORT = re.compile(rb"(?m)^[ \t]*(?:from|import)[ \t]+([A-Za-z_]\w*)")


class HostFinder:
    """Which package hosts ``_torch_compat.py`` for a file, and how the file imports it.

    The host is the innermost enclosing package whose own modules import it by absolute name
    (``sam3d_objects`` upstream, even inside the PyPI wheel's ``sam3d/third_party/meta``); files
    then import it the same way the tree already does. Without such a package, the outermost
    package of an unbroken ``__init__.py`` chain hosts it and files import it relatively. A script
    in no package that imports such a package of the tree by name uses that package's helper.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.real_root = root.resolve()
        self._self_importing: Dict[Path, bool] = {}
        self._roots: Dict[str, frozenset] = {}

    def _ancestors(self, directory: Path) -> List[Path]:
        out = []
        d = directory
        # Files come from walking the root, so their ancestors reach it textually; resolve()
        # (a realpath per level) only for anything else.
        textual = directory == self.root or self.root in directory.parents
        while True:
            out.append(d)
            if d == self.root or d.parent == d or (not textual and d.resolve() == self.real_root):
                return out
            d = d.parent

    def _imports_itself(self, package: Path) -> bool:
        if package not in self._self_importing:
            name = package.name.encode()
            hit = False
            for dirpath, dirnames, filenames in os.walk(package):
                dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
                for f in filenames:
                    if f.endswith(".py") and name in self._import_roots(os.path.join(dirpath, f)):
                        hit = True
                        break
                if hit:
                    break
            self._self_importing[package] = hit
        return self._self_importing[package]

    def _import_roots(self, file: str) -> frozenset:
        """The top-level names ``file`` imports absolutely; read once however many packages hold it."""
        roots = self._roots.get(file)
        if roots is None:
            try:  # (a FIFO or an oversized file is an error of its own elsewhere, never a hang here)
                roots = frozenset(_ABS_IMPORT.findall(read_bytes(Path(file), 4 * DEFAULT_MAX_BYTES)))
            except InputError:
                roots = frozenset()
            self._roots[file] = roots
        return roots

    def host_for(self, file: Path) -> Tuple[Optional[Path], bool]:
        """(host package dir, import it by absolute name?)"""
        ancestors = self._ancestors(file.parent)
        for d in ancestors:
            if (d / "__init__.py").is_file() and self._imports_itself(d):
                return d, True
        chain = []
        for d in ancestors:
            if not (d / "__init__.py").is_file():
                break
            chain.append(d)
        if chain:
            return chain[-1], False
        return self._imported_host(file, ancestors)

    def _imported_host(self, file: Path, ancestors: List[Path]) -> Tuple[Optional[Path], bool]:
        """A script outside any package (``notebook/inference.py``, ``demo.py``) that imports a
        self-importing package of the tree (``import sam3d_objects``) uses that package's helper."""
        names = self._import_roots(str(file))
        for d in ancestors:  # the nearest first: the script's own directory, then up to the root
            for name in sorted(n.decode() for n in names):
                package = d / name
                if (package / "__init__.py").is_file() and self._imports_itself(package):
                    return package, True
        return None, False

    def import_statement(self, file: Path) -> Optional[str]:
        host, absolute = self.host_for(file)
        if host is None:
            return None
        if absolute:
            return f"from {host.name} import {COMPAT_MODULE}"
        depth = len(file.parent.relative_to(host).parts)
        return f"from {'.' * (depth + 1)} import {COMPAT_MODULE}"

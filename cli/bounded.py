"""Reading structured data that may come from an untrusted tree, within fixed bounds.

Trust boundary: every byte of the tree PATH names (its records, configs, caches) is input an
upstream commit controls. Python's ``json`` and ``tomllib`` have no size or nesting limit (deep
nesting ends in RecursionError, a large document in MemoryError), and ``zlib.decompress`` inflates
without one. Each reader here refuses over its bound with ``BoundsError`` (one line, exit 2 at the
command line) before the unbounded work starts.
"""
from __future__ import annotations

import re
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from ..codemods.engine.bounded_read import InputError, read_bytes

MAX_DEPTH = 32                      # no record, lock or config of this tool nests deeper than 6
MAX_TOML_BYTES = 1024 * 1024        # a pyproject.toml; upstream's is ~5 KB
MAX_JSON_BYTES = 64 * 1024 * 1024   # the apply record and the lock

_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_NOT_JSON_BRACKET = re.compile(rb"[^\[\]{}]+")
# TOML strings (basic, literal, and their multi-line forms) and comments, which may hold brackets.
_TOML_SKIP = re.compile(rb'"""(?:[^\\]|\\.)*?"""|\'\'\'.*?\'\'\'|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|#[^\n]*', re.S)
_NOT_TOML_BRACKET = re.compile(rb"[^\[\]{}\n]+")


class BoundsError(ValueError):
    """Input over a size, depth or inflation bound: one line."""


def _depth(brackets: bytes, limit: int, what: str) -> None:
    """BoundsError when the opening brackets in ``brackets`` nest deeper than ``limit``. A stray
    closing bracket (malformed input, which its parser refuses anyway) never counts below zero."""
    depth = 0
    for ch in brackets:
        if ch in b"[{":
            depth += 1
            if depth > limit:
                raise BoundsError(f"{what}: nested deeper than {limit} levels; not read")
        elif ch in b"]}":
            depth = max(depth - 1, 0)


def check_json_depth(data: bytes, what: str, limit: int = MAX_DEPTH) -> None:
    """BoundsError when ``data`` (JSON text) nests arrays/objects deeper than ``limit``."""
    if data.count(b"[") + data.count(b"{") <= limit:
        return
    _depth(_NOT_JSON_BRACKET.sub(b"", _JSON_STRING.sub(b"", data)), limit, what)


def check_toml_depth(data: bytes, what: str, limit: int = MAX_DEPTH) -> None:
    """BoundsError when inline arrays/tables in ``data`` (TOML text) nest deeper than ``limit``.
    A line's ``[table]`` header counts as one level that ends with its line."""
    if data.count(b"[") + data.count(b"{") <= limit:
        return
    _depth(_NOT_TOML_BRACKET.sub(b"", _TOML_SKIP.sub(b"", data)), limit, what)


def load_json(path: Path, what: str, max_bytes: int = MAX_JSON_BYTES) -> object:
    """A JSON file, read as a regular file (never a FIFO or device) within size and depth bounds.
    FileNotFoundError passes through; anything else unreadable is BoundsError."""
    import json

    if not path.exists() and not path.is_symlink():
        raise FileNotFoundError(str(path))
    try:
        data = read_bytes(path, max_bytes, follow=False, what="no option: it is not a file this tool writes that large")
    except InputError as exc:
        raise BoundsError(f"{path}: cannot read {what}: {exc}") from None
    check_json_depth(data, f"{path}: {what}")
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BoundsError(f"{path}: not a valid {what}: {' '.join(str(exc).split())[:200]}") from None


def load_toml(path: Path, max_bytes: int = MAX_TOML_BYTES) -> dict:
    """A TOML file within size and depth bounds; OSError (missing, unreadable) passes through as
    BoundsError with the reason, invalid TOML as BoundsError."""
    if TYPE_CHECKING:  # mypy checks as Python 3.10: the backport, whose API tomllib kept
        import tomli as tomllib
    else:
        try:
            import tomllib
        except ImportError:  # Python < 3.11: the declared `tomli; python_version < "3.11"` backport
            import tomli as tomllib
    try:
        data = read_bytes(path, max_bytes, what="no option: a pyproject.toml is never that large")
    except InputError as exc:
        raise BoundsError(f"{path}: cannot read: {exc}") from None
    check_toml_depth(data, str(path))
    try:
        return tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BoundsError(f"{path}: invalid TOML: {' '.join(str(exc).split())[:200]}") from None
    except RecursionError:
        raise BoundsError(f"{path}: nested too deeply; not read") from None


def inflate(data: bytes, limit: int, what: str) -> bytes:
    """``zlib.decompress`` that stops at ``limit`` bytes of output (a bomb is BoundsError)."""
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error as exc:
        raise BoundsError(f"{what}: damaged ({exc})") from None
    if len(out) > limit or d.unconsumed_tail:
        raise BoundsError(f"{what}: inflates to over {limit} bytes; not read")
    if not d.eof:
        raise BoundsError(f"{what}: damaged (truncated)")
    return out


def one_line(text: Optional[str]) -> str:
    return " ".join(str(text or "").split())

"""Reading and writing source files byte-faithfully: encoding, BOM, line endings, mode; atomic writes."""
from __future__ import annotations

import codecs
import io
import os
import stat
import tempfile
import tokenize
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MAX_BYTES = 4 * 1024 * 1024


class InputError(Exception):
    """A file that cannot be processed; the message is one line and names the cause."""


@dataclass
class SourceFile:
    path: Path
    raw: bytes
    text: str  # decoded; BOM stripped; line endings untouched
    encoding: str
    bom: bool

    def encode(self, text: str) -> bytes:
        data = text.encode(self.encoding)
        return codecs.BOM_UTF8 + data if self.bom else data


def read_bytes(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise InputError(f"file is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.1f} MB limit (--max-file-size)")
        with open(path, "rb") as fh:
            return fh.read()
    except PermissionError:
        raise InputError("not readable (permission denied)") from None
    except IsADirectoryError:
        raise InputError("is a directory") from None
    except FileNotFoundError:
        raise InputError("no such file") from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}") from None


def decode(path: Path, raw: bytes) -> SourceFile:
    if b"\0" in raw:
        raise InputError("contains NUL bytes (binary content in a .py file?)")
    bom = raw.startswith(codecs.BOM_UTF8)
    body = raw[len(codecs.BOM_UTF8):] if bom else raw
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)
    except SyntaxError as exc:
        raise InputError(f"bad encoding declaration: {exc}") from None
    if encoding == "utf-8-sig":
        encoding = "utf-8"
    try:
        text = body.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise InputError(f"cannot decode as {encoding}: {exc.reason if hasattr(exc, 'reason') else exc}") from None
    return SourceFile(path=path, raw=raw, text=text, encoding=encoding, bom=bom)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so it is either the old or the new file, never half of one.

    Temp file in the same directory, fsync, keep the mode, then ``os.replace``. A read-only target
    is reported, never chmod-ed.
    """
    st = os.stat(path) if os.path.exists(path) else None
    if st is not None and not os.access(path, os.W_OK):
        raise InputError("not writable (read-only file); left unchanged")
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".sam3d-tmp", dir=directory)
    except OSError as exc:
        raise InputError(f"cannot write in {directory}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, stat.S_IMODE(st.st_mode) if st is not None else 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise

"""Reading and writing source files byte-faithfully: encoding, BOM, line endings, mode; atomic writes.

Guarantees (tests/reliability shows each one):

* ``read_bytes`` reads only regular files (a FIFO or device named ``*.py`` is an error, never a hang)
  and never more than ``max_bytes`` (+1 to notice an over-size file that grew after ``stat``).
* ``decode`` honours a PEP 263 coding cookie and a UTF-8 BOM and keeps line endings as they are;
  ``SourceFile.encode`` gives back the same encoding and BOM, so untouched bytes stay untouched.
* ``atomic_write`` leaves the target either old or new, never half-written: a temp file in the
  same directory, ``fsync``, the old mode (and owner, when permitted), ``os.replace``. (The
  directory is not fsync-ed per file: after a power cut a rename may be lost, leaving the old
  file, never a torn one.) SIGINT/SIGTERM/SIGHUP are held back for the few system calls of
  one write, so an interrupted run never leaves a ``*.sam3d-tmp`` file behind (SIGKILL can:
  ``find . -name '*.sam3d-tmp' -delete`` removes them; the targets themselves are intact).
  A file without write permission bits is reported and left alone, also for root (which
  ``os.access`` would let through); it is never chmod-ed. A symlink is never written through
  (the tool writes only regular files inside the tree): it is reported and left alone. The
  file's bytes are compared with what was read immediately before the rename (after the temp
  file is written and synced), so an edit made meanwhile is reported, not overwritten. Hard
  links are split (the other names keep the old content).
"""
from __future__ import annotations

import codecs
import contextlib
import errno
import io
import os
import signal
import stat
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Union

from ..codemods.engine.bounded_read import InputError, _one_line

TEMP_SUFFIX = ".sam3d-tmp"
_WRITE_BITS = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
_DEFERRED = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT") if hasattr(signal, name)
)


@dataclass
class SourceFile:
    path: Path
    raw: bytes
    text: str  # decoded; BOM stripped; line endings untouched
    encoding: str
    bom: bool

    def encode(self, text: str) -> bytes:
        try:
            data = text.encode(self.encoding)
        except UnicodeEncodeError as exc:
            bad = exc.object[exc.start:exc.end]
            raise InputError(f"the new code has {bad!r}, which {self.encoding} cannot encode; left unchanged") from None
        return codecs.BOM_UTF8 + data if self.bom else data




def decode(path: Path, raw: bytes) -> SourceFile:
    if b"\0" in raw:
        line = raw.count(b"\n", 0, raw.index(b"\0")) + 1
        raise InputError(f"contains NUL bytes (line {line}; binary content in a .py file?)")
    bom = raw.startswith(codecs.BOM_UTF8)
    body = raw[len(codecs.BOM_UTF8):] if bom else raw
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)
    except SyntaxError as exc:
        raise InputError(f"bad encoding declaration: {_one_line(exc.msg if hasattr(exc, 'msg') else exc)}") from None
    if encoding == "utf-8-sig":
        encoding = "utf-8"
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError as exc:
        line = body.count(b"\n", 0, exc.start) + 1
        raise InputError(
            f"cannot decode as {encoding} (line {line}, byte {body[exc.start:exc.start + 1]!r}: {exc.reason}); "
            "add a coding cookie (PEP 263) or fix the bytes"
        ) from None
    except LookupError as exc:
        raise InputError(f"unknown encoding {encoding!r}: {_one_line(exc)}") from None
    return SourceFile(path=path, raw=raw, text=text, encoding=encoding, bom=bom)


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold back SIGINT/SIGTERM/SIGHUP/SIGQUIT for a few system calls; they are delivered on exit.

    Python runs a signal's handler (KeyboardInterrupt) between bytecodes, so without this an
    interrupt could land between creating a temp file and cleaning it up.
    """
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover (Windows)
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _DEFERRED)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def is_read_only(st: os.stat_result, path: Union[str, Path]) -> bool:
    """No write permission: no write bit at all (root included), or ``os.access`` says no."""
    return not (st.st_mode & _WRITE_BITS) or not os.access(path, os.W_OK)


def atomic_write(path: Union[str, Path], data: bytes, expected: Optional[bytes] = None,
                 root: Optional[Union[str, Path]] = None) -> None:
    """Write ``data`` to ``path`` so it is either the old or the new file, never half of one.

    ``expected``: the bytes the file had when it was read (``b""`` for a file that did not exist);
    if the file holds something else immediately before the rename, it is reported and left alone,
    and a file that was read but has been deleted since stays deleted.
    ``root``: the tree the file belongs to; every folder from it down to the file must be a real
    directory, opened without following links and checked again right before the rename
    (cli/tree_fs.py). A symlink at ``path`` is refused: the tool never writes through a link.
    """
    from .tree_fs import ChainError, DirChain

    target = os.path.abspath(path)
    try:
        chain = DirChain(Path(root) if root is not None else None, target)
    except ChainError as exc:
        raise InputError(f"{exc.strerror}; left unchanged") from None
    except OSError as exc:
        raise InputError(f"cannot open its folder: {_one_line(exc.strerror or exc)}; left unchanged") from None
    with chain:
        _write_in(chain, target, data, expected)


def _write_in(chain, target: str, data: bytes, expected: Optional[bytes]) -> None:
    from .tree_fs import ChainError

    name, dfd = chain.name, chain.fd
    try:
        st = chain.lstat()
    except OSError as exc:
        raise InputError(f"cannot stat: {_one_line(exc.strerror or exc)}") from None
    if st is not None:
        if stat.S_ISLNK(st.st_mode):
            raise InputError("is a symbolic link; not written through (the tool writes only regular files "
                             "inside the tree); left unchanged")
        if not stat.S_ISREG(st.st_mode):
            raise InputError("not a regular file; left unchanged")
        if is_read_only(st, target):
            raise InputError("not writable (read-only file); left unchanged")
    elif expected:
        raise InputError("deleted during the run; left deleted")
    with deferred_signals():
        tmp, fd = _create_temp(dfd, name)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
                if st is not None:
                    if hasattr(os, "fchown") and (st.st_uid != os.geteuid() or st.st_gid != os.getegid()):
                        try:
                            os.fchown(fh.fileno(), st.st_uid, st.st_gid)
                        except OSError:
                            pass  # not permitted: the file becomes ours, as with any editor
                    os.fchmod(fh.fileno(), stat.S_IMODE(st.st_mode))
                else:
                    umask = os.umask(0)
                    os.umask(umask)
                    os.fchmod(fh.fileno(), 0o666 & ~umask)
            if expected is not None:
                _unchanged_since_read(chain, st, expected)  # immediately before the rename
            chain.verify()
            os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        except BaseException as exc:
            try:
                os.unlink(tmp, dir_fd=dfd)
            except OSError:
                pass
            if isinstance(exc, ChainError):
                raise InputError(f"{exc.strerror}; left unchanged") from None
            if isinstance(exc, OSError):
                reason = "no space left on device" if exc.errno == errno.ENOSPC else _one_line(exc.strerror or exc)
                raise InputError(f"cannot write: {reason}; left unchanged") from None
            raise


def _create_temp(dfd: int, name: str):
    """(name, fd) of a new file beside ``name`` in the directory ``dfd``, created exclusively, no link followed."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = f".{name[:200]}.{os.urandom(6).hex()}{TEMP_SUFFIX}"
        try:
            return tmp, os.open(tmp, flags, 0o600, dir_fd=dfd)
        except FileExistsError:
            continue
        except OSError as exc:
            raise InputError(f"cannot create a temp file beside it: {_one_line(exc.strerror or exc)}") from None
    raise InputError("cannot create a temp file beside it (names keep colliding)")


def _unchanged_since_read(chain, st: Optional[os.stat_result], expected: bytes) -> None:
    """Raise InputError unless the target is still the regular file (same inode) holding ``expected``."""
    try:
        now = chain.lstat()
    except OSError as exc:
        raise InputError(f"cannot re-read before writing: {_one_line(exc.strerror or exc)}") from None
    if now is None and st is not None:
        raise InputError("deleted during the run; left deleted")
    if (now is None) != (st is None) or (now is not None and st is not None
                                         and (now.st_ino != st.st_ino or not stat.S_ISREG(now.st_mode))):
        raise InputError("changed on disk during the run; left unchanged (run again)")
    if now is None:
        return
    limit = max(len(expected), now.st_size, 1)
    try:
        fd = os.open(chain.name, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0),
                     dir_fd=chain.fd)
    except OSError as exc:
        raise InputError(f"cannot re-read before writing: {_one_line(exc.strerror or exc)}") from None
    try:
        with os.fdopen(fd, "rb", closefd=False) as fh:
            current = fh.read(limit + 1)
    finally:
        os.close(fd)
    if current != expected:
        raise InputError("changed on disk during the run; left unchanged (run again)")

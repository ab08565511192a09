"""``git apply``-able unified diffs of outcomes, in the files' own bytes."""
from __future__ import annotations

import os
import re

from .outcome import FileOutcome

_GIT_ESCAPES = {7: b"\\a", 8: b"\\b", 9: b"\\t", 10: b"\\n", 11: b"\\v", 12: b"\\f", 13: b"\\r",
                34: b'\\"', 92: b"\\\\"}


def _git_quote(name: bytes) -> bytes:
    """A diff header's file name as git writes it: quoted, C-style, when it holds a control
    character, a quote or a backslash (a newline in a name would otherwise end the header line)."""
    if not any(c < 32 or c == 127 or c in (34, 92) for c in name):
        return name
    return b'"' + b"".join(_GIT_ESCAPES.get(c) or (b"\\%03o" % c if c < 32 or c == 127 else bytes([c]))
                           for c in name) + b'"'


def unified_diff(outcome: FileOutcome) -> bytes:
    """A ``git apply``-able diff of one file, in the file's own bytes (encoding, CRLF kept)."""
    # git splits lines at LF only (a lone CR stays inside its line); bytes.splitlines would split there too.
    import difflib

    old_lines = re.findall(rb"[^\n]*\n|[^\n]+$", outcome.old)
    new_lines = re.findall(rb"[^\n]*\n|[^\n]+$", outcome.new or b"")
    rel = os.fsencode(outcome.rel)  # a non-UTF-8 file name travels as its own bytes
    a_name, b_name = _git_quote(b"a/" + rel), _git_quote(b"b/" + rel)
    old_name = a_name if outcome.old else b"/dev/null"
    lines = list(difflib.diff_bytes(difflib.unified_diff, old_lines, new_lines, old_name, b_name, n=3))
    if not lines:
        return b""
    out = []
    if not outcome.old:
        out.append(b"diff --git " + a_name + b" " + b_name + b"\nnew file mode 100644\n")
    for line in lines:
        if line.startswith((b"---", b"+++")):
            out.append(line.rstrip(b"\n") + b"\n")
        elif line.startswith(b"@@"):
            out.append(line)
        elif line.endswith(b"\n"):
            out.append(line)
        else:
            out.append(line + b"\n\\ No newline at end of file\n")
    return b"".join(out)

"""Strings from the tree (file names, config values, git's messages) made safe to print.

The tree is untrusted (README, "Security"): a file name can hold a newline followed by
``::error file=x.py::`` (a forged GitHub workflow command on the next log line), an escape
sequence that rewrites the terminal, or a bell. Every such string goes through ``shown`` before
it reaches a terminal or a log, and through ``workflow_data``/``workflow_property`` in GitHub
annotations. JSON and SARIF escape control characters themselves (``json.dumps``).
"""
from __future__ import annotations


def shown(text: object) -> str:
    """``text`` on one line: every control or other non-printable character (newline, ESC, BEL,
    bidi overrides) written as its Python escape, so no string can start a line or a sequence."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def workflow_data(text: object) -> str:
    """A workflow command's message, escaped as actions/toolkit's ``escapeData`` does (``%``, CR,
    LF: GitHub shows the real name), then every other control character shown escaped (``shown``)."""
    return shown(str(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))


def workflow_property(text: object) -> str:
    """A workflow command's property value (actions/toolkit ``escapeProperty``)."""
    return workflow_data(text).replace(":", "%3A").replace(",", "%2C")

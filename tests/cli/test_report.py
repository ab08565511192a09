"""The text report without a terminal is rendered without rich; it must read exactly as rich's."""
import io
from pathlib import Path

from sam3d_codemod.cli import report as render
from sam3d_codemod.cli.outcome import FileOutcome, RunReport
from sam3d_codemod.codemods.base import Site
from sam3d_codemod.codemods.rules import select_rules


def _report() -> RunReport:
    report = RunReport(rules=select_rules())
    root = Path("/tree")
    ok = FileOutcome(path=root / "pkg/a.py", root=root, old=b"x", new=b"y")
    ok.sites = [Site("TC011", "pkg/a.py", 2, "patched", "torch.compile -> _torch_compat.compile [not markup]"),
                Site("TC100", "pkg/a.py", 9, "unhandled", "`torch.nn.attention.bias` needs torch >= 2.5")]
    bad = FileOutcome(path=root / "pkg/[bad].py", root=root, error="cannot parse: line 3 [x]")
    report.outcomes = [ok, bad]
    report.files_seen, report.files_parsed = 3, 2
    return report


def _rich_text(report, command, elapsed, monkeypatch):
    """What the rich branch prints: a stream that says it is a terminal, colour turned off."""

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setenv("NO_COLOR", "1")
    stream = Terminal()
    render.print_text(report, command, stream=stream, elapsed=elapsed, table=True)
    return stream.getvalue()


def test_plain_text_reads_as_rich_does(monkeypatch):
    for command in ("check", "apply"):
        report = _report()
        plain = render.plain_text(report, command, elapsed=0.5, table=True)
        assert "pkg/a.py:9: TC100 unhandled: `torch.nn.attention.bias` needs torch >= 2.5" in plain
        assert ("pkg/a.py:2: TC011 torch.compile" in plain) == (command == "check")
        assert "error: pkg/[bad].py: cannot parse: line 3 [x]" in plain
        assert _strip_ansi(_rich_text(report, command, 0.5, monkeypatch)) == plain


def test_print_text_without_terminal_does_not_import_rich():
    import subprocess
    import sys

    code = ("import sys, io\n"
            "from sam3d_codemod.cli import report as r\n"
            "from sam3d_codemod.cli.outcome import RunReport\n"
            "from sam3d_codemod.codemods.rules import select_rules\n"
            "r.print_text(RunReport(rules=select_rules()), 'check', stream=io.StringIO())\n"
            "print('rich' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def _strip_ansi(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", text)

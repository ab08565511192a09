"""Suppression comments: found by tokenize (real comments, Python's line numbers), and TC101 for unused ones."""
import io
import tokenize

import pytest

from sam3d_codemod.codemods.engine import suppressions
from sam3d_codemod.codemods.engine import transform as engine
from sam3d_codemod.codemods.rules import select_rules

RULES = select_rules()
KNOWN = [r.code for r in RULES] + ["TC000", "TC100", "TC101"]


def lines_of(text):
    return [(s.line, s.codes) for s in suppressions.find(text)]


def test_only_real_comments_count():
    text = ('s = "# sam3d-codemod: ignore[TC007]"\n'
            "t = '''\n# sam3d-codemod: ignore[TC002]\n'''\n"
            "x = 1  # sam3d-codemod: ignore[TC003, TC004]\n"
            "y = 2  # sam3d-codemod: ignore\n")
    assert lines_of(text) == [(5, ("TC003", "TC004")), (6, None)]


@pytest.mark.parametrize("sep", ["\f", "\v", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"])
def test_separators_that_splitlines_splits_at_do_not_shift_lines(sep):
    # str.splitlines() ends a line at each of these; Python's tokenizer does not
    text = f"a = 1\n{sep}\nb = 2  # sam3d-codemod: ignore[TC001]\n"
    assert len(text.splitlines()) == 4  # (what the old regex scan numbered)
    assert lines_of(text) == [(3, ("TC001",))]


def test_line_numbers_are_the_tokenizers():
    text = "a = 1\rb = 2\r\nc = (\n  3)  # sam3d-codemod: ignore[TC005]\n\fd = 4  # sam3d-codemod: ignore\n"
    expected = [t.start[0] for t in tokenize.generate_tokens(io.StringIO(text, newline="").readline)
                if t.type == tokenize.COMMENT]
    assert [line for line, _ in lines_of(text)] == expected == [4, 5]


def test_untokenizable_tail_is_still_scanned():
    text = "x = 1  # sam3d-codemod: ignore[TC001]\ny = (\n# sam3d-codemod: ignore[TC002]\n"
    assert lines_of(text) == [(1, ("TC001",)), (3, ("TC002",))]


def test_no_marker_no_tokenize(monkeypatch):
    monkeypatch.setattr(tokenize, "generate_tokens", lambda *a: pytest.fail("tokenized a file without the marker"))
    assert suppressions.find("import torch\nx = 1  # noqa\n") == []


@pytest.mark.parametrize("prefix", ["", "\f\n", "s = '''\f\n'''\n"])
def test_suppression_after_a_form_feed_is_honoured(prefix):
    # before tokenize, a form feed above the comment moved it a line down and the site was patched
    text = f"import torch\n{prefix}x.index_add_(0, i, s)  # sam3d-codemod: ignore[TC007]\n"
    result = engine.transform_source(text, RULES, "pkg/m.py")
    assert result.code is None and result.sites == []
    assert result.suppressed == {(0, "TC007")}
    other = text.replace("TC007", "TC002")
    assert "s.to(x.dtype)" in engine.transform_source(other, RULES, "pkg/m.py").code


def test_unused_reports_stale_unknown_and_bare():
    text = ("x = 1  # sam3d-codemod: ignore[TC007, TC002]\n"
            "y = 1  # sam3d-codemod: ignore[TC998]\n"
            "z = 1  # sam3d-codemod: ignore\n"
            "w = 1  # sam3d-codemod: ignore[TC002, TC101]\n")
    found = suppressions.find(text)
    sites = suppressions.unused(found, {(0, "TC007")}, "m.py", KNOWN, KNOWN)
    assert [(s.code, s.line, s.status, s.message) for s in sites] == [
        ("TC101", 1, "unhandled", "unused suppression: TC002 suppresses nothing here"),
        ("TC101", 2, "unhandled", "suppression names an unknown rule code: TC998"),
        ("TC101", 3, "unhandled", "unused suppression: `# sam3d-codemod: ignore` suppresses nothing here"),
    ]
    # a code this run could not have reported (not selected) is not judged; nor a bare ignore then
    partial = suppressions.unused(found, set(), "m.py", ["TC007", "TC101"], KNOWN)
    assert [(s.line, s.message) for s in partial] == [
        (1, "unused suppression: TC007 suppresses nothing here"),
        (2, "suppression names an unknown rule code: TC998"),
    ]


def test_used_suppressions_carry_across_a_rewrite_that_moves_lines():
    # the import inserted above moves the suppressed line down; the comment is matched by ordinal
    text = ("import torch\ntorch._dynamo.config.accumulated_cache_size_limit = 64\n"
            "torch._dynamo.config.cache_size_limit = 8  # sam3d-codemod: ignore[TC002]\n")
    result = engine.transform_source(text, RULES, "pkg/m.py")
    assert result.code is not None and result.code.count("\n") > text.count("\n")
    assert result.suppressed == {(0, "TC002")}
    sites = suppressions.unused_sites(text, result.code, result.suppressed, set(), "m.py", KNOWN, KNOWN)
    assert sites == []
    # without the hit it would be reported, at the input's line
    sites = suppressions.unused_sites(text, result.code, set(), set(), "m.py", KNOWN, KNOWN)
    assert [(s.line, s.code) for s in sites] == [(3, "TC101")]


def test_whole_module_path_records_hits_too():
    import libcst as cst

    text = "import torch\nx.index_add_(0, i, s)  # sam3d-codemod: ignore[TC007]\n"
    result = engine.transform_module(cst.parse_module(text), text, RULES, "pkg/m.py")
    assert result.code is None and result.suppressed == {(0, "TC007")}


@pytest.mark.parametrize("import_line, code", [
    ("from torch.nn.attention import sdpa_kernel  # sam3d-codemod: ignore[TC003]", "TC003"),
    ("from torch.nn import RMSNorm  # sam3d-codemod: ignore[TC022]", "TC022"),
])
def test_a_suppressed_import_stays_while_another_rule_patches_the_file(import_line, code):
    """The import rewrites (TC003's and TC021/TC022's) honour their suppression comment also where
    another rule's patch makes the file change (they used to rewrite and only skip the report)."""
    text = f"import torch\n{import_line}\n\nm = torch.compile(m)\n"
    rules = [r for r in RULES if r.matches_text(text, "mod.py")]
    result = engine.transform_source(text, rules, "pkg/mod.py", "from . import _torch_compat")
    assert result.code is not None and "_torch_compat.compile(m)" in result.code  # TC011 patched
    assert import_line in result.code and "from ._torch_compat import" not in result.code, result.code
    assert not [s for s in result.sites if s.code == code]

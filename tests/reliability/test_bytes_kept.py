"""Bytes kept: coding cookie, BOM, CRLF, mixed endings, no trailing newline; `diff` is what `apply` writes."""
import codecs
import shutil
import subprocess

import pytest

from .helpers import PATCHABLE, PATCHED, invoke

LATIN1 = (
    "# -*- coding: latin-1 -*-\n"
    "# Auteur: Fran\xe7ois M\xfcller \xa9 2024\n"
    "import torch\n"
    "\n"
    "def f(x, i, s):\n"
    "    \"\"\"Ajoute s \xe0 x (\xb5s).\"\"\"\n"
    "    return x.index_add_(0, i, s)  # \xe9t\xe9\n"
)


def _apply_one(tmp_path, name: str, data: bytes) -> bytes:
    f = tmp_path / name
    f.write_bytes(data)
    code, out = invoke("apply", f, "-q")
    assert code == 0, out
    return f.read_bytes()


def test_latin1_cookie_file_stays_latin1(tmp_path):
    data = LATIN1.encode("latin-1")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # really not UTF-8
    new = _apply_one(tmp_path, "m.py", data)
    assert new == LATIN1.replace("s)  #", "s.to(x.dtype))  #").encode("latin-1")


def test_cp1252_cookie_and_crlf(tmp_path):
    text = "# coding: cp1252\r\n# \u201cquoted\u201d \u20ac\r\nimport torch\r\ny = x.index_add_(0, i, s)\r\n"
    new = _apply_one(tmp_path, "m.py", text.encode("cp1252"))
    assert new == text.replace("s)", "s.to(x.dtype))").encode("cp1252")


def test_utf8_bom_kept(tmp_path):
    data = codecs.BOM_UTF8 + "# h\xe9\nimport torch\nx = torch.utils.checkpoint.checkpoint(f, y)\n".encode()
    new = _apply_one(tmp_path, "m.py", data)
    assert new.startswith(codecs.BOM_UTF8) and not new[3:].startswith(codecs.BOM_UTF8)
    assert new == codecs.BOM_UTF8 + ("# h\xe9\nimport torch\nimport torch.utils.checkpoint\n"
                                     "x = torch.utils.checkpoint.checkpoint(f, y)\n").encode()


def test_bom_with_utf8_cookie(tmp_path):
    data = codecs.BOM_UTF8 + b"# -*- coding: utf-8 -*-\r\nimport torch\r\ny = x.index_add_(0, i, s)\r\n"
    new = _apply_one(tmp_path, "m.py", data)
    assert new == codecs.BOM_UTF8 + b"# -*- coding: utf-8 -*-\r\nimport torch\r\ny = x.index_add_(0, i, s.to(x.dtype))\r\n"


def test_crlf_kept_including_inserted_lines(tmp_path):
    data = b"import torch\r\n\r\nx = torch.utils.checkpoint.checkpoint(f, y)\r\ny = x.index_add_(0, i, s)\r\n"
    new = _apply_one(tmp_path, "m.py", data)
    assert new == (b"import torch\r\nimport torch.utils.checkpoint\r\n\r\n"
                   b"x = torch.utils.checkpoint.checkpoint(f, y)\r\ny = x.index_add_(0, i, s.to(x.dtype))\r\n")
    assert new.count(b"\n") == new.count(b"\r\n")


def test_mixed_line_endings_kept_line_by_line(tmp_path):
    data = b"import torch\r\n\ndef f(x, i, s):\r\n    # lf next\n    return x.index_add_(0, i, s)\r\nz = 1\n"
    new = _apply_one(tmp_path, "m.py", data)
    assert new == data.replace(b"s)\r\n", b"s.to(x.dtype))\r\n")


@pytest.mark.parametrize("eol", [b"\n", b"\r\n"])
def test_no_trailing_newline_kept(tmp_path, eol):
    data = PATCHABLE.encode().replace(b"\n", eol).rstrip(b"\r\n")
    new = _apply_one(tmp_path, "m.py", data)
    assert new == PATCHED.encode().replace(b"\n", eol).rstrip(b"\r\n")


def test_tabs_and_trailing_whitespace_kept(tmp_path):
    data = b"import torch   \n\ndef f(x, i, s):\n\t# tab-indented \t\n\treturn x.index_add_(0, i, s)\t\n"
    new = _apply_one(tmp_path, "m.py", data)
    assert new == data.replace(b"s)\t", b"s.to(x.dtype))\t")


def _git(cwd, *args):
    return subprocess.run(["git", "-c", "core.autocrlf=false", "-c", "core.safecrlf=false", *args],
                          cwd=cwd, capture_output=True)


FILES = {
    "crlf.py": b"import torch\r\n\r\ndef f(x, i, s):\r\n    return x.index_add_(0, i, s)\r\n",
    "mixed.py": b"import torch\r\nx = torch.utils.checkpoint.checkpoint(f, y)\nz = 1\r\n",
    "noeol_crlf.py": b"import torch\r\ny = x.index_add_(0, i, s)",
    "noeol.py": b"import torch\ny = x.index_add_(0, i, s)",
    "bom.py": codecs.BOM_UTF8 + b"import torch\r\ny = x.index_add_(0, i, s)\r\n",
    "latin1.py": LATIN1.encode("latin-1"),
    "sub dir/with space.py": b"import torch\ny = x.index_add_(0, i, s)\n",
    "untouched.py": b"import torch\r\nx = 1\r\n",
}


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_diff_is_git_applicable_and_equals_apply(tmp_path):
    applied, patched = tmp_path / "applied", tmp_path / "patched"
    for rel, data in FILES.items():
        (applied / rel).parent.mkdir(parents=True, exist_ok=True)
        (applied / rel).write_bytes(data)
    shutil.copytree(applied, patched)
    r = _git(patched, "init", "-q")
    assert r.returncode == 0, r.stderr

    from click.testing import CliRunner

    from sam3d_codemod.cli.main import main

    result = CliRunner().invoke(main, ["diff", str(patched), "--no-color", "-q"], catch_exceptions=False)
    assert result.exit_code == 1, result.output
    patch = result.stdout_bytes
    assert b"\r\n" in patch  # CRLF content lines travel in the patch as they are
    (tmp_path / "out.patch").write_bytes(patch)
    r = _git(patched, "apply", "--check", "-v", str(tmp_path / "out.patch"))
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    r = _git(patched, "apply", "--whitespace=nowarn", str(tmp_path / "out.patch"))
    assert r.returncode == 0, r.stderr.decode(errors="replace")

    code, out = invoke("apply", applied, "-q")
    assert code == 0, out
    for rel in FILES:
        assert (patched / rel).read_bytes() == (applied / rel).read_bytes(), rel
    assert (applied / "untouched.py").read_bytes() == FILES["untouched.py"]
    assert (applied / "crlf.py").read_bytes() != FILES["crlf.py"]


def _diff_then_git_apply(tmp_path, files):
    applied, patched = tmp_path / "applied", tmp_path / "patched"
    applied.mkdir()
    for name, data in files.items():
        (applied / name).write_bytes(data)
    shutil.copytree(applied, patched)
    assert _git(patched, "init", "-q").returncode == 0
    from click.testing import CliRunner

    from sam3d_codemod.cli.main import main

    result = CliRunner().invoke(main, ["diff", str(patched), "--no-color", "-q"], catch_exceptions=False)
    assert result.exit_code == 1, result.output
    (tmp_path / "out.patch").write_bytes(result.stdout_bytes)
    r = _git(patched, "apply", "--whitespace=nowarn", str(tmp_path / "out.patch"))
    assert r.returncode == 0, r.stderr.decode(errors="replace") + result.stdout_bytes.decode(errors="replace")
    code, out = invoke("apply", applied, "-q")
    assert code == 0, out
    for name in files:
        assert (patched / name).read_bytes() == (applied / name).read_bytes(), name
        assert (applied / name).read_bytes() != files[name]


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_diff_with_lone_cr_inside_a_line(tmp_path):
    # Python ends a line at a lone CR; git does not. The patch must split lines the way git does.
    _diff_then_git_apply(tmp_path, {"a.py": b"import torch\n# note\rz = 1\ny = x.index_add_(0, i, s)\n"})


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_diff_with_non_utf8_file_name(tmp_path):
    import os
    import sys

    if sys.getfilesystemencoding().lower() not in ("utf-8", "utf8"):
        pytest.skip("file system encoding is not UTF-8")
    name = os.fsdecode(b"caf\xe9.py")  # not valid UTF-8: a surrogate-escaped str
    _diff_then_git_apply(tmp_path, {name: b"import torch\ny = x.index_add_(0, i, s)\n"})


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_diff_names_the_real_file_not_an_in_tree_link(tmp_path):
    import os

    applied = tmp_path / "applied"
    applied.mkdir()
    (applied / "zz_real.py").write_bytes(b"import torch\ny = x.index_add_(0, i, s)\n")
    (applied / "aa_link.py").symlink_to("zz_real.py")
    patched = tmp_path / "patched"
    shutil.copytree(applied, patched, symlinks=True)
    assert _git(patched, "init", "-q").returncode == 0
    from click.testing import CliRunner

    from sam3d_codemod.cli.main import main

    result = CliRunner().invoke(main, ["diff", str(patched), "--no-color", "-q"], catch_exceptions=False)
    assert result.exit_code == 1
    assert b"a/zz_real.py" in result.stdout_bytes and b"aa_link.py" not in result.stdout_bytes
    (tmp_path / "out.patch").write_bytes(result.stdout_bytes)
    r = _git(patched, "apply", str(tmp_path / "out.patch"))
    assert r.returncode == 0, r.stderr
    code, out = invoke("apply", applied, "-q")
    assert code == 0, out
    assert (patched / "zz_real.py").read_bytes() == (applied / "zz_real.py").read_bytes()
    assert os.readlink(applied / "aa_link.py") == "zz_real.py"


def test_bom_file_whose_first_line_triggers_a_rule(tmp_path):
    """The pre-filter's ``^import`` patterns must see the first line of a file that starts with a BOM."""
    pkg = tmp_path / "t" / "pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    data = codecs.BOM_UTF8 + b"import lightning.pytorch as pl\nimport torch\n"
    (pkg / "m.py").write_bytes(data)
    code, out = invoke("apply", tmp_path / "t", "-q")
    assert code == 0, out
    new = (pkg / "m.py").read_bytes()
    assert new.startswith(codecs.BOM_UTF8) and new != data
    assert b"except" in new  # the import is guarded


@pytest.mark.parametrize("tail", [
    b"\n    \n",        # a blank line, then a whitespace-only last line
    b"    # over-indented last comment\n  \n",
    b"\x0cz = 1\n",      # form feed at the start of a line
])
def test_bytes_libcst_cannot_print_outside_patched_statements_are_kept(tmp_path, tail):
    """LibCST drops these bytes when it prints a whole module; only the patched statement goes
    through LibCST, so the file is patched and every other byte stays."""
    f = tmp_path / "m.py"
    data = b"import torch\ny = x.index_add_(0, i, s)\n" + tail
    f.write_bytes(data)
    code, out = invoke("apply", tmp_path)
    assert code == 0, out
    assert f.read_bytes() == data.replace(b"(0, i, s)", b"(0, i, s.to(x.dtype))")


def test_statement_libcst_cannot_reproduce_is_reported_not_damaged(tmp_path):
    """A form feed inside the statement to patch: LibCST would drop it, so the file is an error."""
    f = tmp_path / "m.py"
    data = b"import torch\nif a:\n  y = x.index_add_(0, i, s)\n\x0c  z = 2\n"
    f.write_bytes(data)
    (tmp_path / "ok.py").write_text(PATCHABLE)
    code, out = invoke("apply", tmp_path)
    assert code == 2, out
    lines = [line for line in out.splitlines() if line.startswith("error") and "m.py" in line]
    assert len(lines) == 1 and "byte for byte" in lines[0], out
    assert f.read_bytes() == data
    assert (tmp_path / "ok.py").read_text() == PATCHED


def test_lone_cr_line_break_before_a_trigger(tmp_path):
    """Python ends a line at a lone CR: the pre-filter's ``^import`` patterns must too."""
    pkg = tmp_path / "t" / "pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    data = b"# old Mac line end\rimport lightning.pytorch as pl\nimport torch\n"
    (pkg / "m.py").write_bytes(data)
    code, out = invoke("apply", tmp_path / "t", "-q")
    assert code == 0, out
    new = (pkg / "m.py").read_bytes()
    assert new.startswith(b"# old Mac line end\r") and b"except" in new

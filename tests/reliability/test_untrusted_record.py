"""Issue 21.1: the apply record is not taken from the tree. Each case failed before its fix: a
record planted in the tree made `revert` write outside it (exit 0), merged a line into the
consumer's git config, made `lock` record sites that do not exist, or ended in a traceback.

A planted record is written twice here: in the tree (where older releases looked) and in the
trusted place (cli/record_store.py), so each case shows both that the tree's copy is ignored and
that a bad entry in the trusted one is refused, one line, exit 2, nothing written.
"""
from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import zlib
from pathlib import Path

import pytest

from .helpers import PATCHABLE, PATCHED, invoke

STRAY = ".sam3d-codemod-applied.json"


def _pack(data):
    return None if data is None else base64.b64encode(zlib.compress(data)).decode()


def _sha(data):
    return None if data is None else hashlib.sha256(data).hexdigest()


def plant(root: Path, entries: dict, raw: bytes = None) -> None:
    """``entries``: rel -> (original, patched, sites); in the tree (v1) and the trusted place (v2)."""
    v1 = {"version": 1, "files": {rel: {"original": _pack(o), "patched": _pack(p), "sites": s}
                                  for rel, (o, p, s) in entries.items()}}
    v2 = {"version": 2, "files": {rel: {"original": _pack(o), "patched": _pack(p), "original_sha256": _sha(o),
                                        "patched_sha256": _sha(p), "sites": s} for rel, (o, p, s) in entries.items()}}
    (root / STRAY).write_bytes(raw if raw is not None else json.dumps(v1).encode())
    try:
        from sam3d_codemod.cli.applied import location
    except ImportError:  # before the fix there is no trusted place
        return
    where = location(root)
    where.parent.mkdir(parents=True, exist_ok=True)
    where.write_bytes(raw if raw is not None else json.dumps(v2).encode())


def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "m.py").write_text(PATCHED)
    return root


def one_line_error(code: int, out: str) -> str:
    assert code == 2, out
    assert "Traceback" not in out, out
    errors = [line for line in out.splitlines() if line.startswith("sam3d-codemod: error:")]
    assert len(errors) == 1, out
    return errors[0]


@pytest.mark.parametrize("rel", ["../victim.py", "{abs}", "pkg/../../victim.py", "./../victim.py"])
def test_entries_outside_the_tree_are_refused(tmp_path, rel):
    root = tree(tmp_path)
    victim = tmp_path / "victim.py"
    victim.write_bytes(PATCHED.encode())
    rel = rel.format(abs=str(victim))
    plant(root, {rel: (b"owned = 1\n", PATCHED.encode(), {})})
    code, out = invoke("revert", root)
    assert victim.read_bytes() == PATCHED.encode()
    line = one_line_error(code, out)
    assert "not a" in line and "path" in line
    assert f"{STRAY} is inside the tree and is not read" in out


def test_entry_through_a_symlinked_folder_is_refused(tmp_path):
    root = tree(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "m.py").write_bytes(PATCHED.encode())
    (root / "linked").symlink_to(outside, target_is_directory=True)
    plant(root, {"linked/m.py": (b"owned = 1\n", PATCHED.encode(), {})})
    code, out = invoke("revert", root)
    assert (outside / "m.py").read_bytes() == PATCHED.encode()
    assert "symbolic link" in one_line_error(code, out)


def test_consumer_git_config_never_gets_a_line_from_the_record(tmp_path):
    consumer = tmp_path / "consumer"
    consumer.mkdir()
    subprocess.run(["git", "init", "-q", str(consumer)], check=True)
    config = consumer / ".git" / "config"
    before = config.read_bytes()
    root = consumer / "upstream"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "m.py").write_text(PATCHED)
    evil = before + b"[core]\n\tfsmonitor = touch /tmp/pwned\n"
    plant(root, {"../.git/config": (evil, before, {})})
    code, out = invoke("revert", root)
    assert config.read_bytes() == before
    assert code == 2 and "Traceback" not in out


def test_device_entry_is_refused_without_reading_it(tmp_path):
    """Before the fix `revert` read /dev/zero to the end (MemoryError, or the OOM killer)."""
    root = tree(tmp_path)
    plant(root, {"/dev/zero": (b"x", b"y", {})})
    code, out = invoke("revert", root)
    one_line_error(code, out)


def test_hash_mismatch_is_refused_and_nothing_is_written(tmp_path):
    root = tree(tmp_path)
    plant(root, {"pkg/m.py": (PATCHABLE.encode(), PATCHED.encode(), {"TC007": 1})})
    where = __import__("sam3d_codemod.cli.applied", fromlist=["location"]).location(root)
    data = json.loads(where.read_text())
    data["files"]["pkg/m.py"]["original"] = _pack(b"import os\nos.system('owned')\n")
    where.write_text(json.dumps(data))
    code, out = invoke("revert", root)
    assert "SHA-256" in one_line_error(code, out)
    assert (root / "pkg" / "m.py").read_text() == PATCHED


def test_record_that_inflates_to_gigabytes_is_refused(tmp_path):
    root = tree(tmp_path)
    bomb = zlib.compress(b"\0" * (64 * 1024 * 1024), 9)
    entries = {"pkg/m.py": (PATCHABLE.encode(), PATCHED.encode(), {})}
    plant(root, entries)
    for path in [root / STRAY] + ([__import__("sam3d_codemod.cli.applied", fromlist=["x"]).location(root)]
                                  if (root / STRAY).exists() else []):
        data = json.loads(path.read_text())
        data["files"]["pkg/m.py"]["original"] = base64.b64encode(bomb).decode()
        path.write_text(json.dumps(data))
    code, out = invoke("revert", root)
    assert "inflates to over" in one_line_error(code, out)


def test_deeply_nested_record_is_a_one_line_error(tmp_path):
    root = tree(tmp_path)
    raw = b'{"version": 2, "files": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    plant(root, {}, raw=raw)
    code, out = invoke("revert", root)
    assert "nested deeper" in one_line_error(code, out)


def test_planted_record_cannot_make_lock_record_sites(tmp_path):
    root = tree(tmp_path)
    (root / STRAY).write_text(json.dumps({"version": 1, "files": {"pkg/m.py": {
        "original": _pack(PATCHABLE.encode()), "patched": _pack(PATCHED.encode()), "sites": {"TC007": 5}}}}))
    lock = tmp_path / "l.lock"
    code, out = invoke("lock", root, "--lock", lock, "--no-cache")
    assert code == 0, out
    assert json.loads(lock.read_text())["sites"] == {}


def test_apply_keeps_its_record_out_of_the_tree(tmp_path):
    root = tmp_path / "tree"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "m.py").write_text(PATCHABLE)
    code, out = invoke("apply", root, "--no-cache", "-q")
    assert code == 0, out
    assert (root / "pkg" / "m.py").read_text() == PATCHED
    assert sorted(p.name for p in root.iterdir()) == ["pkg"]  # no record, no lock left in the tree
    code, out = invoke("revert", root)
    assert code == 0 and "reverted 1 file(s)" in out, out
    assert (root / "pkg" / "m.py").read_text() == PATCHABLE

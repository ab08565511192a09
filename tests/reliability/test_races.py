"""Issue 21.3: the tree changing under a running command. Each case failed before its fix: a folder
swapped for a symlink after the files were read got the patched files written at the link's
target, outside the tree (exit 0); a file deleted during the run was written back.

The swap happens at the last moment the tool hands control out before writing (apply's record,
written just before the files; revert's plan, made just before its writes).
"""
from __future__ import annotations

import os
from pathlib import Path

from sam3d_codemod.cli import applied, revert

from .helpers import PATCHABLE, PATCHED, invoke


def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "m.py").write_text(PATCHABLE)
    return root


def _swap_for_link(root: Path, outside: Path) -> None:
    os.rename(root / "pkg", outside)
    os.symlink(outside, root / "pkg", target_is_directory=True)


def test_folder_swapped_for_a_symlink_during_apply_is_not_written_through(tmp_path, monkeypatch):
    root = _tree(tmp_path)
    outside = tmp_path / "outside"
    real_record = applied.record

    def record_then_swap(outcomes):
        real_record(outcomes)
        _swap_for_link(root, outside)

    monkeypatch.setattr(applied, "record", record_then_swap)
    code, out = invoke("apply", root, "--no-cache")
    assert (outside / "m.py").read_text() == PATCHABLE, "written outside the tree"
    assert code == 2 and "symbolic link" in out and "Traceback" not in out, out


def test_folder_swapped_during_revert_is_not_written_through(tmp_path, monkeypatch):
    root = _tree(tmp_path)
    assert invoke("apply", root, "--no-cache", "-q")[0] == 0
    outside = tmp_path / "outside"
    real_plan = revert.plan

    def plan_then_swap(r):
        p = real_plan(r)
        _swap_for_link(root, outside)
        return p

    monkeypatch.setattr(revert, "plan", plan_then_swap)
    code, out = invoke("revert", root)
    assert (outside / "m.py").read_text() == PATCHED, "written outside the tree"
    assert code == 2 and "Traceback" not in out, out


def test_file_deleted_during_apply_stays_deleted(tmp_path, monkeypatch):
    root = _tree(tmp_path)
    real_record = applied.record

    def record_then_delete(outcomes):
        real_record(outcomes)
        (root / "pkg" / "m.py").unlink()

    monkeypatch.setattr(applied, "record", record_then_delete)
    code, out = invoke("apply", root, "--no-cache")
    assert not (root / "pkg" / "m.py").exists(), "a deleted file was written back"
    assert code == 2 and "deleted during the run" in out, out

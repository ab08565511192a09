"""`sam3d-codemod gate PATH --lock L [--python PY] [options...]`: the upstream-bump gate, one command.

Steps: ``check PATH --lock L`` (rules still apply, the same sites, no unhandled newer torch API),
``apply`` to a temp copy, ``verify`` that copy with PY. Every rule option (``--select``,
``--target-torch``, ``--exclude``, ``--output-format`` ...) goes to check and apply; ``--device``,
``--sys-path`` and ``--timeout`` go to verify. Every step runs; each failing one gets one line
``gate: STEP failed (exit N): why``. Exit 2 when a step errored, 1 when one failed, else 0.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

from .steps import run_step

WHY = {
    "check": {1: "drift from the lock, pending rewrites or an unhandled torch API (lines above)",
              2: "an error: a file does not parse or a bad option (lines above)"},
    "apply": {1: "unhandled sites remain in the patched copy", 2: "errors while patching the copy"},
    "verify": {1: "torch-API failures or other errors in the patched copy",
               2: "nothing could be verified (interpreter without torch, bad path)",
               3: "incomplete: checks skipped for missing packages (install `sam3d-codemod verify --print-requirements --torch X`)"},
}


def _copy(tree: Path, dest: Path) -> None:
    shutil.copytree(tree, dest, symlinks=True,
                    ignore=shutil.ignore_patterns(".git", ".sam3d-codemod-cache", "__pycache__"))


def gate(tree: Path, lock: str, python: Optional[str], options: Sequence[str], verify_options: Sequence[str],
         say: Callable[[str], None], runner: Callable[..., int] = run_step) -> int:
    results: List[Tuple[str, int]] = []

    def step(name: str, *args: str) -> int:
        say(f"== {name}")
        code = runner(*args)
        results.append((name, code))
        return code

    step("check", "check", str(tree), "--lock", lock, "--no-cache", *options)
    with tempfile.TemporaryDirectory(prefix="sam3d-gate-") as work:
        copy = Path(work) / "tree"
        try:
            _copy(tree, copy)
        except OSError as exc:
            say(f"gate: copy of {tree} failed: {exc}")
            return 2
        try:
            step("apply", "apply", str(copy), "-q", "--no-cache", *[o for o in options if o not in ("-q", "--quiet")])
            if python:
                step("verify", "verify", str(copy), "--python", python, *verify_options)
            else:
                say("gate: verify skipped (no --python)")
        finally:
            from . import applied

            applied.forget(copy)  # the copy's apply record (user cache) goes with the copy
    failed = [(name, code) for name, code in results if code != 0]
    for name, code in failed:
        say(f"gate: {name} failed (exit {code}): {WHY[name].get(code, 'see above')}")
    if not failed:
        say(f"gate: passed ({', '.join(name for name, _ in results)})")
        return 0
    return 2 if any(code not in (0, 1, 3) for _, code in failed) else 1  # verify 3 (incomplete) fails the gate

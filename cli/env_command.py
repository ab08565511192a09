"""`sam3d-codemod env PATH`: print the ordered install steps for a patched checkout (codemods/pins/plan.py)
and write the constraints file they hold torch with."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from .exits import EXIT_ERROR

CONSTRAINTS_NAME = ".sam3d-codemod-constraints.txt"


@click.command("env")
@click.argument("path", type=click.Path(file_okay=False))
@click.option("--python", "python", default="3.10", show_default=True, metavar="X.Y", help="Python of the environment.")
@click.option("--cuda", default=None, metavar="X.Y", help="CUDA of the environment. [default: the pin table's, 11.8 for torch 2.0]")
@click.option("--target-torch", default="2.0", show_default=True, help="The torch release line the checkout was patched for.")
@click.option("--cpu", is_flag=True, help="The CPU part: torch from PyPI, the source builds left as comments.")
@click.option("--arch-list", default=None, metavar="LIST",
              help="TORCH_CUDA_ARCH_LIST of the source builds. [default: 7.0 to 9.0 for CUDA 11.8]")
@click.option("--constraints", "constraints", type=click.Path(dir_okay=False), default=None,
              help=f"Where to write the constraints file. [default: PATH/{CONSTRAINTS_NAME}]")
def env(path, python, cuda, target_torch, cpu, arch_list, constraints):
    """Print a bash script that builds the environment PATH (after `apply`) runs in: torch from PyTorch's
    index, the requirement files with torch held by a constraints file (written now), the source builds
    with TORCH_CUDA_ARCH_LIST and FORCE_CUDA, and a last check that torch is still the target."""
    from ..codemods.pins.plan import PlanError, build_plan, constraints_text, render
    from ..codemods.pins.table import TableError, load_target
    from .fileio import InputError, atomic_write

    root = Path(path)
    if not root.is_dir():
        _fail(f"{path}: no such directory")
    try:
        target = load_target(target_torch, cuda)
        out = Path(constraints) if constraints else root / CONSTRAINTS_NAME
        steps = build_plan(root, target, out.resolve(), cpu=cpu, arch_list=arch_list, python=python)
        atomic_write(out, constraints_text(target).encode())
        _exclude_from_git(root, out)
    except (TableError, PlanError, InputError) as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"{path}: {exc.strerror or exc}")
    click.echo(render(steps, python), nl=False)


def _exclude_from_git(root: Path, written: Path) -> None:
    """List the constraints file in the checkout's info/exclude, as apply does its manifest: `git status`
    stays clean. Outside a git checkout, or written outside the tree, nothing is done."""
    import os
    import subprocess

    try:
        rel = written.resolve().relative_to(root.resolve()).as_posix()
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "--git-path", "info/exclude", "--show-prefix"],
                             capture_output=True, text=True, timeout=30)
    except (ValueError, OSError, subprocess.SubprocessError):
        return
    lines = out.stdout.splitlines()
    if out.returncode != 0 or not lines:
        return
    exclude = Path(lines[0]) if os.path.isabs(lines[0]) else root / lines[0]
    pattern = f"/{lines[1] if len(lines) > 1 else ''}{rel}"
    try:
        existing = exclude.read_text(encoding="utf-8", errors="replace") if exclude.exists() else ""
        if pattern not in existing.splitlines():
            exclude.parent.mkdir(parents=True, exist_ok=True)
            with open(exclude, "a", encoding="utf-8") as fh:
                fh.write(("" if not existing or existing.endswith("\n") else "\n") + pattern + "\n")
    except OSError:
        pass  # git then lists the file as untracked: visible, harmless


def _fail(message: str) -> None:
    click.echo(f"sam3d-codemod: error: {message}", err=True)
    sys.exit(EXIT_ERROR)

"""The upstream-bump commands: `revert`, `update`, `gate` (thin click layers over cli/revert.py,
cli/update.py and cli/gate.py; cli/main.py registers them)."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from .escape import shown
from .exits import EXIT_CLEAN, EXIT_ERROR


def _say(line: str) -> None:
    """Each line of the upstream-bump commands: file names and git's messages come from the tree."""
    click.echo(shown(line))


def _fail(exc: Exception) -> None:
    click.echo(f"sam3d-codemod: error: {shown(exc)}", err=True)
    sys.exit(EXIT_ERROR)


@click.command()
@click.argument("path", type=click.Path(exists=True, file_okay=False))
def revert(path):
    """Undo exactly what `apply` changed in PATH (its record, kept in the checkout's git dir) and remove
    the generated helper. Your own edits since are kept; where they overlap the patch nothing is changed."""
    from .applied import ManifestError, stray_note
    from .lock import TreeLock, TreeLocked
    from .revert import RevertError
    from .revert import revert as run_revert

    note = stray_note(Path(path))
    if note:
        click.echo(shown(note), err=True)
    from .processes import running_table, warn_stale

    running = running_table()  # the processes that run the code as it is before the revert
    try:
        with TreeLock([path]):  # never beside an apply of the same tree
            done = run_revert(Path(path))
    except (RevertError, TreeLocked, ManifestError) as exc:
        _fail(exc)
    if done.empty:
        _say(f"nothing to revert: no apply record in {path} (a tree patched by an older sam3d-codemod: "
             "`git checkout -- .` in the checkout)")
        sys.exit(EXIT_CLEAN)
    kept = f" ({len(done.merged)} with your own edits kept: {', '.join(done.merged)})" if done.merged else ""
    _say(f"reverted {len(done.writes)} file(s), removed {len(done.removes)}{kept}")
    if done.writes or done.removes:
        warn_stale([path], running)
    sys.exit(EXIT_CLEAN)


_PASS = {"ignore_unknown_options": True, "allow_extra_args": True}


@click.command(context_settings=_PASS)
@click.argument("path", type=click.Path(exists=True, file_okay=False))
@click.option("--rev", default=None,
              help="Commit, tag or branch to move to. [default: the head of the branch .gitmodules names, else origin/HEAD]")
@click.option("--lock", "lock_file", default=None, help="Lock file for the final `check --lock`.")
@click.argument("options", nargs=-1, type=click.UNPROCESSED)
def update(path, rev, lock_file, options):
    """revert -> move the git checkout PATH (a submodule) to REV or the upstream head -> apply -> check.

    Other OPTIONS (--select, --target-torch, ...) go to apply and check. Refuses, changing nothing,
    when the checkout has edits of yours (named). Exit: check's."""
    from .applied import ManifestError, stray_note
    from .revert import RevertError
    from .update import UpdateError
    from .update import update as run_update

    note = stray_note(Path(path))
    if note:
        click.echo(shown(note), err=True)

    check_args = list(options) + (["--lock", lock_file] if lock_file else [])
    try:  # its apply step names the processes still running the old code (cli/processes.py)
        code = run_update(Path(path), rev, list(options), check_args, say=_say)
    except (UpdateError, RevertError, ManifestError) as exc:
        _fail(exc)
    sys.exit(code)


@click.command(context_settings=_PASS)
@click.argument("path", type=click.Path(exists=True, file_okay=False))
@click.option("--lock", "lock_file", required=True, help="Lock file from `sam3d-codemod lock`.")
@click.option("--python", "python", default=None, help="Interpreter with torch 2.0 for verify (without it verify is skipped).")
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default="cpu", show_default=True, help="For verify.")
@click.option("--sys-path", "sys_path", multiple=True, help="For verify.")
@click.option("--timeout", default=None, help="For verify.")
@click.option("--stand-ins/--no-stand-ins", "stand_ins", default=True, show_default=True,
              help="For verify: stand-ins for CUDA-only packages a CPU runner cannot install.")
@click.argument("options", nargs=-1, type=click.UNPROCESSED)
def gate(path, lock_file, python, device, sys_path, timeout, stand_ins, options):
    """Upstream-bump gate: check --lock, apply to a temp copy, verify it. OPTIONS go to check and apply.
    One line per failing step; exit 2 if a step errored, 1 if one failed, 0 when all passed."""
    from .gate import gate as run_gate

    verify_options = ["--device", device] + [a for d in sys_path for a in ("--sys-path", d)]
    if timeout is not None:
        verify_options += ["--timeout", str(timeout)]
    if stand_ins:
        verify_options.append("--stand-ins")
    sys.exit(run_gate(Path(path), lock_file, python, list(options), verify_options, say=_say))

"""The steps of `update` and `gate` (apply, check, verify) run in this process, through the same
command group the user called, so their output, exit codes and options are the usual ones
without starting another interpreter (and re-importing everything) per step (issue 24).

The group is found from the running click context, so this module imports no command module.
Outside a click command (library use) a step runs as a child process of this same tool.
"""
from __future__ import annotations

import subprocess
import sys

import click


def run_step(*args: str) -> int:
    """``sam3d-codemod ARGS``; its exit code."""
    ctx = click.get_current_context(silent=True)
    sys.stdout.flush()
    sys.stderr.flush()
    if ctx is None:
        return subprocess.call([sys.executable, "-m", "sam3d_codemod", *args])
    group = ctx.find_root().command
    try:
        group.main(list(args), prog_name=ctx.find_root().info_name or "sam3d-codemod", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 2)
    except Exception as exc:  # a bug in a step: one line, exit 2, as its own process would end
        detail = " ".join(str(exc).split())[:300]
        click.echo(f"sam3d-codemod: error: internal error in `{args[0]}` (please report): "
                   f"{type(exc).__name__}: {detail}", err=True)
        return 2
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return 0

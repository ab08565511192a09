"""The ``sam3d-codemod`` command line. Exit codes: 0 clean, 1 changes pending / unhandled / drift, 2 error."""
from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import NoReturn

import click

from .. import __version__
from .config import TORCH_VERSION
from .env_command import env
from .escape import shown
from .exits import EXIT_ERROR
from .options import Run, _colour, _error, _Group, common_options, use_color
from .status import command as _status_command
from .workflow import gate, revert, update


def _execute(run_: Run, write=False, verify=False, before_write=None, lock=None):
    """Run the command's files; the report (which holds its exit code) and the seconds it took."""
    import gc

    from .runner import run
    from .settings import UsageError

    # Parsing allocates millions of short-lived, acyclic nodes: collecting every 700 allocations
    # costs ~10% of a run. Workers fork from here and inherit the setting.
    gc.set_threshold(50_000, 20, 20)
    start = time.perf_counter()
    options = run_.options()
    run_.say_settings(options)
    try:
        if run_.stdin:
            from .stdin import read_stdin, run_stdin

            report = run_stdin(read_stdin(options.max_bytes), run_.params.get("stdin_filename"), options,
                               verify=verify, command=run_.command, lock=lock)
        else:
            from .progress import progress_bar

            update, progress = progress_bar(run_.quiet or run_.output_format != "text",
                                            "patching" if write else "checking")
            try:
                report = run(run_.paths, options, write=write, progress=update, verify=verify,
                             before_write=before_write, command=run_.command, lock=lock)
            finally:
                if progress is not None:
                    progress.stop()
    except UsageError as exc:
        _error(str(exc))
    if run_.verbose:
        for o in report.outcomes:
            state = "error" if o.error else ("changed" if o.new is not None else "unchanged")
            if o.sites or o.error or o.new is not None:
                codes = ",".join(sorted({s.code for s in o.sites})) or "-"
                click.echo(f"file: {shown(o.rel)}: {state}, {len(o.sites)} site(s) ({codes})", err=True)
    return report, time.perf_counter() - start


def _finish(run_: Run, report, elapsed, extra=None, stream=None) -> NoReturn:
    """Print the report in the chosen format and exit with its code (RunReport.exit_code)."""
    stream = stream or sys.stdout
    if run_.output_format == "text" and not run_.quiet and not run_.statistics:
        from . import report as render

        render.print_text(report, run_.command, stream=stream, elapsed=elapsed, color=run_.color(stream),
                          show_fixes=run_.show_fixes, table=run_.verbose)
    else:
        out, err = _render(run_, report, elapsed, extra)
        click.echo(out, nl=False, file=stream)
        click.echo(err, nl=False, err=True)
    sys.exit(report.exit_code)


def _render(run_: Run, report, elapsed, extra=None):
    """(stdout, stderr) as ``_finish`` prints them to a pipe or file."""
    from . import report as render

    command, output_format = run_.command, run_.output_format
    if run_.statistics:
        from .formats import statistics_json, statistics_text

        return (statistics_json(report) + "\n" if output_format == "json" else statistics_text(report)), ""
    if output_format == "json":
        return render.to_json(report, command, extra) + "\n", ""
    if output_format == "github":
        text = render.github_annotations(report)
        return (text + "\n" if text else ""), ""
    if output_format == "sarif":
        from .formats import to_sarif

        return to_sarif(report, command) + "\n", ""
    if not run_.quiet:
        return render.plain_text(report, command, elapsed=elapsed, show_fixes=run_.show_fixes, table=run_.verbose), ""
    return "", "".join(f"error: {shown(o.rel)}: {shown(o.error)}\n" for o in report.errors)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sam3d-codemod")
def main() -> None:
    """Rewrite a SAM 3D Objects tree so it runs on PyTorch 2.0 and keeps working on the newest torch.

    \b
    apply PATH   rewrite the tree in place
    diff PATH    print a git-apply-able unified diff, write nothing
    check PATH   CI gate: exit 1 if any rule still has work, a count drifted, or an API is unhandled
    lock PATH    record per-rule site counts for `check --lock`
    verify PATH  import and smoke-test the patched tree under a torch interpreter (--python)
    revert PATH  undo what apply changed, byte for byte
    update PATH  revert, move the submodule to upstream's head (or --rev), apply, check
    gate PATH    check --lock, apply to a copy, verify (the upstream-bump gate)
    status PATH  upstream commit, patched or not, edits since apply, drift, processes running old code
    rules [CODE] list the rules, or explain one
    env PATH     print the install steps for the patched tree (torch held at the target)
    """


def _install_sigterm() -> None:
    # SIGTERM behaves like Ctrl-C: the write in progress finishes or never happens (os.replace).
    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


@main.command()
@common_options
def apply(ctx, **_):
    """Rewrite PATHS in place (only files whose bytes change; atomic writes).

    With PATH '-': read the source from stdin, print the rewritten source on stdout, write nothing."""
    run_ = Run(ctx, "apply")
    if run_.stdin:
        _apply_stdin(run_)
    _install_sigterm()
    from . import applied
    from .lock import TreeLock, TreeLocked

    running = None
    if not run_.quiet:  # the processes that run the code as it is before this write
        from .processes import running_table

        running = running_table()
    try:
        with TreeLock(run_.paths):
            for note in filter(None, (applied.stray_note(Path(p)) for p in run_.paths if os.path.isdir(p))):
                click.echo(note, err=True)
            report, elapsed = _execute(run_, write=True, before_write=applied.record)
            applied.forget_unwritten(report.changed)
    except (TreeLocked, applied.ManifestError) as exc:
        _error(str(exc))
    except KeyboardInterrupt:
        click.echo("sam3d-codemod: interrupted; every file is either unchanged or fully patched", err=True)
        sys.exit(130)
    if any(o.written for o in report.changed) and not run_.quiet:
        from .processes import warn_stale

        warn_stale(run_.paths, running)
    _finish(run_, report, elapsed)


def _apply_stdin(run_: Run) -> None:
    """``apply -``: the rewrite (or the input) on stdout; the report, in any format, on stderr."""
    report, elapsed = _execute(run_)
    outcome = report.outcomes[0]
    missing = report.missing_helper
    if not outcome.error:
        out = sys.stdout.buffer
        out.write(outcome.new if outcome.new is not None else outcome.old)
        out.flush()
    if missing is not None and not run_.quiet:
        click.echo(shown(f"sam3d-codemod: note: the rewrite imports {missing}, which does not exist yet; "
                         f"run `sam3d-codemod apply {outcome.root}` to write it"), err=True)
    _finish(run_, report, elapsed, stream=sys.stderr)


@main.command()
@common_options
def diff(ctx, **_):
    """Print a unified diff of what `apply` would change (git apply accepts it); write nothing.

    Paths in the diff are relative to the tree's root (for a single file: its git work tree)."""
    from .diff import unified_diff

    run_ = Run(ctx, "diff")
    report, elapsed = _execute(run_)
    if run_.output_format == "text" and not run_.statistics:
        out = sys.stdout.buffer
        use_color = run_.color(sys.stdout)
        for outcome in report.changed:
            patch = unified_diff(outcome)
            out.write(_colour(patch) if use_color else patch)
        out.flush()
        if not run_.quiet:
            from . import report as render

            render.print_text(report, "diff", stream=sys.stderr, show_sites=run_.show_fixes, elapsed=elapsed,
                              color=run_.color(sys.stderr), show_fixes=run_.show_fixes, table=run_.verbose)
        sys.exit(report.exit_code)
    _finish(run_, report, elapsed)


@main.command()
@common_options
@click.option("--lock", "lock_file", type=click.Path(dir_okay=False), default=None,
              help="Compare site counts per rule and file with this lock (from `sam3d-codemod lock`); "
                   "pending rewrites that match it are expected (an unpatched upstream tree).")
def check(ctx, lock_file, **_):
    """CI gate. Exit 0 when clean; 1 when a rule has work (without --lock), a site count drifted from
    the lock, or a newer-than-target torch API is unhandled; 2 on errors (e.g. unparsable files).

    Piped to a file, the same check on an unchanged tree replays the recorded result
    (SAM3D_CODEMOD_NO_REPLAY=1 runs it anyway)."""
    from . import inputs, replay

    # What the run reads is noted where it is read (cli/inputs.py), from the config on: replay
    # watches exactly that list. ``taken`` precedes every read: a change after it is never recorded.
    taken = time.time_ns()
    if replay.replayable(sys.argv[1:]):
        inputs.begin()
    run_ = Run(ctx, "check")
    lock = None
    if lock_file is not None:
        from .lockfile import read_lock

        try:
            lock = read_lock(lock_file)
        except ValueError as exc:
            _error(str(exc))
    report, elapsed = _execute(run_, verify=True, lock=lock)
    read = inputs.end()
    # A single file is read with its whole tree (cli/paths.py): only directory runs are recorded.
    recordable = (replay.replayable(sys.argv[1:]) and not run_.stdin and not run_.verbose
                  and not run_.color(sys.stdout) and all(os.path.isdir(p) for p in run_.paths))
    extra = {"drift": report.drift or [], "lock": lock_file}
    if not recordable:
        _finish(run_, report, elapsed, extra=extra)
    out, err = _render(run_, report, replay.ELAPSED, extra)
    tail = f" in {elapsed:.2f}s"
    sys.stdout.write(out.replace(replay.ELAPSED, tail))
    sys.stderr.write(err.replace(replay.ELAPSED, tail))
    replay.record(sys.argv[1:], replay.snapshot(read + _libraries()), taken, out, err, report.exit_code)
    sys.exit(report.exit_code)


def _libraries() -> list:
    """The files of the libraries whose version shapes the output."""
    import importlib.util

    found = []
    for name in ("libcst", "pathspec"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin:
            found.append(spec.origin)
    return found


@main.command()
@common_options
@click.option("--lock", "lock_file", type=click.Path(dir_okay=False), default="sam3d-codemod.lock", show_default=True)
def lock(ctx, lock_file, **_):
    """Record the site count of every rule in every file of PATHS (an unpatched tree) for `check --lock`."""
    from .lockfile import write_lock

    run_ = Run(ctx, "lock")
    if run_.stdin:
        _error("lock reads a tree, not stdin")
    report, elapsed = _execute(run_, verify=True)
    if report.errors:
        _finish(run_, report, elapsed)
    data = write_lock(lock_file, report, run_.paths)
    if not run_.quiet and run_.output_format == "text":
        total = sum(sum(files.values()) for files in data["sites"].values())
        click.echo(f"wrote {shown(lock_file)}: {total} sites in {len({p for f in data['sites'].values() for p in f})} files")
    sys.exit(report.exit_code)


@main.command()
@click.argument("code", required=False)
@click.option("--target-torch", type=TORCH_VERSION, default="2.0", show_default=True)
@click.option("--output-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True,
              help="Colour the table; auto: on a terminal, unless NO_COLOR is set (FORCE_COLOR forces it).")
def rules(code, target_torch, output_format, color):
    """List the rules: code, summary, the error each fixes, and the torch release that no longer needs it.
    With CODE, explain that one (what it fixes, the torch versions, the rule's notes, before/after)."""
    if code is not None:
        from .rule_doc import explain

        out, exit_code = explain(code, target_torch, output_format)
        click.echo(out, nl=False, err=exit_code != 0)
        sys.exit(exit_code)
    from ..codemods.base import parse_version
    from ..codemods.rules import every_rule

    target = parse_version(target_torch)
    items = every_rule()
    if output_format == "json":
        import json

        click.echo(json.dumps([
            {"code": r.code, "name": r.name, "kind": r.kind, "summary": r.summary, "fixes": r.fixes, "fixed_in": r.fixed_in,
             "enabled": r.enabled_for(target) if r.applies else True} for r in items], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"sam3d-codemod rules (target torch {target_torch})")
    for col in ("code", "name", "summary", "fixes", "not needed from", "on"):
        table.add_column(col, overflow="fold")
    for r in items:
        needed = (r.fixed_in or "never") if r.applies else "-"
        table.add_row(r.code, r.name, r.summary, r.fixes or "-", needed, "yes" if not r.applies or r.enabled_for(target) else "no")
    on = use_color(color, sys.stdout)
    Console(highlight=False, force_terminal=on, no_color=not on).print(table)


@main.command()
@click.argument("path", type=click.Path(), required=False)
@click.option("--python", "python", default=None, help="Interpreter of the environment to verify (it needs torch). [default: this one]")
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default="auto", show_default=True,
              help="Where the smoke checks run; auto uses CUDA when that torch sees a GPU.")
@click.option("--output-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--sys-path", "sys_path", multiple=True, type=click.Path(exists=True, file_okay=False),
              help="Extra directory put before the tree on the probe's sys.path.")
@click.option("--stand-ins", "stand_ins", is_flag=True,
              help="Make up CUDA-only/git-only/heavy packages that are not installed (spconv, pytorch3d, gsplat, moge, utils3d, "
                   "open3d, pyvista) so the modules importing them load; a check that calls one is skipped, never passed.")
@click.option("--stand-in", "stand_in", multiple=True, metavar="PKG",
              help="Another package to stand in for where it is not installed (implies --stand-ins).")
@click.option("--print-requirements", "print_requirements", is_flag=True,
              help="Print the pip requirements verify needs for every check (with --torch: torch/torchvision/numpy pinned) and exit.")
@click.option("--torch", "torch_version", default="", metavar="X.Y.Z", help="With --print-requirements: the torch release to pin.")
@click.option("--timeout", type=float, default=300.0, show_default=True, help="Seconds allowed to each import or check.")
@click.option("-v", "--verbose", is_flag=True, help="List every module, not only the failures.")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True,
              help="Colour the table; auto: on a terminal, unless NO_COLOR is set (FORCE_COLOR forces it).")
def verify(path, python, device, output_format, sys_path, stand_ins, stand_in, print_requirements, torch_version, timeout, verbose,
           color):
    """Import every module of PATH and run the 13 smoke checks under PYTHON's torch (never in this process).

    \b
    Exit status:
      0  every module imported, every check that applies to the tree ran and passed
      1  failures remain (torch API: a patch bug or an unpatched tree; error: a tree bug)
      2  nothing could be verified (bad PATH, no torch in PYTHON, --device cuda without CUDA, nothing ran)
      3  incomplete: no failure, but a module or check was skipped for a missing package ("skipped (needs X)")
    A check whose code the tree does not have is N/A (does not apply), not a skip.
    `--print-requirements --torch 2.0.0` gives the pip install line for a complete run.
    """
    from . import verify as verifier

    if print_requirements:
        from .verify_requirements import all_requirements

        try:
            click.echo("\n".join(all_requirements(torch_version, Path(path) if path else None)))
        except ValueError as exc:
            click.echo(f"sam3d-codemod: error: {exc}", err=True)
            sys.exit(EXIT_ERROR)
        return
    if not path:
        click.echo("sam3d-codemod: error: verify needs PATH (or --print-requirements)", err=True)
        sys.exit(EXIT_ERROR)
    from .progress import progress_bar

    update, bar = progress_bar(output_format != "text", "verifying", min_total=1)
    try:
        report, code = verifier.verify(path, python, device, sys_path, timeout, stand_ins=stand_ins or bool(stand_in),
                                       extra_stand_ins=stand_in, progress=update)
    except verifier.VerifyError as exc:
        if output_format == "json":
            import json

            click.echo(json.dumps({"command": "verify", "exit_code": EXIT_ERROR, "error": str(exc)}, indent=2))
        else:
            click.echo(f"sam3d-codemod: error: {shown(exc)}", err=True)
        sys.exit(EXIT_ERROR)
    finally:
        if bar is not None:
            bar.stop()
    if output_format == "json":
        click.echo(verifier.to_json(report, code))
    else:
        verifier.render_text(report, code, verbose=verbose, color=use_color(color, sys.stdout))
    sys.exit(code)


# The commands defined in their own modules: env (the install plan), status, and the upstream-bump commands.
for _command in (revert, update, gate, env, _status_command()):
    main.add_command(_command)


if __name__ == "__main__":  # pragma: no cover
    main()

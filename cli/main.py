"""The ``sam3d-codemod`` command line. Exit codes: 0 clean, 1 changes pending / unhandled / drift, 2 error."""
from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import List

import click

from .. import __version__

EXIT_CLEAN, EXIT_PENDING, EXIT_ERROR = 0, 1, 2


def _split(values) -> List[str]:
    out = []
    for v in values or ():
        out += [p for p in str(v).replace(" ", ",").split(",") if p]
    return out


def _pyproject_candidates(paths):
    """``pyproject.toml`` paths from the first PATH up, to the first that exists (all if none does)."""
    start = Path(paths[0]).resolve() if paths else Path.cwd()
    if start.is_file():
        start = start.parent
    for d in [start, *start.parents]:
        candidate = d / "pyproject.toml"
        yield candidate
        if candidate.is_file():
            return


def load_config(paths) -> dict:
    """``[tool.sam3d-codemod]`` from the nearest pyproject.toml at or above the first PATH."""
    for candidate in _pyproject_candidates(paths):
        if candidate.is_file():
            try:
                import tomllib
            except ImportError:  # Python < 3.11
                import tomli as tomllib
            try:
                data = tomllib.loads(candidate.read_text(encoding="utf-8"))
            except Exception as exc:
                raise click.UsageError(f"{candidate}: invalid TOML: {exc}")
            config = data.get("tool", {}).get("sam3d-codemod", {})
            unknown = set(config) - {"select", "ignore", "target-torch", "exclude", "jobs", "max-file-size"}
            if unknown:
                raise click.UsageError(f"{candidate}: unknown [tool.sam3d-codemod] keys: {', '.join(sorted(unknown))}")
            return config
    return {}


def common_options(fn):
    options = [
        click.argument("paths", nargs=-1, required=True, type=click.Path()),
        click.option("--select", multiple=True, help="Rule codes or prefixes to run (e.g. TC003,TC005). Default: all."),
        click.option("--ignore", multiple=True, help="Rule codes or prefixes to skip."),
        click.option("--target-torch", default=None, help="Oldest torch to support; rules fixed at or before it are off. [default: 2.0]"),
        click.option("--output-format", type=click.Choice(["text", "json", "github"]), default="text", show_default=True),
        click.option("-j", "--jobs", type=int, default=None, help="Worker processes. [default: CPU count]"),
        click.option("--exclude", multiple=True, help="Gitignore-style patterns to skip (on top of .gitignore)."),
        click.option("--max-file-size", type=int, default=None, help="Skip .py files over this many bytes, with an error. [default: 4 MB]"),
        click.option("-q", "--quiet", is_flag=True, help="Only errors and the exit code."),
        click.option("--no-cache", is_flag=True, help="Ignore and don't write .sam3d-codemod-cache/ (per-file results)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _options(paths, select, ignore, target_torch, jobs, exclude, max_file_size, no_cache=False):
    from .runner import Options

    config = load_config(paths)
    return Options(
        select=_split(select) or _split(config.get("select", [])),
        ignore=_split(ignore) or _split(config.get("ignore", [])),
        target=target_torch or str(config.get("target-torch", "2.0")),
        jobs=jobs if jobs is not None else int(config.get("jobs", os.cpu_count() or 1)),
        exclude=list(exclude) + list(config.get("exclude", [])),
        max_bytes=max_file_size or int(config.get("max-file-size", 4 * 1024 * 1024)),
        cache=not no_cache,
    )


def _progress_callback(quiet: bool):
    if quiet or not sys.stderr.isatty():
        return None, None
    from rich.progress import Progress

    progress = Progress(transient=True, console=None)
    task = {"id": None}

    def update(done: int, total: int) -> None:
        if total < 50:
            return
        if task["id"] is None:
            progress.start()
            task["id"] = progress.add_task("transforming", total=total)
        progress.update(task["id"], completed=done)

    return update, progress


def _execute(command: str, paths, select, ignore, target_torch, output_format, jobs, exclude, max_file_size, quiet, write=False, verify=False,
             before_write=None):
    import gc

    from .runner import UsageError, run

    # Parsing allocates millions of short-lived, acyclic nodes: collecting every 700 allocations
    # costs ~10% of a run. Workers fork from here and inherit the setting.
    gc.set_threshold(50_000, 20, 20)
    start = time.perf_counter()
    try:
        options = _options(paths, select, ignore, target_torch, jobs, exclude, max_file_size,
                           click.get_current_context().params.get("no_cache", False) or command == "diff")
        update, progress = _progress_callback(quiet or output_format != "text")
        try:
            report = run(paths, options, write=write, progress=update, verify=verify, before_write=before_write)
        finally:
            if progress is not None:
                progress.stop()
    except UsageError as exc:
        click.echo(f"sam3d-codemod: error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    return report, time.perf_counter() - start


def _finish(report, command, exit_code, output_format, quiet, elapsed, extra=None):
    if output_format == "text" and not quiet:
        from . import report as render

        render.print_text(report, command, elapsed=elapsed)  # rich on a terminal, else plain text
    else:
        out, err = _render(report, command, exit_code, output_format, quiet, elapsed, extra)
        click.echo(out, nl=False)
        click.echo(err, nl=False, err=True)
    sys.exit(exit_code)


def _render(report, command, exit_code, output_format, quiet, elapsed, extra=None):
    """(stdout, stderr) as ``_finish`` prints them to a pipe or file."""
    from . import report as render

    if output_format == "json":
        return render.to_json(report, command, exit_code, extra) + "\n", ""
    if output_format == "github":
        text = render.github_annotations(report)
        return (text + "\n" if text else ""), ""
    if not quiet:
        return render.plain_text(report, command, elapsed=elapsed), ""
    return "", "".join(f"error: {render.shown(o.rel)}: {render.shown(o.error)}\n" for o in report.errors)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
    rules [CODE] list the rules, or explain one
    """


def _install_sigterm() -> None:
    # SIGTERM behaves like Ctrl-C: the write in progress finishes or never happens (os.replace).
    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


@main.command()
@common_options
def apply(paths, select, ignore, target_torch, output_format, jobs, exclude, max_file_size, quiet, no_cache):
    """Rewrite PATHS in place (only files whose bytes change; atomic writes)."""
    _install_sigterm()
    from .lock import TreeLock, TreeLocked

    try:
        with TreeLock(paths):
            from . import applied

            report, elapsed = _execute("apply", paths, select, ignore, target_torch, output_format, jobs, exclude, max_file_size, quiet,
                                       write=True, before_write=applied.record)
            applied.forget_unwritten(report.changed)
    except TreeLocked as exc:
        click.echo(f"sam3d-codemod: error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        click.echo("sam3d-codemod: interrupted; every file is either unchanged or fully patched", err=True)
        sys.exit(130)
    code = EXIT_ERROR if report.errors else (EXIT_PENDING if report.unhandled else EXIT_CLEAN)
    _finish(report, "apply", code, output_format, quiet, elapsed)


@main.command()
@common_options
@click.option("--color/--no-color", default=None, help="Colour the diff. [default: on a TTY]")
def diff(paths, select, ignore, target_torch, output_format, jobs, exclude, max_file_size, quiet, no_cache, color):
    """Print a unified diff of what `apply` would change (git apply accepts it); write nothing."""
    from .runner import unified_diff

    report, elapsed = _execute("diff", paths, select, ignore, target_torch, output_format, jobs, exclude, max_file_size, quiet)
    code = EXIT_ERROR if report.errors else (EXIT_PENDING if report.changed else EXIT_CLEAN)
    if output_format == "text":
        out = sys.stdout.buffer
        use_color = sys.stdout.isatty() if color is None else color
        for outcome in report.changed:
            patch = unified_diff(outcome)
            out.write(_colour(patch) if use_color else patch)
        out.flush()
        if not quiet:
            from . import report as render

            render.print_text(report, "diff", stream=sys.stderr, show_sites=False, elapsed=elapsed)
        sys.exit(code)
    _finish(report, "diff", code, output_format, quiet, elapsed)


def _colour(patch: bytes) -> bytes:
    out = []
    for line in patch.splitlines(keepends=True):
        if line.startswith((b"+++", b"---")):
            out.append(b"\x1b[1m" + line.rstrip(b"\r\n") + b"\x1b[0m" + line[len(line.rstrip(b"\r\n")):])
        elif line.startswith(b"+"):
            out.append(b"\x1b[32m" + line.rstrip(b"\r\n") + b"\x1b[0m" + line[len(line.rstrip(b"\r\n")):])
        elif line.startswith(b"-"):
            out.append(b"\x1b[31m" + line.rstrip(b"\r\n") + b"\x1b[0m" + line[len(line.rstrip(b"\r\n")):])
        elif line.startswith(b"@@"):
            out.append(b"\x1b[36m" + line.rstrip(b"\r\n") + b"\x1b[0m" + line[len(line.rstrip(b"\r\n")):])
        else:
            out.append(line)
    return b"".join(out)


@main.command()
@common_options
@click.option("--lock", "lock_file", type=click.Path(dir_okay=False), default=None,
              help="Compare site counts per rule and file with this lock (from `sam3d-codemod lock`); "
                   "pending rewrites that match it are expected (an unpatched upstream tree).")
def check(paths, select, ignore, target_torch, output_format, jobs, exclude, max_file_size, quiet, no_cache, lock_file):
    """CI gate. Exit 0 when clean; 1 when a rule has work (without --lock), a site count drifted from
    the lock, or a newer-than-target torch API is unhandled; 2 on errors (e.g. unparsable files).

    Piped to a file, the same check on an unchanged tree replays the recorded result
    (SAM3D_CODEMOD_NO_REPLAY=1 runs it anyway)."""
    lock = None
    if lock_file is not None:
        from .lockfile import read_lock

        try:
            lock = read_lock(lock_file)
        except ValueError as exc:
            click.echo(f"sam3d-codemod: error: {exc}", err=True)
            sys.exit(EXIT_ERROR)
    from . import replay

    watched = _read_by(paths, lock_file) if replay.replayable(sys.argv[1:]) else None
    taken = time.time_ns()
    before = replay.snapshot(watched) if watched is not None else None
    report, elapsed = _execute("check", paths, select, ignore, target_torch, output_format, jobs, exclude, max_file_size, quiet, verify=True)
    drift = []
    if lock is not None:
        from .lockfile import compare

        drift = compare(lock, report, paths)
    pending = bool(report.changed) and lock is None
    code = EXIT_ERROR if report.errors else (EXIT_PENDING if pending or report.unhandled or drift else EXIT_CLEAN)
    lines = []
    if drift and output_format == "text":
        from .report import shown

        for d in drift:
            lines.append(f"drift: {d['code']} {shown(d['path'])}: {d['locked']} in the lock, {d['found']} now; "
                         "run `sam3d-codemod lock` to accept\n")
    elif drift and output_format == "github":
        from .report import _prop as render_prop

        for d in drift:
            lines.append(f"::error file={render_prop(d['path'])},title={d['code']} drift::{d['locked']} in the lock, {d['found']} now; "
                         "run `sam3d-codemod lock` to accept (after reviewing the upstream change)\n")
    extra = {"drift": drift, "lock": lock_file}
    if lock is not None:
        report.drift = drift  # counted in the summary line
    for line in lines:
        click.echo(line, nl=False)
    if watched is None:
        _finish(report, "check", code, output_format, quiet, elapsed, extra=extra)
    out, err = _render(report, "check", code, output_format, quiet, replay.ELAPSED, extra)
    tail = f" in {elapsed:.2f}s"
    sys.stdout.write(out.replace(replay.ELAPSED, tail))
    sys.stderr.write(err.replace(replay.ELAPSED, tail))
    if replay.snapshot(watched) == before:  # nothing changed while it ran: the output matches these keys
        replay.record(sys.argv[1:], before, taken, "".join(lines) + out, err, code)
    sys.exit(code)


def _read_by(paths, lock_file) -> list:
    """Every path a run could have read beyond the walked trees: config files (also where none
    was found, so that a new one counts), the lock, and the libraries whose version shapes output."""
    import importlib.util

    extra = ([lock_file] if lock_file else []) + [str(p) for p in _pyproject_candidates(paths)]
    for name in ("libcst", "pathspec"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin:
            extra.append(spec.origin)
    from . import replay

    return replay.watched_paths(paths, extra)


@main.command()
@common_options
@click.option("--lock", "lock_file", type=click.Path(dir_okay=False), default="sam3d-codemod.lock", show_default=True)
def lock(paths, select, ignore, target_torch, output_format, jobs, exclude, max_file_size, quiet, no_cache, lock_file):
    """Record the site count of every rule in every file of PATHS (an unpatched tree) for `check --lock`."""
    from .lockfile import write_lock

    report, elapsed = _execute("lock", paths, select, ignore, target_torch, output_format, jobs, exclude, max_file_size, quiet, verify=True)
    if report.errors:
        _finish(report, "lock", EXIT_ERROR, output_format, quiet, elapsed)
    data = write_lock(lock_file, report, paths)
    if not quiet and output_format == "text":
        total = sum(sum(files.values()) for files in data["sites"].values())
        click.echo(f"wrote {lock_file}: {total} sites in {len({p for f in data['sites'].values() for p in f})} files")
    sys.exit(EXIT_CLEAN)


@main.command()
@click.argument("code", required=False)
@click.option("--target-torch", default="2.0", show_default=True)
@click.option("--output-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
def rules(code, target_torch, output_format):
    """List the rules: code, summary, the error each fixes, and the torch release that no longer needs it.
    With CODE, explain that one (what it fixes, the torch versions, the rule's notes, before/after)."""
    if code is not None:
        from .rule_doc import explain

        out, exit_code = explain(code, target_torch, output_format)
        click.echo(out, nl=False, err=exit_code != 0)
        sys.exit(exit_code)
    from ..codemods.base import all_rules, parse_version

    target = parse_version(target_torch)
    items = all_rules()
    if output_format == "json":
        import json

        click.echo(json.dumps([
            {"code": r.code, "name": r.name, "summary": r.summary, "fixes": r.fixes, "fixed_in": r.fixed_in,
             "enabled": r.enabled_for(target)} for r in items], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"sam3d-codemod rules (target torch {target_torch})")
    for col in ("code", "name", "summary", "fixes", "not needed from", "on"):
        table.add_column(col, overflow="fold")
    for r in items:
        table.add_row(r.code, r.name, r.summary, r.fixes, r.fixed_in or "never", "yes" if r.enabled_for(target) else "no")
    Console(highlight=False).print(table)


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
def verify(path, python, device, output_format, sys_path, stand_ins, stand_in, print_requirements, torch_version, timeout, verbose):
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
            click.echo("\n".join(all_requirements(torch_version)))
        except ValueError as exc:
            click.echo(f"sam3d-codemod: error: {exc}", err=True)
            sys.exit(EXIT_ERROR)
        return
    if not path:
        click.echo("sam3d-codemod: error: verify needs PATH (or --print-requirements)", err=True)
        sys.exit(EXIT_ERROR)
    try:
        report, code = verifier.verify(path, python, device, sys_path, timeout, stand_ins=stand_ins or bool(stand_in), extra_stand_ins=stand_in)
    except verifier.VerifyError as exc:
        if output_format == "json":
            import json

            click.echo(json.dumps({"command": "verify", "exit_code": EXIT_ERROR, "error": str(exc)}, indent=2))
        else:
            click.echo(f"sam3d-codemod: error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    if output_format == "json":
        click.echo(verifier.to_json(report, code))
    else:
        verifier.render_text(report, code, verbose=verbose)
    sys.exit(code)


from .workflow import gate, revert, update  # noqa: E402  (the upstream-bump commands, cli/workflow.py)

for _command in (revert, update, gate):
    main.add_command(_command)


if __name__ == "__main__":  # pragma: no cover
    main()

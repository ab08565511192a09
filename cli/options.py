"""The options that apply, diff, check and lock share, how they resolve over the config
(``Run``), colour, and the one-line usage errors of the command group."""
from __future__ import annotations

import os
import sys
from typing import NoReturn

import click

from .config import CUDA_VERSION, TORCH_VERSION
from .escape import shown
from .exits import EXIT_ERROR


class _Group(click.Group):
    """Usage errors (a bad option value, an unknown option) as one line with exit 2, like every
    other error of the tool; --help and the rest of click's behaviour unchanged."""

    def main(self, *args, **kwargs):
        if not kwargs.get("standalone_mode", True):
            return super().main(*args, **kwargs)
        kwargs["standalone_mode"] = False
        try:
            rv = super().main(*args, **kwargs)
        except click.UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # bare `sam3d-codemod`: the help, as click shows it
                exc.show()
                sys.exit(exc.exit_code)
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            click.echo(f"sam3d-codemod: error: {shown(exc.format_message())}{hint}", err=True)
            sys.exit(EXIT_ERROR)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


def _error(message: str) -> NoReturn:
    """One line, whatever the message holds (file names and config values come from the tree)."""
    click.echo(f"sam3d-codemod: error: {shown(message)}", err=True)
    sys.exit(EXIT_ERROR)


def common_options(fn):
    options = [
        click.argument("paths", nargs=-1, required=True, type=click.Path()),
        click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
                     help="Read [tool.sam3d-codemod] from this file instead of the nearest pyproject.toml that has the table."),
        click.option("--isolated", is_flag=True, help="Read no configuration file."),
        click.option("--select", multiple=True,
                     help="Rule codes or prefixes to run (e.g. TC003,TC005); replaces the config's select. [default: all]"),
        click.option("--ignore", multiple=True, help="Rule codes or prefixes to skip; replaces the config's ignore."),
        click.option("--target-torch", type=TORCH_VERSION, default="2.0", show_default=True,
                     help="Oldest torch to support (2.0 to 2.13); rules fixed at or before it are off."),
        click.option("--target-cuda", type=CUDA_VERSION, default=None,
                     help="CUDA of the target environment, for the requirement pins (TP rules). "
                          "[default: the pin table's, 11.8 for torch 2.0]"),
        click.option("--output-format", type=click.Choice(["text", "json", "github", "sarif"]), default="text",
                     show_default=True),
        click.option("-j", "--jobs", type=click.IntRange(min=1), default=None, help="Worker processes. [default: CPU count]"),
        click.option("--exclude", multiple=True,
                     help="Gitignore-style patterns to skip (on top of .gitignore); replaces the config's exclude."),
        click.option("--extend-exclude", multiple=True, help="Patterns to skip in addition to --exclude and the config's exclude."),
        click.option("--force-exclude", is_flag=True,
                     help="Apply .gitignore and --exclude to the PATHS named too (for pre-commit's file lists); "
                          "without it a named path is always processed."),
        click.option("--max-file-size", type=click.IntRange(min=1), default=None,
                     help="Skip .py files over this many bytes, with an error. [default: 4 MB]"),
        click.option("--stdin-filename", default=None,
                     help="With PATH '-': where the source read from stdin lives (its tree, config, report name)."),
        click.option("--statistics", is_flag=True, help="Only the number of sites per rule (most first)."),
        click.option("--show-fixes", is_flag=True, help="List every site a rewrite patches (check lists them anyway)."),
        click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True,
                     help="Colour the output; auto: on a terminal, unless NO_COLOR is set (FORCE_COLOR forces it)."),
        click.option("--no-color", "no_color", is_flag=True, hidden=True, help="Same as --color never (Black's spelling)."),
        click.option("-v", "--verbose", is_flag=True,
                     help="Also say which config was read, the settings, each file with sites, and the per-rule table."),
        click.option("-q", "--quiet", is_flag=True, help="Only errors and the exit code."),
        click.option("--no-cache", is_flag=True, help="Ignore and don't write .sam3d-codemod-cache/ (per-file results)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return click.pass_context(fn)


def use_color(choice: str, stream) -> bool:
    """--color always/never; auto: NO_COLOR (non-empty) turns it off, FORCE_COLOR (non-empty) on, else a TTY."""
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _check_cuda(torch_line: str, cuda: str) -> None:
    """A CUDA asked for by name that the pin table lacks for the target torch is an error: the pins
    would otherwise go unchecked with only a note. A torch line without a table keeps its note."""
    from ..codemods.pins.table import TableError, load_target, targets

    if torch_line not in targets():
        return
    try:
        load_target(torch_line, cuda)
    except TableError as exc:
        _error(f"--target-cuda {cuda}: {exc}")


class Run:
    """One command's resolved settings: the command line over the config."""

    def __init__(self, ctx: click.Context, command: str) -> None:
        from . import config

        self.command = command
        p = ctx.params
        self.paths = tuple(p["paths"])
        self.stdin = self.paths == ("-",)
        if "-" in self.paths and not self.stdin:
            _error("'-' (stdin) cannot be combined with other paths")
        if p.get("stdin_filename") and not self.stdin:
            _error("--stdin-filename needs '-' as the PATH")
        notes: list = []
        try:
            self.config_path, params = config.resolve(ctx, self.paths, p.get("config_file"), p.get("isolated", False),
                                                      p.get("stdin_filename"), notes)
        except config.ConfigError as exc:
            _error(str(exc))
        for note in notes:  # a tree's own config that tried to weaken the consumer's
            click.echo(note, err=True)
        self.params = params
        self.output_format = params["output_format"]
        self.quiet = params["quiet"]
        self.verbose = params["verbose"] and not self.quiet
        self.statistics = params["statistics"]
        self.show_fixes = params["show_fixes"]
        self.color_choice = "never" if params.get("no_color") else params["color"]
        if self.statistics and self.output_format not in ("text", "json"):
            _error("--statistics works with --output-format text or json")

    def options(self):
        from ..codemods.engine.bounded_read import DEFAULT_MAX_BYTES
        from .config import split_codes
        from .settings import Options

        p = self.params
        if p.get("target_cuda"):
            _check_cuda(p["target_torch"], p["target_cuda"])
        cpus = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
        return Options(
            select=split_codes(p["select"]),
            ignore=split_codes(p["ignore"]),
            target=p["target_torch"],
            # Never more workers than CPUs, whoever asks (a value from anywhere is a fork bomb otherwise).
            jobs=min(p["jobs"] or cpus, cpus),
            exclude=list(p["exclude"]) + list(p["extend_exclude"]),
            max_bytes=p["max_file_size"] or DEFAULT_MAX_BYTES,
            cache=not p["no_cache"] and self.command != "diff",
            cuda=p.get("target_cuda"),
            force_exclude=bool(p.get("force_exclude")),
        )

    def color(self, stream) -> bool:
        return use_color(self.color_choice, stream)

    def say_settings(self, options) -> None:
        if not self.verbose:
            return
        click.echo(f"config: {shown(self.config_path or 'none')}", err=True)
        click.echo(shown(f"settings: select={','.join(options.select) or 'all'} ignore={','.join(options.ignore) or '-'} "
                         f"target-torch={options.target} jobs={options.jobs} exclude={','.join(options.exclude) or '-'}"),
                   err=True)


_DIFF_STYLES = ((b"+++", {"bold": True}), (b"---", {"bold": True}), (b"+", {"fg": "green"}), (b"-", {"fg": "red"}),
                (b"@@", {"fg": "cyan"}))


def _colour(patch: bytes) -> bytes:
    """ANSI colours through click.style; the file's own bytes (any encoding) pass through latin-1 unchanged."""
    out = []
    for line in patch.splitlines(keepends=True):
        body = line.rstrip(b"\r\n")
        style = next((st for prefix, st in _DIFF_STYLES if line.startswith(prefix)), None)
        if style is None:
            out.append(line)
        else:
            out.append(click.style(body.decode("latin-1"), **style).encode("latin-1") + line[len(body):])
    return b"".join(out)



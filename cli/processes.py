"""Running processes that loaded code from a tree: after `apply`, `revert` or `update` they still
run the old code until restarted (the GUI's web app is the usual one), so they are named.

A Python process counts when it runs a script inside the tree (``python web_app.py``, an argument
that resolves inside it from the process's working directory), runs ``-m MOD`` where MOD is a
package or module of the tree on its path (its working directory, or ``PYTHONPATH``), or has the
tree (or a folder inside it) on ``PYTHONPATH``. Anything else, a Python process elsewhere or a
program that only names a file of the tree, is not named. Other sam3d-codemod processes, this
one and its parents are never named. psutil reads the process table (Linux, macOS); it is
imported only by the commands that call this module, never by `check`.

"Before the change" is decided without the wall clock where possible: `apply` and `revert` take
the table (pid and start stamp) before they write, and name only processes in it. `status` knows
only the record's write time; it compares it with start stamps on the kernel's boot clock, since
a wall-clock start time is the boot time (whole seconds, and stepped with the clock of a VM
restored from a snapshot) plus ticks, and can land seconds after the true start.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import List, Optional, Sequence, Set

from .escape import shown

MAX_SHOWN_CMDLINE = 200
TOOL_SCRIPTS = ("sam3d-codemod", "sam3d-codemod.exe")


@dataclass
class StaleProcess:
    pid: int
    cmdline: List[str]
    started: float  # seconds since the epoch

    def describe(self) -> str:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        command = shown(" ".join(self.cmdline))
        if len(command) > MAX_SHOWN_CMDLINE:
            command = command[: MAX_SHOWN_CMDLINE - 3] + "..."
        return f"pid {self.pid}, running since {started}: {command}"


def _inside(path: str, trees: Sequence[str]) -> bool:
    real = os.path.realpath(path)
    return any(real == t or real.startswith(t + os.sep) for t in trees)


def _is_python(name: str, cmdline: List[str]) -> bool:
    first = os.path.basename(cmdline[0]) if cmdline else ""
    return any(n.startswith(("python", "pypy")) for n in (name or "", first))


def _module_arg(cmdline: List[str]) -> Optional[str]:
    for i, arg in enumerate(cmdline[1:], 1):
        if arg == "-m" and i + 1 < len(cmdline):
            return cmdline[i + 1]
        if arg.startswith("-m") and len(arg) > 2:
            return arg[2:]
    return None


def _is_this_tool(cmdline: List[str]) -> bool:
    """Another run of this tool: its console script, or ``-m sam3d_codemod...``. Only those two
    are matched: an interpreter that merely lives under a folder named for the tool (its default
    cache holds a virtual environment) runs other programs too."""
    module = _module_arg(cmdline)
    if module is not None and module.split(".")[0] == "sam3d_codemod":
        return True
    return any(os.path.basename(arg) in TOOL_SCRIPTS for arg in cmdline[:2])


def _loads_from(cmdline: List[str], cwd: Optional[str], pythonpath: str, trees: Sequence[str]) -> bool:
    if _is_this_tool(cmdline):
        return False  # another run of this tool reads the tree, it does not run it
    for arg in cmdline[1:]:
        if arg.startswith("-") or not arg.endswith(".py"):
            continue
        path = arg if os.path.isabs(arg) or cwd is None else os.path.join(cwd, arg)
        if _inside(path, trees):
            return True
    search = [p for p in pythonpath.split(os.pathsep) if p]
    if any(_inside(p if os.path.isabs(p) or cwd is None else os.path.join(cwd, p), trees) for p in search):
        return True
    module = _module_arg(cmdline)
    if module and cwd is not None:
        top = module.split(".")[0]
        for folder in [cwd] + search:
            for candidate in (os.path.join(folder, top), os.path.join(folder, top + ".py")):
                if os.path.exists(candidate) and _inside(candidate, trees):
                    return True
    return False


def _since_boot(pid: int) -> Optional[float]:
    """When ``pid`` started, in seconds on the kernel's boot clock (Linux); None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        return int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22, starttime, in clock ticks
    except (OSError, IndexError, ValueError):
        return None


def _started_before(proc, before: float) -> bool:
    boot_start = _since_boot(proc.pid) if hasattr(time, "CLOCK_BOOTTIME") else None
    if boot_start is None:
        return proc.create_time() < before
    return boot_start < time.clock_gettime(time.CLOCK_BOOTTIME) - (time.time() - before)


def running_table() -> Optional[Set[object]]:
    """Every process now, so that those started later can be told apart; None without psutil.
    psutil's Process compares by pid and start time on the boot clock, so a pid reused by a new
    process is not in the table."""
    try:
        import psutil
    except ImportError:
        return None
    return set(psutil.process_iter())


def stale_processes(paths: Sequence[str], before: Optional[float] = None,
                    running_before: Optional[Set[object]] = None) -> List[StaleProcess]:
    """Python processes that loaded code from any of ``paths`` and were running before the change:
    those of ``running_before`` (a ``running_table()`` taken then) or, without one, those started
    before ``before`` (seconds since the epoch)."""
    import psutil

    trees = [os.path.realpath(p if os.path.isdir(p) else os.path.dirname(os.path.abspath(p))) for p in paths]
    mine = {os.getpid()}
    try:
        mine.update(p.pid for p in psutil.Process().parents())
    except psutil.Error:
        pass
    found = []
    for proc in psutil.process_iter(["pid", "name", "cmdline", "create_time"]):
        info = proc.info
        cmdline = info.get("cmdline") or []
        if info["pid"] in mine or not _is_python(info.get("name") or "", cmdline):
            continue
        if running_before is not None and proc not in running_before:
            continue  # started after the change (or a new process under a reused pid)
        try:
            if running_before is None and before is not None and not _started_before(proc, before):
                continue
        except psutil.Error:
            continue
        try:
            cwd: Optional[str] = proc.cwd()
        except psutil.Error:
            cwd = None
        try:
            pythonpath = proc.environ().get("PYTHONPATH", "")
        except psutil.Error:
            pythonpath = ""
        if _loads_from(cmdline, cwd, pythonpath, trees):
            found.append(StaleProcess(info["pid"], cmdline, info.get("create_time") or 0.0))
    return sorted(found, key=lambda p: p.pid)


def stale_lines(paths: Sequence[str], running_before: Optional[Set[object]]) -> List[str]:
    """The warning, one line per process; [] when there is none (or psutil is missing)."""
    if running_before is None:  # running_table() found no psutil
        return ["sam3d-codemod: note: cannot list running processes (psutil is not installed)"]
    stale = stale_processes(paths, running_before=running_before)
    if not stale:
        return []
    what = "1 running process loaded" if len(stale) == 1 else f"{len(stale)} running processes loaded"
    them = "it" if len(stale) == 1 else "them"
    return ([f"sam3d-codemod: warning: {what} code from this tree before the change and still runs "
             f"the old code; restart {them}:"] + [f"  {p.describe()}" for p in stale])


def warn_stale(paths: Sequence[str], running_before: Optional[Set[object]]) -> None:
    import click

    for line in stale_lines(paths, running_before):
        click.echo(line, err=True)

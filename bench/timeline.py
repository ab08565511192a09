"""Who does what when in one cold ``check``: a timeline per process (main, first worker, siblings).

    python bench/timeline.py PATH [-j N]

Runs ``sam3d-codemod check PATH --no-cache -q`` in this process with the file jobs and the
workers' warm-up wrapped by timers (CLOCK_MONOTONIC, shared by the forked workers), then prints,
per process, when its first and last job ended, its job time, and the warm-up. The per-phase
profile of a single process is bench/profile_phases.py.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from collections import defaultdict

T0 = time.monotonic()


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    log_fd, log = tempfile.mkstemp(prefix="sam3d-timeline-")
    os.close(log_fd)

    def note(line: str) -> None:
        with open(log, "a") as out:  # one small append per event: whole lines from every process
            out.write(f"{(time.monotonic() - T0) * 1000:.1f} {os.getpid()} {line}\n")

    import sam3d_codemod.cli.runner as runner

    note("imported")
    transform_file, warm_up = runner.transform_file, runner._warm_up

    def timed_job(job):
        start = time.monotonic()
        try:
            return transform_file(job)
        finally:
            note(f"job {'heavy' if job.codes else 'light'} {(time.monotonic() - start) * 1000:.1f}")

    def timed_warm_up():
        note("warm-up start")
        warm_up()
        note("warm-up end")

    runner.transform_file, runner._warm_up = timed_job, timed_warm_up
    from sam3d_codemod.cli.main import main as cli_main

    try:
        cli_main(["check", *args, "--no-cache", "-q"])  # --no-cache: no replay either
    except SystemExit:
        pass
    note("exit")
    per: dict = defaultdict(lambda: {"jobs": 0, "ms": 0.0, "first": None, "last": None, "kinds": set()})
    with open(log) as events:
        lines = [line.split() for line in events]
    os.unlink(log)
    for stamp, pid, what, *rest in lines:
        if what == "job":
            p = per[pid]
            p["jobs"] += 1
            p["ms"] += float(rest[1])
            p["kinds"].add(rest[0])
            p["first"] = p["first"] or float(stamp)
            p["last"] = float(stamp)
        else:
            print(f"{float(stamp):8.1f} ms  pid {pid}  {what} {' '.join(rest)}")
    for pid, p in per.items():
        print(f"pid {pid}: {p['jobs']} {'/'.join(sorted(p['kinds']))} jobs, {p['ms']:.0f} ms in jobs, "
              f"first ended at {p['first']:.0f} ms, last at {p['last']:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""WarmPool: heavy jobs in forked workers that warmed up once, light jobs here, nothing lost."""
import os
import shutil
import signal
import time

import pytest

from sam3d_codemod.cli import pool as pool_module
from sam3d_codemod.cli import runner
from sam3d_codemod.cli.pool import WarmPool

from ..reliability.helpers import SAMPLE

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs fork and /proc")

WARMED = []


def warm_up():
    WARMED.append(os.getpid())


def work(job):
    name, action, payload = job
    if action == "die":
        os._exit(3)
    if action == "slow":
        time.sleep(0.2)
    return (name, os.getpid(), list(WARMED), len(payload), payload[-5:])


def died(job):
    return (job[0], "died")


def job(name, size=10, action=""):
    """(name, action, payload): the pool sorts by len(job[2]), as by a file's bytes in the runner."""
    return (name, action, b"x" * (size - len(name)) + name.encode())


def gone(pid):
    return not os.path.exists(f"/proc/{pid}")


def run_pool(heavy, light, workers=2):
    p = WarmPool(workers, warm_up, work)
    try:
        return p, list(p.run(heavy, light, died))
    finally:
        p.close()


def test_heavy_in_warm_workers_light_here():
    heavy = [job(f"h{i:03d}", size=100 + i) for i in range(12)]
    light = [job(f"l{i:03d}") for i in range(5)]
    p, out = run_pool(heavy, light)
    by_name = {o[0]: o for o in out}
    assert sorted(by_name) == sorted(j[0] for j in heavy + light) and len(out) == 17
    here = os.getpid()
    worker_pids = {by_name[j[0]][1] for j in heavy}
    assert here not in worker_pids and 1 <= len(worker_pids) <= 2
    for j in heavy:  # warm_up ran once, in the first worker, before it forked the second
        assert by_name[j[0]][2] == [p.pid], by_name[j[0]]
        assert by_name[j[0]][3:] == (len(j[2]), j[2][-5:])
    for j in light:
        assert by_name[j[0]][1] == here and by_name[j[0]][2] == []
    assert gone(p.pid)


def test_large_messages_round_trip():
    big = 3 * (1 << 20) + 7  # above the pipe buffer, both ways
    _, out = run_pool([job("big01", size=big), job("big02", size=big // 2)], [])
    assert sorted((o[0], o[3]) for o in out) == [("big01", big), ("big02", big // 2)]


def test_a_dying_worker_fails_only_what_it_held():
    heavy = [job(f"h{i:03d}", size=50) for i in range(10)] + [job("boom", size=1000, action="die")]
    _, out = run_pool(heavy, [job("l000")])
    assert sorted(o[0] for o in out) == sorted(j[0] for j in heavy) + ["l000"]  # each exactly once
    assert ("boom", "died") in out
    assert sum(o[1] == "died" for o in out) <= pool_module.PREFETCH  # its file and what was queued behind it


def test_with_no_worker_left_the_rest_runs_here():
    heavy = [job("boom", size=1000, action="die")] + [job(f"h{i:03d}", size=50 + i) for i in range(6)]
    _, out = run_pool(heavy, [], workers=1)
    assert sorted(o[0] for o in out) == sorted(j[0] for j in heavy)
    assert ("boom", "died") in out
    assert sum(o[1] == "died" for o in out) <= pool_module.PREFETCH
    assert sum(o[1] == os.getpid() for o in out) >= 3  # after the worker died, the rest ran here


def test_first_worker_starts_with_the_smallest_job():
    """It forks its siblings after its first file: that file is the shortest one."""
    heavy = [job(f"h{i:03d}", size=100 * (i + 1)) for i in range(8)]
    p = WarmPool(2, warm_up, work)
    try:
        first = next(p.run(heavy, [], died))
    finally:
        p.close()
    assert first[0] == "h000" and first[1] == p.pid


def test_workers_ignore_sigint_and_exit_on_close():
    p = WarmPool(2, warm_up, work)
    gen = p.run([job(f"s{i:03d}", size=40, action="slow") for i in range(6)], [], died)
    worker = next(gen)[1]  # a worker answered: it is past its warm-up
    os.kill(worker, signal.SIGINT)  # Ctrl-C in a terminal reaches the whole process group
    time.sleep(0.05)
    assert not gone(worker)
    gen.close()  # the run is abandoned, as on KeyboardInterrupt
    t0 = time.monotonic()
    p.close()
    assert time.monotonic() - t0 < 3
    deadline = time.monotonic() + 3
    while not gone(worker) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert gone(worker) and gone(p.pid)


def test_runner_pool_equals_sequential(tmp_path, monkeypatch):
    """A tree big enough for workers: the same outcomes as -j 1, and the pool really ran."""
    tree = tmp_path / "t"
    for i in range(3):
        shutil.copytree(SAMPLE / "sam3d_objects", tree / f"c{i}" / "sam3d_objects")
    started = []
    real_init = WarmPool.__init__

    def spy(self, *a, **kw):
        started.append(a[0])
        real_init(self, *a, **kw)

    monkeypatch.setattr(WarmPool, "__init__", spy)

    def summary(report):
        return [(o.rel, str(o.root), o.new, o.error, [(s.code, s.line, s.status, s.message) for s in o.sites])
                for o in report.outcomes]

    seq = runner.run([str(tree)], runner.Options(jobs=1, cache=False), verify=True)
    assert not started
    par = runner.run([str(tree)], runner.Options(jobs=2, cache=False), verify=True)
    assert started == [2]
    assert len(seq.changed) > 10 and not seq.errors
    assert summary(par) == summary(seq)
    assert par.files_parsed == seq.files_parsed


def test_abandoned_run_does_not_wait_for_the_first_worker():
    p = WarmPool(1, warm_up, work)
    gen = p.run([job("slow1", action="slow"), job("slow2", action="slow")], [], died)
    next(gen)  # the worker is now in its second 0.2 s job
    t0 = time.monotonic()
    p.close(abandon=True)
    assert time.monotonic() - t0 < 0.15
    assert gone(p.pid)

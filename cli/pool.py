"""Worker processes that load libcst while this process keeps working.

A cold ``check`` spends a fifth of its time importing libcst. The first worker is forked as soon as
the pre-filter finds the first file that needs LibCST; it imports libcst and the engine while this
process goes on reading and pre-filtering, then runs the files that need no LibCST (the TC100
scan). Once that worker has finished its first file, it forks the other workers, which inherit
the import and a warmed-up process, so libcst is imported once and off the critical path.

Jobs go out largest first, a few at a time to whichever worker returns a result, so no worker
idles while another still has a queue. Workers are forked with SIGINT/SIGTERM blocked: Ctrl-C
interrupts only this process, which closes the pipes; each worker then finishes the file it holds
and exits. A worker that dies fails the files it held, and the others go on.
"""
from __future__ import annotations

import os
from collections import deque
from typing import Any, Callable, Deque, Dict, Generic, Iterator, List, Optional, TypeVar

from .fileio import deferred_signals

# Jobs queued per worker while this process runs light jobs (it answers between two of them);
# once it only waits on the workers it answers at once, and one job each keeps the end balanced.
PREFETCH = 2
READY = "ready"
_PIPE_BYTES = 1 << 20  # a whole job or outcome fits: neither side blocks on the other mid-message
_F_SETPIPE_SZ = 1031  # Linux


class Channel:
    """Length-prefixed pickles over a pair of pipes (no multiprocessing import before the fork:
    it would cost the first worker 20 ms of its head start)."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self.read_fd, self.write_fd = read_fd, write_fd

    def fileno(self) -> int:
        return self.read_fd

    def send(self, obj) -> None:
        import pickle

        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        view = memoryview(len(data).to_bytes(8, "little") + data)
        while view:
            view = view[os.write(self.write_fd, view):]

    def recv(self):
        import pickle

        size = int.from_bytes(self._read(8), "little")
        return pickle.loads(self._read(size))

    def _read(self, size: int) -> bytes:
        chunks = []
        while size:
            chunk = os.read(self.read_fd, min(size, _PIPE_BYTES))
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        for fd in (self.read_fd, self.write_fd):
            try:
                os.close(fd)
            except OSError:
                pass


def _pipe() -> tuple:
    read_fd, write_fd = os.pipe()
    try:
        import fcntl

        fcntl.fcntl(write_fd, _F_SETPIPE_SZ, _PIPE_BYTES)
    except (ImportError, OSError):  # not Linux, or above the system's limit: smaller messages block a little
        pass
    return read_fd, write_fd


def _channel_pair() -> tuple:
    """(this process's end, the worker's end)."""
    down_r, down_w = _pipe()
    up_r, up_w = _pipe()
    return Channel(up_r, down_w), Channel(down_r, up_w)


J = TypeVar("J")  # a job, picklable (the runner sends cli/filejob.FileJob)
R = TypeVar("R")  # what work(job) returns


def _third_len(job: Any) -> int:
    """The default weight, for a job that is a tuple whose third item is the file's bytes."""
    return len(job[2])


class WarmPool(Generic[J, R]):
    """``workers`` processes running ``work(job)``; ``warm_up()`` runs once, in the first of them,
    before the rest are forked from it."""

    def __init__(self, workers: int, warm_up: Callable[[], None], work: Callable[[J], R]) -> None:
        self.work = work
        pairs = [_channel_pair() for _ in range(max(1, workers))]
        self.conns = [mine for mine, _ in pairs]
        theirs = [other for _, other in pairs]
        with deferred_signals():  # the worker inherits the blocked mask and keeps it
            self.pid = os.fork()
        if self.pid == 0:
            _first_worker(self.conns, theirs, warm_up, work)  # never returns
        for conn in theirs:
            conn.close()

    def run(self, heavy: List[J], light: List[J], died: Callable[[J], R],
            weight: Callable[[J], int] = _third_len) -> Iterator[R]:
        """Outcomes of ``heavy`` (sent to the workers) and ``light`` (run here meanwhile), as they
        finish. ``died(job)`` makes the outcome of a job whose worker died holding it. The heaviest
        jobs (``weight``: a file's bytes) go first, so no long one starts last."""
        import select

        work = self.work
        pending: Deque[J] = deque(sorted(heavy, key=weight, reverse=True))
        held: Dict[Channel, Deque[J]] = {conn: deque() for conn in self.conns}
        live = list(self.conns)
        by_fd = {conn.fileno(): conn for conn in live}
        poller = select.poll()  # no FD_SETSIZE limit, unlike select.select
        for conn in live:
            poller.register(conn.fileno(), select.POLLIN)
        light_left = deque(light)
        while live and (pending or light_left or any(held[c] for c in live)):
            for fd, _ in poller.poll(0 if light_left else None):
                conn = by_fd[fd]
                try:
                    message = conn.recv()
                except (EOFError, OSError):
                    live.remove(conn)
                    poller.unregister(fd)
                    while held[conn]:
                        yield died(held[conn].popleft())
                    continue
                if message != READY:
                    held[conn].popleft()
                    yield message
                elif conn is self.conns[0] and pending:
                    # The first worker forks the others after its first file: make that a short one.
                    pending.rotate(1)
                while pending and len(held[conn]) < (PREFETCH if light_left else 1):
                    job = pending.popleft()
                    held[conn].append(job)
                    try:
                        conn.send(job)
                    except OSError:  # it died: the next recv reports it
                        break
            if light_left:
                yield work(light_left.popleft())
        # No worker left (they all died): finish here.
        for job in list(pending) + list(light_left):
            yield work(job)

    def close(self, abandon: bool = False) -> None:
        """Close the pipes and reap the first worker. Each worker exits once it has finished the
        file it holds; ``abandon`` (an interrupted run) kills the first one instead."""
        for conn in self.conns:
            conn.close()
        if abandon:
            import signal

            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass


def _first_worker(mine: list, theirs: list, warm_up: Callable[[], None], work: Callable[[J], object]) -> None:
    status = 1
    siblings: List[int] = []

    def fork_siblings() -> None:
        # After this worker's first file: the siblings inherit a warm process (compiled patterns,
        # filled caches, specialised bytecode) and run their own first files ~1.5x faster.
        import gc

        gc.freeze()  # their collections then skip (and do not copy) what is inherited
        for conn in theirs[1:]:
            pid = os.fork()
            if pid == 0:
                _serve_and_exit(conn, theirs, work)
            siblings.append(pid)
        for conn in theirs[1:]:
            conn.close()

    try:
        for conn in mine:
            conn.close()
        warm_up()
        _serve(theirs[0], work, after_first=fork_siblings)
        for pid in siblings:
            os.waitpid(pid, 0)
        status = 0
    finally:
        os._exit(status)  # never run this process's atexit handlers or flush its inherited buffers


def _serve_and_exit(conn, inherited: list, work: Callable[[J], object]) -> None:
    status = 1
    try:
        for other in inherited:
            if other is not conn:
                other.close()
        _serve(conn, work)
        status = 0
    finally:
        os._exit(status)


def _serve(conn: Channel, work: Callable[[J], object], after_first: Optional[Callable[[], None]] = None) -> None:
    try:
        conn.send(READY)
        while True:
            job: J = conn.recv()
            conn.send(work(job))
            if after_first is not None:
                after_first()
                after_first = None
    except (EOFError, BrokenPipeError):
        return  # this process closed the pipe: the run is over or was interrupted

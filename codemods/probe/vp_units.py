"""Units of the verify probe: one per module import and per smoke check, each run in a child forked
from a state where only torch is imported (a fresh interpreter where ``fork`` is missing), so one
unit's side effects (``import torch._dynamo``) never hide another's failure. Part of the probe.

A unit's ``status``: ``ok``; ``fail`` (``category`` torch-api or error); ``skip`` (could not run:
``package`` is missing, category missing-package); ``n/a`` (a check whose code the tree does not have).
"""
import importlib
import json
import os
import sys
import tempfile
import time
import traceback
import warnings

import vp_stand_ins
from vp_checks import BY_NAME
from vp_classify import classify, where
from vp_context import CheckFailed, Ctx, NotApplicable, Skip


def _result(kind, name, **fields):
    data = {"kind": kind, "name": name, "status": "ok", "category": None, "error": None, "package": None,
            "cause": None, "where": None, "info": {}, "warnings": []}
    data.update(fields)
    return data


def _failure(kind, name, exc, package, roots, **fields):
    category, pip, cause = classify(exc, package)
    tail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-6:])
    return _result(kind, name, status="fail", category=category, package=pip, cause=cause,
                   error="%s: %s" % (type(exc).__name__, str(exc).strip().splitlines()[0] if str(exc).strip() else ""),
                   where=where(exc, roots), traceback=tail[-3000:], **fields)


def _missing(kind, name, result):
    """A unit stopped by a missing package could not run: a skip that names the package."""
    if result["category"] == "missing-package":
        result.update(status="skip", cause="needs %s" % result["package"])
    return result


def run_unit(unit, opts):
    """Run one unit in this process (a fresh child) and return its result dict."""
    kind, name = unit
    package_dir = opts.package_dir
    package = os.path.basename(os.path.normpath(package_dir))
    roots = [os.path.abspath(package_dir)]
    started = time.time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if kind == "import":
            try:
                importlib.import_module(name)
                result = _result(kind, name)
            except BaseException as exc:  # noqa: B902 - report everything, SystemExit included
                result = _missing(kind, name, _failure(kind, name, exc, package, roots))
        else:
            entry = BY_NAME[name]
            ctx = Ctx(package, package_dir, opts.device_resolved, opts.seed, opts.save_dir, name)
            try:
                try:
                    entry[3](ctx)
                finally:
                    ctx.flush()  # what a check saved before failing still serves a differential test
                result = _result(kind, name, info=ctx.info)
            except NotApplicable as exc:
                result = _result(kind, name, status="n/a", cause=str(exc), info=ctx.info)
            except Skip as exc:
                result = _result(kind, name, status="skip", category="missing-package", cause=str(exc), package=exc.package, info=ctx.info)
            except CheckFailed as exc:
                result = _result(kind, name, status="fail", category="error", error=str(exc), cause="wrong result", info=ctx.info)
            except BaseException as exc:  # noqa: B902
                result = _missing(kind, name, _failure(kind, name, exc, package, roots, info=ctx.info))
            result["description"], result["rules"] = entry[1], entry[2]
    result["stand_ins"] = vp_stand_ins.used()
    noise = (DeprecationWarning, PendingDeprecationWarning, ImportWarning)
    result["warnings"] = sorted(set("%s: %s" % (w.category.__name__, str(w.message).splitlines()[0] if str(w.message) else "")
                                    for w in caught if not issubclass(w.category, noise)))[:10]
    result["seconds"] = round(time.time() - started, 3)
    return result


def _json_safe(value):
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        if isinstance(value, dict):
            return {str(k): _json_safe(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [_json_safe(v) for v in value]
        return repr(value)


class _Child(object):
    def __init__(self, unit, pid, read_fd, log):
        self.unit, self.pid, self.read_fd, self.log = unit, pid, read_fd, log
        self.started = time.time()
        self.chunks = []


def _start_fork(unit, opts):
    """Fork a child (torch imported, nothing else) that runs ``unit`` and writes its JSON result to a pipe."""
    read_fd, write_fd = os.pipe()
    log = tempfile.TemporaryFile()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            os.close(read_fd)
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            if opts.jobs > 1:
                import torch

                torch.set_num_threads(max(1, (os.cpu_count() or 1) // opts.jobs))
            result = run_unit(unit, opts)
            view = memoryview(json.dumps(_json_safe(result)).encode())
            while view:
                view = view[os.write(write_fd, view):]
        except BaseException:  # noqa: B902
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    return _Child(unit, pid, read_fd, log)


def _finish(child, opts, timed_out):
    status = None
    if timed_out:
        try:
            os.kill(child.pid, 9)
        except OSError:
            pass
        os.waitpid(child.pid, 0)
    else:
        status = os.waitpid(child.pid, 0)[1]
    os.close(child.read_fd)
    log = child.log
    log.seek(0, 2)
    log.seek(max(0, log.tell() - 2000))
    output = log.read().decode("utf-8", "replace")
    log.close()
    return _decode_child(child.unit, b"" if timed_out else b"".join(child.chunks), status, output, opts)


def run_forked_all(units, opts):
    """Run units in forked children, ``opts.jobs`` at a time; results in the order of ``units``."""
    import select

    results = {}
    pending = list(units)
    running = []
    while pending or running:
        while pending and len(running) < opts.jobs:
            running.append(_start_fork(pending.pop(0), opts))
        ready, _, _ = select.select([c.read_fd for c in running], [], [], 0.5)
        for child in list(running):
            if child.read_fd in ready:
                chunk = os.read(child.read_fd, 1 << 16)
                if chunk:
                    child.chunks.append(chunk)
                    continue
                results[child.unit] = _finish(child, opts, timed_out=False)
                running.remove(child)
                note_progress(opts, len(results), len(units))
            elif time.time() - child.started > opts.timeout:
                results[child.unit] = _finish(child, opts, timed_out=True)
                running.remove(child)
                note_progress(opts, len(results), len(units))
    return [results[u] for u in units]


def note_progress(opts, done, total):
    """One line 'done total' for the CLI's progress bar (--progress-file); nothing without it."""
    path = getattr(opts, "progress_file", None)
    if path:
        with open(path, "a") as fh:
            fh.write("%d %d\n" % (done, total))


def run_subprocess(unit, opts):
    """Fallback where fork is unavailable: a fresh interpreter per unit."""
    import subprocess

    cmd = [sys.executable, opts.probe_path, "--unit", "%s:%s" % unit] + opts.passthrough
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=opts.timeout)
    except subprocess.TimeoutExpired:
        return _decode_child(unit, b"", None, "", opts)
    lines = proc.stdout.decode("utf-8", "replace").strip().splitlines()
    return _decode_child(unit, lines[-1].encode() if lines else b"", proc.returncode, proc.stderr.decode("utf-8", "replace")[-2000:], opts)


def _decode_child(unit, data, status, output, opts):
    kind, name = unit
    if data:
        try:
            return json.loads(data.decode("utf-8"))
        except ValueError:
            pass
    if status is None:
        cause = "timed out after %ss" % opts.timeout
    else:
        cause = "the child process died (status %s): a crash in native code?" % status
    return _result(kind, name, status="fail", category="error", error=cause, cause=cause, traceback=output)



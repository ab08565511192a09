"""``sam3d-codemod verify PATH``: does the (patched) tree really run under a given interpreter's torch?

The work happens in ``codemods/probe/verify_probe.py``, run as a script by ``--python`` (default:
the interpreter running sam3d-codemod) in a subprocess; this process never imports torch. The probe
imports every module of the package, each in isolation, then runs the smoke checks of the patched
paths (tiny random modules, on CUDA when ``--device`` asks for it or ``auto`` finds it).

Each module and check ends as one of:

* ``OK``;
* ``FAIL``, with a cause: ``torch API`` (the tree uses an API this torch lacks: a bug of the patch,
  or a tree not yet patched) or ``error`` (a bug of the tree, or a check gave a wrong result);
* ``SKIP`` (skipped, needs X): it could not run because package X is missing, or only an import
  stand-in of X is there; the ``pip install`` line is printed;
* ``N/A``: a check whose code this tree does not have (a fork or TRELLIS tree without it).

The verdict says how many of the checks ran. Exit status: 0 only when every module imported and
every check that applies ran and passed; 1 when some failure (torch API or error) remains; 3 when
nothing failed but the verification is incomplete (some module or check skipped for a missing
package); 2 when nothing could be verified: bad PATH, an interpreter that does not run, ``--device
cuda`` without CUDA, torch not installed for that interpreter, or not one module imported and not
one check ran.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from .escape import shown
from .exits import EXIT_CLEAN, EXIT_ERROR, EXIT_INCOMPLETE, EXIT_PENDING

FATAL = ("torch-api", "error")
STATUS_LABEL = {"ok": "OK", "fail": "FAIL", "skip": "SKIP", "n/a": "N/A"}
CAUSE_LABEL = {"torch-api": "torch API", "missing-package": "missing package", "error": "error"}


class VerifyError(Exception):
    """Nothing could be verified (exit 2)."""


def probe_path() -> Path:
    here = Path(__file__).resolve().parent.parent / "codemods" / "probe" / "verify_probe.py"
    if here.is_file():
        return here
    from ..codemods import probe  # installed layout

    return Path(probe.__file__).resolve().parent / "verify_probe.py"


KNOWN_PACKAGES = ("sam3d_objects", "trellis")


def _nested_known(root: Path, depth: int = 5) -> Optional[Path]:
    """The shallowest ``sam3d_objects``/``trellis`` package under ``root`` (a vendored copy, a wheel)."""
    level = [root]
    for _ in range(depth):
        nxt = []
        for d in level:
            try:
                children = sorted(c for c in d.iterdir() if c.is_dir() and not c.name.startswith(".") and not c.is_symlink())
            except OSError:
                continue
            for c in children:
                if c.name in KNOWN_PACKAGES and (c / "__init__.py").is_file():
                    return c
            nxt += children
        level = nxt
    return None


def resolve_package(path: str) -> Path:
    """The package directory to verify: PATH itself, PATH/sam3d_objects or PATH/trellis, the shallowest
    such package below PATH (vendored copies), or PATH's only package."""
    p = Path(path)
    if not p.exists():
        raise VerifyError(f"{path}: no such file or directory")
    if not p.is_dir():
        raise VerifyError(f"{path}: not a directory (give the tree or its package directory)")
    if (p / "__init__.py").is_file():
        return p.resolve()
    nested = _nested_known(p)
    if nested is not None:
        return nested.resolve()
    packages = sorted(d for d in p.iterdir() if d.is_dir() and (d / "__init__.py").is_file() and d.name.isidentifier())
    if len(packages) == 1:
        return packages[0].resolve()
    if not packages:
        raise VerifyError(f"{path}: no Python package here (expected {path}/sam3d_objects/__init__.py)")
    raise VerifyError(f"{path}: several packages ({', '.join(d.name for d in packages)}); give the package directory")


def run_probe(package_dir: Path, python: str, device: str, sys_path: Sequence[str] = (), timeout: float = 300.0,
              extra: Sequence[str] = (), stand_ins: bool = False, extra_stand_ins: Sequence[str] = (),
              progress: Optional[Callable[[int, int], None]] = None) -> dict:
    """Run the probe with ``python``; returns its JSON report or raises VerifyError.
    ``progress(done, total)`` is called as units finish (the probe appends to a file polled here)."""
    with tempfile.TemporaryDirectory(prefix="sam3d-verify-") as tmp:
        out = Path(tmp) / "report.json"
        cmd = [python, str(probe_path()), "--package-dir", str(package_dir), "--device", device,
               "--json-out", str(out), "--timeout", str(timeout)]
        for entry in sys_path:
            cmd += ["--sys-path", str(Path(entry).resolve())]
        if stand_ins:
            cmd += ["--stand-ins", ",".join(["default", *extra_stand_ins])]
        cmd += list(extra)
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        try:
            if progress is None:
                proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            else:
                proc = _run_with_progress(cmd + ["--progress-file", str(Path(tmp) / "progress")], env, Path(tmp), progress)
        except OSError as exc:
            raise VerifyError(f"cannot run {python}: {exc.strerror or exc}") from None
        report = None
        if out.is_file():
            try:
                report = json.loads(out.read_text())
            except ValueError:
                report = None
        if report is None:
            tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-5:]
            raise VerifyError(f"the probe did not run under {python} (exit {proc.returncode}): " + " / ".join(tail))
        if report.get("error") == "torch-missing":
            raise VerifyError(f"{report['message']}\nverify needs torch: pass --python with the interpreter of the environment "
                              "that runs SAM 3D (e.g. --python ~/venvs/sam3d/bin/python)")
        if report.get("error"):
            raise VerifyError(report.get("message") or report["error"])
        return report


def _run_with_progress(cmd: List[str], env: dict, tmp: Path, progress: Callable[[int, int], None]):
    """``subprocess.run(cmd, capture_output=True)``, polling the probe's progress file meanwhile
    (output goes to files: a full pipe cannot stall the probe)."""
    import time

    with open(tmp / "stdout", "w+") as out, open(tmp / "stderr", "w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=env)
        try:
            last: List[str] = []
            while proc.poll() is None:
                time.sleep(0.2)
                try:
                    lines = (tmp / "progress").read_text().split()
                except OSError:
                    continue
                if len(lines) >= 2 and lines[-2:] != last:
                    last = lines[-2:]
                    progress(int(last[0]), int(last[1]))
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(cmd, proc.returncode, out.read(), err.read())


def exit_code(report: dict) -> int:
    units = report.get("imports", []) + report.get("checks", [])
    if any(u["status"] == "fail" and u.get("category") in FATAL for u in units):
        return EXIT_PENDING
    if not any(u["status"] in ("ok", "fail") for u in units):
        return EXIT_ERROR  # not one module imported, not one check ran
    if any(u["status"] == "skip" or (u["status"] == "fail" and u.get("category") == "missing-package") for u in units):
        return EXIT_INCOMPLETE
    return EXIT_CLEAN


def summary(report: dict) -> Dict[str, int]:
    out = {"imports_ok": 0, "imports_failed": 0, "imports_skipped": 0, "checks_total": 0, "checks_ran": 0, "checks_ok": 0,
           "checks_failed": 0, "checks_skipped": 0, "checks_not_applicable": 0, "torch_api": 0, "missing_package": 0, "error": 0}
    for u in report.get("imports", []):
        out["imports_" + {"ok": "ok", "skip": "skipped"}.get(u["status"], "failed")] += 1
    for u in report.get("checks", []):
        out["checks_total"] += 1
        out["checks_" + {"ok": "ok", "fail": "failed", "skip": "skipped"}.get(u["status"], "not_applicable")] += 1
    out["checks_ran"] = out["checks_ok"] + out["checks_failed"]
    for u in report.get("imports", []) + report.get("checks", []):
        if u.get("category") and u["status"] in ("fail", "skip"):
            out[u["category"].replace("-", "_")] += 1
    return out


def stand_ins_used(report: dict) -> List[str]:
    return sorted({name for u in report.get("imports", []) + report.get("checks", []) for name in u.get("stand_ins") or ()})


def verdict(report: dict, code: int) -> str:
    """One line: how many checks ran, what was skipped and why, what does not apply."""
    s = summary(report)
    checks = report.get("checks", [])
    parts = [f"{s['checks_ran']} of {s['checks_total']} smoke checks ran"]
    if s["checks_failed"]:
        parts[-1] += f" ({s['checks_failed']} failed)"
    skipped = [f"{u['name']} (needs {u.get('package') or '?'})" for u in checks if u["status"] == "skip"]
    if skipped:
        parts.append(f"{len(skipped)} skipped: " + ", ".join(skipped))
    na = [u["name"] for u in checks if u["status"] == "n/a"]
    if na:
        parts.append(f"{len(na)} do not apply to this tree: " + ", ".join(na))
    imports = report.get("imports", [])
    if imports:
        text = f"{s['imports_ok']} of {len(imports)} modules imported"
        if s["imports_skipped"]:
            text += f" ({s['imports_skipped']} skipped for missing packages)"
        parts.append(text)
    parts.append(f"{s['torch_api']} torch-API failures, {s['error']} errors")
    head = {EXIT_CLEAN: "verify: OK", EXIT_PENDING: "verify: FAILED", EXIT_INCOMPLETE: "verify: INCOMPLETE",
            EXIT_ERROR: "verify: nothing verified"}[code]
    return f"{head}: " + "; ".join(parts)


def missing_packages(report: dict) -> List[str]:
    found = []
    for u in report.get("imports", []) + report.get("checks", []):
        if u.get("category") == "missing-package" and u.get("package") and u["package"] not in found:
            found.append(u["package"])
    return found


def cause_text(unit: dict) -> str:
    if unit["status"] == "ok":
        info = unit.get("info") or {}
        notes = []
        if info.get("eager_fallback"):
            notes.append("torch cannot compile here: eager, one warning")
        if info.get("lightning") == "placeholder":
            notes.append("lightning not installed: placeholder")
        if str(info.get("check_tensor_from", "")).endswith("_torch_compat"):
            notes.append("kaolin not installed: built-in check_tensor")
        if info.get("half_dtype") == "bfloat16":
            notes.append("bfloat16 (no float16 tanh on this device)")
        return "; ".join(notes)
    category = unit.get("category")
    if unit["status"] == "skip":
        if unit.get("package"):
            return f"skipped (needs {unit['package']}): {unit.get('error') or unit.get('cause')}; pip install {unit['package']}"
        return f"skipped: {unit.get('cause')}"
    if unit["status"] == "n/a":
        return f"does not apply: {unit.get('cause')}"
    label = CAUSE_LABEL.get(category or "", "error")
    where = f" at {_short(unit['where'])}" if unit.get("where") else ""
    if category == "missing-package":
        return f"{label}: pip install {unit['package']} ({unit.get('error')})"
    if category == "torch-api":
        return f"{label} (patch bug or unpatched tree): {unit.get('error')}{where}"
    return f"{label}: {unit.get('error')}{where}"


def _short(where: str) -> str:
    path, _, line = where.rpartition(":")
    parts = Path(path).parts
    return ("/".join(parts[-3:]) if len(parts) > 3 else path) + ":" + line


def rows(report: dict, verbose: bool = False) -> List[Tuple[str, str, str]]:
    out = []
    for u in report.get("imports", []):
        if verbose or u["status"] != "ok":
            out.append((f"import {u['name']}", STATUS_LABEL[u["status"]], cause_text(u)))
    ok = sum(1 for u in report.get("imports", []) if u["status"] == "ok")
    if not verbose and ok:
        out.insert(0, (f"import: {ok} other modules" if ok != len(report.get("imports", [])) else f"import: all {ok} modules",
                       "OK", ""))
    for u in report.get("checks", []):
        label = f"{u['name']} [{u.get('rules', '-')}]"
        out.append((label, STATUS_LABEL[u["status"]], cause_text(u)))
    return [(shown(label), status, shown(cause)) for label, status, cause in out]  # names, errors: from the tree


def render_text(report: dict, code: int, verbose: bool = False, stream=None, color: Optional[bool] = None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    # color: --color always/never (and NO_COLOR / FORCE_COLOR), None = rich's own TTY detection
    console = Console(file=stream or sys.stdout, highlight=False, soft_wrap=False,
                      force_terminal=color, no_color=None if color is None else not color)
    title = (f"sam3d-codemod verify: {escape(shown(report['package_dir']))} | torch {report.get('torch')} | "
             f"python {report.get('python')} | device {report.get('device')}")
    table = Table(title=title, title_justify="left")
    table.add_column("module / path", overflow="fold")
    table.add_column("result", no_wrap=True)
    table.add_column("cause", overflow="fold")
    colours = {"OK": "green", "FAIL": "red", "SKIP": "yellow", "N/A": "dim"}
    for name, status, cause in rows(report, verbose):
        table.add_row(escape(name), f"[{colours[status]}]{status}[/]", escape(cause))  # data, never markup
    console.print(table)
    pkgs = missing_packages(report)
    if pkgs:
        console.print("missing packages (your environment, not the patch): pip install " + " ".join(pkgs))
    used = stand_ins_used(report)
    if used:
        console.print("import stand-ins in place of (not installed; nothing ran on them): " + ", ".join(used))
    colour = {EXIT_CLEAN: "green", EXIT_PENDING: "red", EXIT_INCOMPLETE: "yellow", EXIT_ERROR: "red"}[code]
    console.print(f"[{colour}]{verdict(report, code)}[/]")
    if code == EXIT_PENDING:
        console.print("torch API: run `sam3d-codemod apply` on the tree, or report a rule bug")
    elif code == EXIT_INCOMPLETE:
        console.print("incomplete (exit 3): install the missing packages (`sam3d-codemod verify --print-requirements`), "
                      "or pass --stand-ins for CUDA-only ones")


def to_json(report: dict, code: int) -> str:
    data = {"command": "verify", "exit_code": code, "summary": summary(report), "missing_packages": missing_packages(report),
            "verdict": verdict(report, code), "stand_ins": stand_ins_used(report)}
    data.update({k: report.get(k) for k in ("package", "package_dir", "python", "executable", "torch", "device", "cuda_available", "gpu")})
    data["imports"] = report.get("imports", [])
    data["checks"] = report.get("checks", [])
    return json.dumps(data, indent=2, sort_keys=True)


def verify(path: str, python: Optional[str], device: str, sys_path: Sequence[str] = (), timeout: float = 300.0,
           stand_ins: bool = False, extra_stand_ins: Sequence[str] = (),
           progress: Optional[Callable[[int, int], None]] = None) -> Tuple[dict, int]:
    package_dir = resolve_package(path)
    report = run_probe(package_dir, python or sys.executable, device, sys_path, timeout, stand_ins=stand_ins,
                       extra_stand_ins=extra_stand_ins, progress=progress)
    return report, exit_code(report)

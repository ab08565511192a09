"""``sam3d-codemod verify PATH``: does the (patched) tree really run under a given interpreter's torch?

The work happens in ``codemods/_runtime/verify_probe.py``, run as a script by ``--python`` (default:
the interpreter running sam3d-codemod) in a subprocess; this process never imports torch. The probe
imports every module of the package, each in isolation, then runs the smoke checks of the patched
paths (tiny random modules, on CUDA when ``--device`` asks for it or ``auto`` finds it).

Each failure has a cause:

* ``torch API``: the tree uses an API this torch lacks (an ImportError/AttributeError/TypeError
  naming torch, an error raised by torch): a bug of the patch, or a tree not yet patched;
* ``missing package``: a package other than torch is not installed (or its install is broken):
  the user's environment, with the ``pip install`` to run. A smoke check whose module needs a
  missing package is skipped, not failed;
* ``error``: anything else (a bug of the tree, or a smoke check gave a wrong result).

Exit status: 0 when no ``torch API`` and no ``error`` failure remains (missing optional packages are
reported, not fatal); 1 otherwise; 2 when nothing could be verified: bad PATH, an interpreter that
does not run, ``--device cuda`` without CUDA, or **torch not installed for that interpreter** (the
message says to pass ``--python`` with the interpreter of the environment that runs SAM 3D).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

EXIT_OK, EXIT_FAIL, EXIT_ERROR = 0, 1, 2
FATAL = ("torch-api", "error")
CAUSE_LABEL = {"torch-api": "torch API", "missing-package": "missing package", "error": "error"}


class VerifyError(Exception):
    """Nothing could be verified (exit 2)."""


def probe_path() -> Path:
    here = Path(__file__).resolve().parent.parent / "codemods" / "_runtime" / "verify_probe.py"
    if here.is_file():
        return here
    from ..codemods import _runtime  # installed layout

    return Path(_runtime.__file__).resolve().parent / "verify_probe.py"


def resolve_package(path: str) -> Path:
    """The package directory to verify: PATH itself, or PATH/sam3d_objects, or PATH's only package."""
    p = Path(path)
    if not p.exists():
        raise VerifyError(f"{path}: no such file or directory")
    if not p.is_dir():
        raise VerifyError(f"{path}: not a directory (give the tree or its package directory)")
    if (p / "__init__.py").is_file():
        return p.resolve()
    if (p / "sam3d_objects" / "__init__.py").is_file():
        return (p / "sam3d_objects").resolve()
    packages = sorted(d for d in p.iterdir() if d.is_dir() and (d / "__init__.py").is_file() and d.name.isidentifier())
    if len(packages) == 1:
        return packages[0].resolve()
    if not packages:
        raise VerifyError(f"{path}: no Python package here (expected {path}/sam3d_objects/__init__.py)")
    raise VerifyError(f"{path}: several packages ({', '.join(d.name for d in packages)}); give the package directory")


def run_probe(package_dir: Path, python: str, device: str, sys_path: Sequence[str] = (), timeout: float = 300.0,
              extra: Sequence[str] = ()) -> dict:
    """Run the probe with ``python``; returns its JSON report or raises VerifyError."""
    with tempfile.TemporaryDirectory(prefix="sam3d-verify-") as tmp:
        out = Path(tmp) / "report.json"
        cmd = [python, str(probe_path()), "--package-dir", str(package_dir), "--device", device,
               "--json-out", str(out), "--timeout", str(timeout)]
        for entry in sys_path:
            cmd += ["--sys-path", str(Path(entry).resolve())]
        cmd += list(extra)
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
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


def exit_code(report: dict) -> int:
    units = report.get("imports", []) + report.get("checks", [])
    return EXIT_FAIL if any(u["status"] == "fail" and u.get("category") in FATAL for u in units) else EXIT_OK


def summary(report: dict) -> Dict[str, int]:
    out = {"imports_ok": 0, "imports_failed": 0, "checks_ok": 0, "checks_failed": 0, "checks_skipped": 0,
           "torch_api": 0, "missing_package": 0, "error": 0}
    for u in report.get("imports", []):
        out["imports_ok" if u["status"] == "ok" else "imports_failed"] += 1
    for u in report.get("checks", []):
        out[{"ok": "checks_ok", "fail": "checks_failed", "skip": "checks_skipped"}[u["status"]]] += 1
    for u in report.get("imports", []) + report.get("checks", []):
        if u["status"] == "fail" and u.get("category"):
            out[u["category"].replace("-", "_")] += 1
    return out


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
            return f"skipped: needs {unit['package']} (pip install {unit['package']})"
        return f"skipped: {unit.get('cause')}"
    label = CAUSE_LABEL.get(category, "error")
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
            out.append((f"import {u['name']}", u["status"].upper(), cause_text(u)))
    ok = sum(1 for u in report.get("imports", []) if u["status"] == "ok")
    if not verbose and ok:
        out.insert(0, (f"import: {ok} other modules" if ok != len(report.get("imports", [])) else f"import: all {ok} modules",
                       "OK", ""))
    for u in report.get("checks", []):
        label = f"{u['name']} [{u.get('rules', '-')}]"
        out.append((label, u["status"].upper(), cause_text(u)))
    return out


def render_text(report: dict, code: int, verbose: bool = False, stream=None, color: Optional[bool] = None) -> None:
    from rich.console import Console
    from rich.table import Table

    # color: --color always/never (and NO_COLOR / FORCE_COLOR), None = rich's own TTY detection
    console = Console(file=stream or sys.stdout, highlight=False, soft_wrap=False,
                      force_terminal=color, no_color=None if color is None else not color)
    title = (f"sam3d-codemod verify: {report['package_dir']} | torch {report.get('torch')} | python {report.get('python')} | "
             f"device {report.get('device')}")
    table = Table(title=title, title_justify="left")
    table.add_column("module / path", overflow="fold")
    table.add_column("result", no_wrap=True)
    table.add_column("cause", overflow="fold")
    colours = {"OK": "green", "FAIL": "red", "SKIP": "yellow"}
    for name, status, cause in rows(report, verbose):
        table.add_row(name, f"[{colours[status]}]{status}[/]", cause)
    console.print(table)
    s = summary(report)
    console.print(f"imports: {s['imports_ok']} ok, {s['imports_failed']} failed; checks: {s['checks_ok']} ok, "
                  f"{s['checks_failed']} failed, {s['checks_skipped']} skipped; failures: {s['torch_api']} torch API, "
                  f"{s['missing_package']} missing package, {s['error']} error")
    pkgs = missing_packages(report)
    if pkgs:
        console.print("missing optional packages (your environment, not the patch): pip install " + " ".join(pkgs))
    if code == EXIT_OK:
        console.print("[green]verify: no torch-API failure[/]")
    else:
        console.print("[red]verify: failures remain[/] (torch API: run `sam3d-codemod apply` on the tree, or report a rule bug)")


def to_json(report: dict, code: int) -> str:
    data = {"command": "verify", "exit_code": code, "summary": summary(report), "missing_packages": missing_packages(report)}
    data.update({k: report.get(k) for k in ("package", "package_dir", "python", "executable", "torch", "device", "cuda_available", "gpu")})
    data["imports"] = report.get("imports", [])
    data["checks"] = report.get("checks", [])
    return json.dumps(data, indent=2, sort_keys=True)


def verify(path: str, python: Optional[str], device: str, sys_path: Sequence[str] = (), timeout: float = 300.0) -> Tuple[dict, int]:
    package_dir = resolve_package(path)
    report = run_probe(package_dir, python or sys.executable, device, sys_path, timeout)
    return report, exit_code(report)

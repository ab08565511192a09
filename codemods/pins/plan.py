"""The install plan for a patched checkout (`sam3d-codemod env`): ordered steps that build an
environment where torch stays the target release.

1. torch, torchvision, torchaudio from PyTorch's index for the target CUDA (``cpu``: from PyPI);
2. the checkout's requirement files in one resolve, torch held by a constraints file;
3. the source builds (TP004: kaolin, pytorch3d, gsplat, flash-attn) without build isolation, so
   they compile against the installed torch, with ``TORCH_CUDA_ARCH_LIST`` and ``FORCE_CUDA``;
4. a check that torch is still the target (pip itself compares the installed releases with the
   constraints: no version string is parsed).

The steps are rendered as a bash script; ``PY`` names the environment's interpreter.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

from . import requirement_line
from .files import rewriter_for
from .locate import pin_files
from .table import PinTarget, normalise

# Compute capabilities CUDA 11.8 compiles for that SAM 3D's GPUs use (V100 .. H100).
DEFAULT_ARCH_LIST = {"11.8": "7.0;7.5;8.0;8.6;8.9;9.0"}
REQUIREMENT_ORDER = ("requirements.txt", "requirements.inference.txt", "requirements.p3d.txt")


class PlanError(ValueError):
    """The plan cannot be made for this tree: one line."""


@dataclass
class Step:
    title: str
    commands: List[str]
    notes: List[str] = field(default_factory=list)


@dataclass
class SourceBuild:
    name: str
    spec: str  # what pip installs: the tree's own git URL, else the table's
    before: List[str]
    env: Dict[str, str]
    source: str


def unpatched_files(root: Path, target: PinTarget) -> List[str]:
    """The pin files `apply` would still change (their plan would pull another torch)."""
    out = []
    for path in pin_files(root):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if rewriter_for(path)(text, target).text is not None:
            out.append(path.relative_to(root).as_posix())
    return out


def requirement_files(root: Path) -> List[Path]:
    """requirements*.txt, upstream's main file and extras first, then the rest by name."""
    files = [p for p in pin_files(root) if p.suffix == ".txt"]
    rank = {name: i for i, name in enumerate(REQUIREMENT_ORDER)}
    return sorted(files, key=lambda p: (rank.get(p.name, len(rank)), p.as_posix()))


def source_builds(root: Path, target: PinTarget) -> List[SourceBuild]:
    """The TP004 packages the tree asks for (commented out by apply), in file order, each once."""
    builds: Dict[str, SourceBuild] = {}
    table = target.source_builds()
    for path in requirement_files(root):
        for line in path.read_text(encoding="utf-8").splitlines():
            original = requirement_line.disabled_requirement(line)
            if original is None:
                continue
            req = requirement_line.parse(original)
            if req is None or req.key in builds or req.key not in table:
                continue
            entry = table[req.key]
            spec = f"{req.key} {req.spec}" if req.is_url else (entry.get("spec") or original)
            builds[req.key] = SourceBuild(req.key, spec, list(entry.get("before", [])), dict(entry.get("env", {})),
                                          entry["source"])
    return list(builds.values())


def constraints_text(target: PinTarget) -> str:
    return (f"# written by `sam3d-codemod env`: holds torch {target.torch} while pip installs the rest\n"
            + "".join(c + "\n" for c in target.constraints))


def build_plan(root: Path, target: PinTarget, constraints: Path, cpu: bool = False,
               arch_list: Optional[str] = None, python: str = "3.10") -> List[Step]:
    if python not in target.pythons:
        raise PlanError(f"no torch {target.torch} wheels for Python {python} (the table has: {', '.join(target.pythons)})")
    pending = unpatched_files(root, target)
    if pending:
        raise PlanError(f"{root}: not patched for torch {target.torch} with CUDA {target.cuda}: {', '.join(pending)} "
                        f"(run `sam3d-codemod apply {root}` first)")
    c = shlex.quote(str(constraints))  # in every install: torch's own deps must not pull numpy 2 either
    torch_pins = " ".join(shlex.quote(p) for p in target.constraints if normalise(p.split("=")[0].split("<")[0]) != "numpy")
    steps = [Step(f"Python {python} environment", [],
                  [f"create it first, e.g. `conda create -n sam3d-objects python={python}` or `python{python} -m venv .venv`; "
                   "PY names its interpreter"])]
    if cpu:
        steps.append(Step(f"torch {target.torch} from PyPI (CPU part of the plan)", [f'"$PY" -m pip install -c {c} {torch_pins}']))
    else:
        steps.append(Step(f"torch {target.torch} for CUDA {target.cuda} from PyTorch's index",
                          [f'"$PY" -m pip install -c {c} {torch_pins} --index-url {target.torch_index}'],
                          [target.data["torch_source"]]))
    files = requirement_files(root)
    reqs = " ".join(f"-r {shlex.quote(str(p.resolve()))}" for p in files)
    notes = [f"{c} holds {', '.join(target.constraints)} ({target.data['numpy_source']})"]
    retries = ""
    if cpu:
        # The files name PyTorch's CUDA index, which a CPU machine need not reach: fail over at once.
        retries = " --retries 0"
    steps.append(Step("the requirement files, torch held by the constraints", [f'"$PY" -m pip install{retries} -c {c} {reqs}'],
                      notes) if files else Step("the requirement files (none in the tree)", []))
    builds = source_builds(root, target)
    arch = arch_list or DEFAULT_ARCH_LIST.get(target.cuda, "")
    before = list(dict.fromkeys(x for b in builds for x in b.before))  # build tools, once, before any build
    commands = [f'"$PY" -m pip install -c {c} {" ".join(shlex.quote(x) for x in before)}'] if before else []
    build_notes = []
    for b in builds:
        env = {"TORCH_CUDA_ARCH_LIST": arch, "FORCE_CUDA": "1", **b.env}
        prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        commands.append(f'{prefix} "$PY" -m pip install --no-build-isolation -c {c} {shlex.quote(b.spec)}')
        build_notes.append(f"{b.name}: {b.source}")
    if cpu and commands:
        build_notes.insert(0, "skipped in the CPU part (they need nvcc and a CUDA torch); on the GPU machine run:")
        commands = [f"# {cmd}" for cmd in commands]
    steps.append(Step("source builds against the installed torch (no build isolation)", commands, build_notes))
    steps.append(Step(f"torch is still {target.torch}",
                      [f'"$PY" -m pip install --dry-run --no-index --no-deps -q -c {c} torch '
                       f'|| {{ echo "error: torch is no longer {target.torch}: a step above replaced it" >&2; exit 1; }}',
                       '"$PY" -c "import torch; print(\'torch\', torch.__version__)"']))
    return steps


def render(steps: List[Step], python: str) -> str:
    lines = ["#!/usr/bin/env bash", "# Install plan written by `sam3d-codemod env`; run it with PY set to the environment's python.",
             "set -euo pipefail", f'PY="${{PY:-python{python}}}"']
    for number, step in enumerate(steps):
        lines.append("")
        lines.append(f"# {number}. {step.title}")
        lines += [f"#    {note}" for note in step.notes]
        lines += step.commands
    return "\n".join(lines) + "\n"

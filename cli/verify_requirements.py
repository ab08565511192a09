"""What ``sam3d-codemod verify`` needs installed: ``codemods/data/verify-requirements.txt`` plus torch,
torchvision and numpy pinned together (``verify --print-requirements --torch X``).

One list for every user of it: ``scripts/torch-envs`` (the test envs), ``scripts/upstream-gate`` and
the reusable workflow. torchvision wheels pin one torch release; ``torchvision==0.<minor+15>.*`` next to
``torch==X`` lets pip pick the build of that release (0.15.1 for 2.0.0), so torch is never moved.
Where the pin table (codemods/pins) has the torch release, its pins are used instead, and with a
tree (``verify PATH --print-requirements``) the table's companions the tree imports are added
(xformers 0.0.19 for torch 2.0.0): they have CPU-installable wheels on PyPI, so no check is skipped for them.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import List, Optional

DATA = Path(__file__).resolve().parent.parent / "codemods" / "data" / "verify-requirements.txt"


def requirements_file() -> Path:
    if DATA.is_file():
        return DATA
    from ..codemods import data  # installed layout

    return Path(data.__file__).resolve().parent / "verify-requirements.txt"


def light_requirements() -> List[str]:
    lines = requirements_file().read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _pin_table():
    try:
        from ..codemods.pins import table
    except ImportError:  # scripts/torch-envs imports this file as a top-level `cli` (PYTHONPATH=repo, no install)
        import importlib.util
        import sys

        path = Path(__file__).resolve().parent.parent / "codemods" / "pins" / "table.py"
        spec = importlib.util.spec_from_file_location("_sam3d_pin_table", path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}") from None
        table = sys.modules["_sam3d_pin_table"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(table)
    return table


def _table_target(torch: str):
    table = _pin_table()
    for line in table.targets():
        target = table.load_target(line)
        if target.torch == torch:
            return target
    return None


def torch_pins(torch: str) -> List[str]:
    """``torch==X``, the matching torchvision series, and numpy<2 for the releases built against numpy 1."""
    target = _table_target(torch)
    if target is not None:  # the same pins as `sam3d-codemod env` (codemods/pins/data/companions.json)
        return [c for c in target.constraints if c.split("=")[0].split("<")[0] in ("torch", "torchvision", "numpy")]
    parts = torch.split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts[:2]) or parts[0] != "2":
        raise ValueError(f"--torch {torch}: give a torch 2.x release, e.g. 2.0.0")
    minor = int(parts[1])
    pins = [f"torch=={torch}", f"torchvision==0.{minor + 15}.*"]
    pins.append('numpy<2' if minor < 3 else "numpy")
    return pins


_IMPORT = re.compile(r"^[ \t]*(?:import|from)[ \t]+([A-Za-z_][A-Za-z0-9_]*)", re.M)


def imported_companions(root: Path, torch: str) -> List[str]:
    """``name==version`` of the pin table's torch companions (TP001) that a .py file of ``root`` imports."""
    target = _table_target(torch)
    if target is None:
        return []
    wanted = {name.replace("-", "_"): name for name in target.by_rule("TP001")}
    found = set()
    for path in sorted(Path(root).rglob("*.py")):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        found |= {m for m in _IMPORT.findall(text) if m in wanted}
    return [f"{wanted[m]}=={target.entry(wanted[m])['version']}" for m in sorted(found)
            if f"{wanted[m]}==" not in " ".join(torch_pins(torch))]


def all_requirements(torch: str = "", root: Optional[Path] = None) -> List[str]:
    pins = torch_pins(torch) if torch else []
    extra = imported_companions(root, torch) if (root is not None and torch) else []
    return pins + extra + light_requirements()

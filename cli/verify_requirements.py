"""What ``sam3d-codemod verify`` needs installed: ``codemods/data/verify-requirements.txt`` plus torch,
torchvision and numpy pinned together (``verify --print-requirements --torch X``).

One list for every user of it: ``scripts/torch-envs`` (the test envs), ``scripts/upstream-gate`` and
the reusable workflow. torchvision wheels pin one torch release; ``torchvision==0.<minor+15>.*`` next to
``torch==X`` lets pip pick the build of that release (0.15.1 for 2.0.0), so torch is never moved.
"""
from __future__ import annotations

from pathlib import Path
from typing import List

DATA = Path(__file__).resolve().parent.parent / "codemods" / "data" / "verify-requirements.txt"


def requirements_file() -> Path:
    if DATA.is_file():
        return DATA
    from ..codemods import data  # installed layout

    return Path(data.__file__).resolve().parent / "verify-requirements.txt"


def light_requirements() -> List[str]:
    lines = requirements_file().read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def torch_pins(torch: str) -> List[str]:
    """``torch==X``, the matching torchvision series, and numpy<2 for the releases built against numpy 1."""
    parts = torch.split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts[:2]) or parts[0] != "2":
        raise ValueError(f"--torch {torch}: give a torch 2.x release, e.g. 2.0.0")
    minor = int(parts[1])
    pins = [f"torch=={torch}", f"torchvision==0.{minor + 15}.*"]
    pins.append('numpy<2' if minor < 3 else "numpy")
    return pins


def all_requirements(torch: str = "") -> List[str]:
    return (torch_pins(torch) if torch else []) + light_requirements()

"""The version table of the pins rules: for a target torch and CUDA, which release of each torch- or
CUDA-coupled package goes with it, and where that comes from (``data/companions.json``)."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Optional

TABLE_FILE = Path(__file__).resolve().parent / "data" / "companions.json"


class TableError(ValueError):
    """No table entry for the requested target: one line."""


def normalise(name: str) -> str:
    """PEP 503 name: ``Flash_Attn`` -> ``flash-attn``."""
    return re.sub(r"[-_.]+", "-", name).lower()


@lru_cache(maxsize=None)
def _raw() -> dict:
    return json.loads(TABLE_FILE.read_text(encoding="utf-8"))


def targets() -> List[str]:
    return sorted(_raw()["targets"])


@dataclass(frozen=True)
class PinTarget:
    """One target (torch release line and CUDA) of the table, with the templates filled in."""

    torch_line: str  # "2.0"
    cuda: str  # "11.8"
    data: dict

    @property
    def torch(self) -> str:
        return self.data["torch"]

    @property
    def cuda_nodot(self) -> str:
        return self.cuda.replace(".", "")

    @property
    def cuda_major(self) -> str:
        return self.cuda.split(".")[0]

    @property
    def pythons(self) -> List[str]:
        return list(self.data["python"])

    @property
    def packages(self) -> Dict[str, dict]:
        return self.data["packages"]

    def fill(self, template: str) -> str:
        return template.format(cuda=self.cuda, cuda_nodot=self.cuda_nodot, cuda_major=self.cuda_major, torch=self.torch)

    @property
    def torch_index(self) -> str:
        return self.fill(self.data["torch_index"])

    @property
    def constraints(self) -> List[str]:
        return list(self.data["constraints"])

    def entry(self, name: str) -> Optional[dict]:
        return self.packages.get(normalise(name))

    def known(self, name: str) -> dict:
        """The entry of a package every table has (spconv, cuda-python, nvidia-cuda-nvcc)."""
        return self.packages[normalise(name)]

    def by_rule(self, code: str) -> Dict[str, dict]:
        return {name: e for name, e in self.packages.items() if e["rule"] == code}

    def source_builds(self) -> Dict[str, dict]:
        return self.by_rule("TP004")


def load_target(torch_line: str = "2.0", cuda: Optional[str] = None) -> PinTarget:
    """The table's entries for ``torch_line`` (``--target-torch``) and ``cuda`` (its default when None)."""
    data = _raw()["targets"].get(torch_line)
    if data is None:
        raise TableError(f"no pin table for torch {torch_line} (the table has: {', '.join(targets())})")
    cuda = cuda or data["default_cuda"]
    if cuda not in data["cuda"]:
        raise TableError(f"no pin table for CUDA {cuda} with torch {torch_line} (the table has: {', '.join(data['cuda'])})")
    return PinTarget(torch_line, cuda, data)

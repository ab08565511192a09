"""Where a checkout pins its environment, and the rewrite of each such file for the target.

- ``requirements*.txt`` at the root (and in ``requirements/``): every requirement and index line;
- ``pyproject.toml``: PyTorch index URLs anywhere (``PIP_EXTRA_INDEX_URL``, uv/pdm index tables),
  and the requirement strings of ``[project] dependencies``, ``[project.optional-dependencies]`` and
  ``[dependency-groups]``;
- ``environments/*.yml``: the ``pip:`` list, and conda's pytorch, pytorch-cuda, torchvision and
  torchaudio pins.

Each rewrite works line by line on the decoded text and keeps every line end (CRLF too) and every
byte it does not change; ``revert`` restores the file from apply's record either way.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional, Set, Tuple

from . import requirement_line
from .requirement_line import Finding
from .table import PinTarget

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)?")


@dataclass
class PinEdit:
    """A file's rewrite: the new text (None when unchanged) and (1-based line, finding) pairs."""

    text: Optional[str]
    findings: List[Tuple[int, Finding]] = field(default_factory=list)


def rewriter_for(path: Path) -> Callable[..., PinEdit]:
    if path.name == "pyproject.toml":
        return rewrite_pyproject
    if path.suffix in (".yml", ".yaml"):
        return rewrite_conda_env
    return rewrite_requirements


def _lines(text: str) -> List[Tuple[str, str]]:
    """(body, line end) per line; joining them gives ``text`` back exactly."""
    out = []
    for m in _LINE.finditer(text):
        chunk = m.group(0)
        if not chunk:
            continue
        body = chunk.rstrip("\r\n")
        out.append((body, chunk[len(body):]))
    return out


def _apply(text: str, edit_line: Callable[[int, str], Tuple[Optional[str], List[Finding]]],
           enabled: Optional[Set[str]] = None) -> PinEdit:
    """``enabled``: the codes ``--select``/``--ignore`` leave on; a line another code would change stays."""
    parts, findings, changed = [], [], False
    for number, (body, end) in enumerate(_lines(text), 1):
        new, found = edit_line(number, body)
        if enabled is not None:
            if any(f.code not in enabled and f.status == "patched" for f in found):
                new = None
            found = [f for f in found if f.code in enabled]
        findings += [(number, f) for f in found]
        if new is not None and new != body:
            changed = True
            body = new
        parts.append(body + end)
    return PinEdit("".join(parts) if changed else None, findings)


def rewrite_requirements(text: str, target: PinTarget, enabled: Optional[Set[str]] = None,
                         main_file: bool = False) -> PinEdit:
    """``main_file`` (the root requirements.txt): a numpy cap the target needs is added where no line pins numpy."""
    edit = _apply(text, lambda _n, body: requirement_line.rewrite(body, target), enabled)
    if main_file and (enabled is None or "TP001" in enabled):
        _add_numpy_cap(text, edit, target)
    return edit


def _add_numpy_cap(text: str, edit: PinEdit, target: PinTarget) -> None:
    cap = next((c for c in target.constraints if c.startswith("numpy")), None)
    lines = _lines(edit.text if edit.text is not None else text)
    if cap is None or any((req := requirement_line.parse(body)) is not None and req.key == "numpy" for body, _ in lines):
        return
    end = next((e for _, e in lines if e), "\n")  # the file's own line ends
    current = edit.text if edit.text is not None else text
    if current and not current.endswith(("\n", "\r")):
        current += end
    edit.text = current + f"{cap}  # sam3d-codemod TP001: torch {target.torch} is built against numpy 1" + end
    edit.findings.append((len(lines) + 1, Finding("TP001", "patched", f"added {cap}: {target.data['numpy_source']}")))


# ---------------------------------------------------------------- pyproject.toml

_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_DEPENDENCY_TABLES = ("project.optional-dependencies", "dependency-groups")
_STRING = re.compile(r"(?P<q>\"|')(?P<s>(?:\\.|(?!(?P=q)).)*)(?P=q)")
_ARRAY_START = re.compile(r"^\s*(?P<key>[A-Za-z0-9_.\"'-]+)\s*=\s*\[")
_ONLY_STRING = re.compile(r"^(?P<lead>\s*)(?P<str>\"[^\"]*\"|'[^']*')\s*,?\s*(#.*)?$")


def rewrite_pyproject(text: str, target: PinTarget, enabled: Optional[Set[str]] = None) -> PinEdit:
    state = {"table": "", "in_array": False}

    def edit(_number: int, body: str) -> Tuple[Optional[str], List[Finding]]:
        header = _HEADER.match(body)
        if header and not state["in_array"]:
            state["table"] = header.group(1).strip().strip('"')
            return None, []
        findings: List[Finding] = []
        new = _rewrite_urls_in(body, target, findings)
        start = _ARRAY_START.match(new)
        if not state["in_array"] and start is not None:
            key = start.group("key").strip("\"'")
            state["in_array"] = (state["table"] == "project" and key == "dependencies") or \
                state["table"] in _DEPENDENCY_TABLES
        if state["in_array"]:
            new = _rewrite_requirement_strings(new, target, findings)
            if _closes_array(new):
                state["in_array"] = False
        return (new if new != body else None), findings

    return _apply(text, edit, enabled)


def _rewrite_urls_in(body: str, target: PinTarget, findings: List[Finding]) -> str:
    def one(m: "re.Match[str]") -> str:
        text = m.group(0)
        new = " ".join(requirement_line.rewrite_url(u, target) for u in text.split(" "))
        if new != text:
            findings.append(Finding("TP003", "patched", f"{text} -> {new} (the index for torch {target.torch} with CUDA {target.cuda})"))
        return new

    return re.sub(r"https?://[^\s\"']+(?: https?://[^\s\"']+)*", one, body)


def _rewrite_requirement_strings(body: str, target: PinTarget, findings: List[Finding]) -> str:
    only = _ONLY_STRING.match(body)
    pieces, last = [], 0
    for m in _STRING.finditer(body):
        req = requirement_line.parse(m.group("s"))
        if req is None:
            continue
        new, found = requirement_line.rewrite_requirement(req, target)
        if new is not None and any(f.code == "TP004" for f in found):
            # a commented-out requirement: only where the string is alone on its line (an array item)
            if only is None:
                findings.append(Finding("TP100", "unhandled", f"{req.shown()}: move it to its own line, then re-run "
                                                              "(its source build belongs to `sam3d-codemod env`)"))
                continue
            findings += found
            return f"{only.group('lead')}# {body.strip()}  {requirement_line.SOURCE_BUILD_MARK} built from source by `sam3d-codemod env`"
        findings += found
        if new is not None:
            # a marker's quotes must not close the TOML string (PEP 508 takes either kind)
            new = new.replace('"', "'") if m.group("q") == '"' else new.replace("'", '"')
            pieces.append(body[last:m.start("s")] + new)
            last = m.end("s")
    return "".join(pieces) + body[last:] if pieces else body


def _closes_array(body: str) -> bool:
    code = _STRING.sub("", body.split("#", 1)[0] if '"' not in body and "'" not in body else _STRING.sub('""', body))
    code = code.split("#", 1)[0]
    return "]" in code


# ---------------------------------------------------------------- environments/*.yml (conda)

_YAML_ITEM = re.compile(r"^(?P<lead>\s*-\s+)(?P<item>[^#]*?)(?P<tail>\s*(#.*)?)$")
_CONDA_PIN = re.compile(r"^(?P<name>pytorch|pytorch-cuda|torchvision|torchaudio)(?P<op>\s*=+\s*)(?P<version>[^\s=]+)(?P<build>=\S+)?$")


def rewrite_conda_env(text: str, target: PinTarget, enabled: Optional[Set[str]] = None) -> PinEdit:
    pip_indent: Optional[int] = None  # the indent of the open `pip:` list, None outside one

    def edit(_number: int, body: str) -> Tuple[Optional[str], List[Finding]]:
        nonlocal pip_indent
        stripped = body.strip()
        indent = len(body) - len(body.lstrip())
        if pip_indent is not None and stripped and indent <= pip_indent:
            pip_indent = None
        if re.match(r"^-\s*pip\s*:\s*(#.*)?$", stripped):
            pip_indent = indent
            return None, []
        item = _YAML_ITEM.match(body)
        if item is None:
            return None, []
        if pip_indent is not None:
            inner = item.group("item")
            if inner.startswith("-"):  # "- --extra-index-url URL" inside pip:
                new, found = requirement_line.rewrite(inner, target)
            else:
                req = requirement_line.parse(inner)
                new, found = requirement_line.rewrite_requirement(req, target) if req is not None else (None, [])
            if new is None:
                return None, found
            if any(f.code == "TP004" for f in found):
                return f"{item.group('lead')[:-len(item.group('lead').lstrip())]}# {stripped}  " \
                       f"{requirement_line.SOURCE_BUILD_MARK} built from source by `sam3d-codemod env`", found
            return item.group("lead") + new + item.group("tail"), found
        return _conda_pin(item, target)

    return _apply(text, edit, enabled)


def _conda_pin(item: "re.Match[str]", target: PinTarget) -> Tuple[Optional[str], List[Finding]]:
    pin = _CONDA_PIN.match(item.group("item"))
    if pin is None:
        return None, []
    name = pin.group("name")
    want = {"pytorch": target.torch, "pytorch-cuda": target.cuda}.get(name)
    if want is None:
        entry = target.entry(name)
        want = entry["version"] if entry else None
    if want is None or pin.group("version") == want:
        return None, []
    new_item = f"{name}{pin.group('op')}{want}"  # a build string names the old build: dropped
    return item.group("lead") + new_item + item.group("tail"), [
        Finding("TP001", "patched", f"conda {item.group('item')} -> {new_item} (torch {target.torch}, CUDA {target.cuda})")]

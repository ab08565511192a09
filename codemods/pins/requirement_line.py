"""One requirement (``name[extras] spec ; marker  # comment``) or pip option line (``-f URL``,
``--extra-index-url URL``), mapped to the target's release with the table (``table.PinTarget``).

Only the part that changes is rewritten: extras, marker, comment, indentation and spacing stay as
they were, so a file's other bytes (and its line ends, kept by the caller) never move.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Optional, Tuple

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from .table import PinTarget, normalise

# pip: a comment starts at a "#" at the line start or after whitespace (a URL's "#egg=" is not one)
_COMMENT = re.compile(r"(^|\s)#")
_NAME = re.compile(r"^(?P<lead>\s*)(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)(?P<extras>\s*\[[^\]]*\])?(?P<rest>.*)$")
_EXACT = re.compile(r"^==\s*(?P<version>[^\s,;]+)$")
_OPTION = re.compile(r"^(?P<lead>\s*)(?P<flag>-f|--find-links|--extra-index-url|--index-url|-i)(?P<sep>\s*=?\s*)(?P<url>\S+)(?P<tail>.*)$")
_TORCH_INDEX = re.compile(r"(download\.pytorch\.org/whl/)(?:nightly/)?(cu\d+|cpu|rocm[\d.]+)")
_KAOLIN_INDEX = re.compile(r"https?://nvidia-kaolin\.s3\.[a-z0-9-]+\.amazonaws\.com/torch-[0-9.]+_cu\d+\.html")
_SPCONV = re.compile(r"^spconv-cu(\d+)$")
_NVIDIA_CUDA = re.compile(r"^(nvidia-cuda-[a-z0-9-]+?)-cu(\d+)$")
_NVIDIA_OTHER = re.compile(r"^nvidia-[a-z0-9-]+-cu(\d+)$")
_CUDA_SUFFIX = re.compile(r"(?:-cu|cuda)(\d{2,3})x?$")  # cupy-cuda12x, cumm-cu121
_LOCAL_CUDA = re.compile(r"\+[a-z0-9.]*?cu(\d+)")  # +cu121, +pt25cu121
SOURCE_BUILD_MARK = "# sam3d-codemod TP004:"
_DISABLED = re.compile(r"^\s*#\s*(?P<req>\S.*?)\s+" + re.escape(SOURCE_BUILD_MARK))


@dataclass(frozen=True)
class Finding:
    code: str  # TP001..TP005, TP100
    status: str  # "patched" | "unhandled"
    message: str


@dataclass
class Requirement:
    """A requirement line cut into the parts a rewrite keeps and the part it may change."""

    lead: str
    name: str
    extras: str
    spec: str  # version specifier or "@ url", stripped
    spec_space: Tuple[str, str]  # whitespace before and after the spec
    marker: str  # "; ..." with the whitespace before it, or ""
    tail: str  # "  # comment", or ""

    @property
    def key(self) -> str:
        return normalise(self.name)

    @property
    def is_url(self) -> bool:
        return self.spec.startswith("@")

    def exact(self) -> Optional[str]:
        m = _EXACT.match(self.spec)
        return m.group("version") if m else None

    def text(self) -> str:
        return self.lead + self.name + self.extras + self.spec_space[0] + self.spec + self.spec_space[1] + self.marker + self.tail

    def with_pin(self, name: str, spec: str) -> str:
        space = self.spec_space if self.spec else ("", "")
        return self.lead + name + self.extras + space[0] + spec + space[1] + self.marker + self.tail

    def shown(self) -> str:
        return f"{self.name}{self.spec}" if not self.is_url else f"{self.name} {self.spec}"


def parse(body: str) -> Optional[Requirement]:
    """``body`` (a line without its line end) as a requirement, or None (blank, comment, option)."""
    comment = _COMMENT.search(body)
    code, tail = (body[:comment.start()], body[comment.start():]) if comment else (body, "")
    m = _NAME.match(code)
    if m is None or not code.strip() or code.lstrip().startswith("-"):
        return None
    rest = m.group("rest")
    split = re.search(r"\s;" if "@" in rest else ";", rest)
    spec_part, marker = (rest[:split.start()], rest[split.start():]) if split else (rest, "")
    stripped = spec_part.strip()
    before = spec_part[:len(spec_part) - len(spec_part.lstrip())] if stripped else spec_part
    after = spec_part[len(spec_part.rstrip()):] if stripped else ""
    if stripped and not re.match(r"^(@|[<>=!~(])", stripped):
        return None  # not a requirement pip would read either (a stray word): left alone
    return Requirement(m.group("lead"), m.group("name"), m.group("extras") or "", stripped, (before, after), marker, tail)


def disabled_requirement(body: str) -> Optional[str]:
    """The requirement a TP004 rewrite commented out on this line (its source build is `env`'s job)."""
    m = _DISABLED.match(body)
    return m.group("req") if m else None


def rewrite(body: str, target: PinTarget) -> Tuple[Optional[str], List[Finding]]:
    """(new line body or None when it stays, findings) for one line of a requirements file."""
    option = _OPTION.match(body)
    if option is not None:
        return _rewrite_option(option, target)
    req = parse(body)
    if req is None:
        return None, []
    return rewrite_requirement(req, target)


def _rewrite_option(m: "re.Match[str]", target: PinTarget) -> Tuple[Optional[str], List[Finding]]:
    url = m.group("url")
    new_url = rewrite_url(url, target)
    if new_url == url:
        return None, []
    body = m.group("lead") + m.group("flag") + m.group("sep") + new_url + m.group("tail")
    return body, [Finding("TP003", "patched", f"{url} -> {new_url} (the index for torch {target.torch} with CUDA {target.cuda})")]


def rewrite_url(url: str, target: PinTarget) -> str:
    """PyTorch's and kaolin's wheel indexes moved to the target's torch and CUDA; other URLs unchanged."""
    m = _TORCH_INDEX.search(url)
    if m is not None and m.group(2) != f"cu{target.cuda_nodot}":
        url = url[:m.start()] + m.group(1) + f"cu{target.cuda_nodot}" + url[m.end():]
    kaolin = target.entry("kaolin")
    if kaolin is not None and _KAOLIN_INDEX.fullmatch(url):
        url = target.fill(kaolin["wheel_index"])
    return url


def rewrite_requirement(req: Requirement, target: PinTarget) -> Tuple[Optional[str], List[Finding]]:
    key = req.key
    entry = target.entry(key)
    if key == "torch":
        return _torch(req, target)
    if key == "numpy":
        return _numpy(req, target)
    if entry is not None and entry["rule"] == "TP001":
        return _companion(req, entry, target)
    if entry is not None and entry["rule"] == "TP004":
        return _source_build(req, target)
    if key == "flash-attn":  # (the table's spelling; pip reads flash_attn and flash-attn alike)
        return _source_build(req, target)
    if entry is not None and entry["rule"] == "TP005":
        return _python_marker(req, entry)
    if entry is not None and entry["rule"] == "TP100":
        return None, _dependent(req, entry, target)
    cuda = _cuda_wheel(req, target)
    if cuda is not None:
        return cuda
    return None, _foreign_cuda(req, target)


def _torch(req: Requirement, target: PinTarget) -> Tuple[Optional[str], List[Finding]]:
    if not req.spec or _accepts(req.spec, target.torch):
        return None, []
    if req.is_url:
        return None, [Finding("TP100", "unhandled", f"torch from {req.spec[1:].strip()}: install torch {target.torch} instead")]
    return req.with_pin(req.name, f"=={target.torch}"), [
        Finding("TP001", "patched", f"{req.shown()} -> {req.name}=={target.torch} (the target torch)")]


def _companion(req: Requirement, entry: dict, target: PinTarget) -> Tuple[Optional[str], List[Finding]]:
    want = entry["version"]
    if req.is_url:
        return None, [Finding("TP100", "unhandled", f"{req.name} from a URL: use {req.name}=={want} for torch {target.torch}")]
    findings = []
    body = None
    if req.exact() != want:
        why = ""
        seen = entry.get("upstream") or {}
        old = req.exact()
        if old is not None and seen.get("version") == _public(old) and seen.get("requires_torch"):
            why = f" needs torch{seen['requires_torch']}"
        elif not req.spec:
            why = " unpinned takes the newest release, built for the newest torch"
        body = req.with_pin(req.name, f"=={want}")
        findings.append(Finding("TP001", "patched", f"{req.shown()}{why} -> {req.name}=={want} "
                                                    f"(Requires-Dist: torch{entry['requires_torch']})"))
    if entry.get("marker") and not req.marker.strip():
        pinned = parse(body) if body is not None else req
        assert pinned is not None  # (body is a pinned requirement line)
        marked, found = _python_marker(pinned, dict(entry, version=want))
        body, findings = marked, findings + found
    return body, findings


def _source_build(req: Requirement, target: PinTarget) -> Tuple[Optional[str], List[Finding]]:
    original = req.text().strip()
    body = (f"{req.lead}# {original}  {SOURCE_BUILD_MARK} built from source against torch {target.torch}"
            " by `sam3d-codemod env`")
    return body, [Finding("TP004", "patched", f"{req.shown()} moved to the install plan's source builds "
                                               "(`sam3d-codemod env`, step 3): its binaries must match "
                                               f"the installed torch {target.torch}")]


def _python_marker(req: Requirement, entry: dict) -> Tuple[Optional[str], List[Finding]]:
    if not entry.get("marker") or req.marker.strip():
        return None, []
    body = req.lead + req.name + req.extras + req.spec_space[0] + req.spec + req.spec_space[1].rstrip() + \
        f"; {entry['marker']}" + req.tail
    pythons = ", ".join(sorted(entry["pythons"], key=lambda v: tuple(int(x) for x in v.split("."))))
    return body, [Finding("TP005", "patched", f"{req.name} {entry['version']} has wheels only for CPython {pythons} "
                                               f"(PyPI): installed there only ({entry['marker']})")]


def _numpy(req: Requirement, target: PinTarget) -> Tuple[Optional[str], List[Finding]]:
    """numpy where the target torch was built against numpy 1 (its constraints say ``numpy<2``)."""
    cap = next((c[len("numpy"):] for c in target.constraints if normalise(c.split("<")[0].split("=")[0]) == "numpy"), None)
    if cap is None or req.is_url or (req.spec and _overlaps_below_2(req.spec)):
        return None, []
    return req.with_pin(req.name, cap), [Finding("TP001", "patched", f"{req.shown() or 'numpy'} -> numpy{cap} "
                                                                      f"({target.data['numpy_source']})")]


def _overlaps_below_2(spec: str) -> bool:
    try:
        specifier = SpecifierSet(spec)
    except InvalidSpecifier:
        return True  # not ours to judge
    return any(specifier.contains(v) for v in ("1.21.6", "1.23.5", "1.24.4", "1.26.4"))


def _dependent(req: Requirement, entry: dict, target: PinTarget) -> List[Finding]:
    first, old = entry.get("first_needing_newer_torch"), req.exact()
    if not first or old is None:
        return []
    try:
        if Version(_public(old)) < Version(first):
            return []
    except InvalidVersion:
        return []
    return [Finding("TP100", "unhandled", f"{req.shown()} needs a newer torch than {target.torch}: from {first} its "
                                          f"Requires-Dist says torch{entry['its_requires_torch']}; pin it below {first} "
                                          f"(e.g. {req.name}=={entry['version']})")]


def _cuda_wheel(req: Requirement, target: PinTarget) -> Optional[Tuple[Optional[str], List[Finding]]]:
    key = req.key
    m = _SPCONV.match(key)
    if m is not None:
        entry = target.known("spconv")
        new_name = target.fill(entry["pattern"])
        if key == new_name and req.exact() == entry["version"]:
            return None, []
        if key == new_name and req.spec and _accepts(req.spec, entry["version"]):
            return None, []
        return req.with_pin(new_name, f"=={entry['version']}"), [
            Finding("TP002", "patched", f"{req.shown()} -> {new_name}=={entry['version']} (the spconv build for CUDA {target.cuda})")]
    m = _NVIDIA_CUDA.match(key)
    if key == "cuda-python" or m is not None:
        entry = target.known("cuda-python" if key == "cuda-python" else "nvidia-cuda-nvcc")
        new_name = key if m is None else f"{m.group(1)}-cu{target.cuda_major}"
        want = target.fill(entry["version"])  # "11.8.*": the release line of that CUDA
        old = req.exact()
        if key == new_name and old is not None and (old == want or old.startswith(target.cuda + ".")):
            return None, []
        return req.with_pin(new_name, f"=={want}"), [
            Finding("TP002", "patched", f"{req.shown()} -> {new_name}=={want} (CUDA {target.cuda})")]
    return None


def _foreign_cuda(req: Requirement, target: PinTarget) -> List[Finding]:
    """A CUDA build the table has no entry for: built for another CUDA than the target's."""
    other = None
    m = _NVIDIA_OTHER.match(req.key)
    if m is not None and m.group(1) != target.cuda_major:
        other = m.group(1)
    label = _LOCAL_CUDA.search(req.spec)
    if label is not None and label.group(1) != target.cuda_nodot:
        other = label.group(1)
    suffix = _CUDA_SUFFIX.search(req.key)
    if suffix is not None and not target.cuda_nodot.startswith(suffix.group(1)) and not m:
        other = suffix.group(1)
    if other is None:
        return []
    return [Finding("TP100", "unhandled", f"{req.shown()} is built for CUDA {other}, not {target.cuda}, and the pin table "
                                          f"has no entry for it: pin its CUDA {target.cuda} build by hand")]


def _public(version: str) -> str:
    return version.split("+", 1)[0]


def _accepts(spec: str, version: str) -> bool:
    try:
        return SpecifierSet(spec).contains(version, prereleases=True)
    except InvalidSpecifier:
        return False

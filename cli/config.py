"""Configuration: where ``[tool.sam3d-codemod]`` comes from, what its values may be, and how it
meets the command line.

Discovery (as Ruff and Black do it): the nearest ``pyproject.toml`` at or above the first PATH
(the ``--stdin-filename`` for ``-``) *that has a* ``[tool.sam3d-codemod]`` *table*; a
``pyproject.toml`` without one (upstream's own, inside a consumer's submodule) is passed over.
``--config FILE`` names the file instead; ``--isolated`` reads none.

Trust boundary: a section inside the tree being checked is upstream's, untrusted; the nearest one
outside it is used, and the tree's may only add checks (cli/config_trust.py). Every file is read
within size and depth bounds (cli/bounded.py).

Values are typed: lists must be TOML arrays of strings, numbers TOML integers, ``target-torch`` and
``target-cuda`` strings (a TOML float ``2.10`` would read as 2.1). Each value then goes through the click type of
the option it stands for, so the config and the command line accept exactly the same values.

Precedence: an option given on the command line replaces the config's value for that key;
``--extend-exclude`` (and the ``extend-exclude`` key) add to ``exclude`` instead.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

import click
from click.core import ParameterSource

from . import inputs

SECTION = "sam3d-codemod"
# The torch releases the API table (codemods/data/torch_api.json) was generated from; a test
# keeps these equal to its first and last release.
OLDEST_TORCH, NEWEST_TORCH = (2, 0), (2, 13)
LIST_KEYS = ("select", "ignore", "exclude", "extend-exclude")
INT_KEYS = ("jobs", "max-file-size")
STR_KEYS = ("target-torch", "target-cuda")
KEYS = LIST_KEYS + INT_KEYS + STR_KEYS


class ConfigError(Exception):
    """A bad config file or value: one line, exit 2."""


# ---------------------------------------------------------------- option types

def parse_torch_version(text: str) -> Tuple[int, int]:
    """``"2.0"``, ``"2.0.1"``, ``"2.1.0+cu118"`` -> (major, minor) of a torch release the tool knows.

    ``packaging.version`` parses it (imported only for a value that is not plain ``2.N``);
    ``1.9``, ``-1``, ``2.0.0.0.0``, ``2.4.0rc1`` and releases outside the API table's range are refused."""
    text = str(text).strip()
    match = re.fullmatch(r"(\d+)\.(\d+)", text)
    if match:
        release: Tuple[int, ...] = (int(match.group(1)), int(match.group(2)))
    else:
        from packaging.version import InvalidVersion, Version

        try:
            version = Version(text)
        except InvalidVersion:
            raise ValueError(f"{text!r} is not a torch release (e.g. 2.0)") from None
        if version.is_prerelease or version.is_postrelease or version.epoch or len(version.release) > 3:
            raise ValueError(f"{text!r} is not a torch release (e.g. 2.0)")
        release = version.release + (0,) * (2 - len(version.release))
    key = release[:2]
    if not OLDEST_TORCH <= key <= NEWEST_TORCH:
        lo, hi = (".".join(map(str, v)) for v in (OLDEST_TORCH, NEWEST_TORCH))
        raise ValueError(f"{text!r}: the supported torch releases are {lo} to {hi}")
    return key  # type: ignore[return-value]


class TorchVersion(click.ParamType):
    """A torch release as ``"2.N"`` (the form the rules and the API table use)."""

    name = "VERSION"

    def convert(self, value, param, ctx):
        if isinstance(value, (float, int)) and not isinstance(value, bool):
            self.fail(f"{value!r} is a number; write the release as a string (\"2.10\" is not 2.1)", param, ctx)
        try:
            major, minor = parse_torch_version(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        return f"{major}.{minor}"


TORCH_VERSION = TorchVersion()


class CudaVersion(click.ParamType):
    """A CUDA release as ``"X.Y"`` (the form the pin table uses); whether the table has it for the
    target torch is decided once both are known (``Run.options``)."""

    name = "X.Y"

    def convert(self, value, param, ctx):
        text = str(value).strip()
        if isinstance(value, (float, int)) and not isinstance(value, bool) or not re.fullmatch(r"\d{1,2}\.\d{1,2}", text):
            self.fail(f"{value!r} is not a CUDA release written as a string X.Y (e.g. \"11.8\")", param, ctx)
        return text


CUDA_VERSION = CudaVersion()


# ---------------------------------------------------------------- discovery

def candidates(start: Path) -> Iterator[Path]:
    """``pyproject.toml`` paths from ``start`` (a directory or a file) up to the file system root."""
    start = start.resolve()
    if not start.is_dir():
        start = start.parent
    for d in [start, *start.parents]:
        inputs.note(d / "pyproject.toml")  # looked for: a new one changes which config a run reads
        yield d / "pyproject.toml"


def _read_toml(path: Path) -> dict:
    """Within size and depth bounds (cli/bounded.py): the file may be upstream's."""
    from .bounded import BoundsError, load_toml

    inputs.note(path)
    try:
        return load_toml(path)
    except BoundsError as exc:
        raise ConfigError(str(exc)) from None


def _section(path: Path, data: dict) -> Optional[dict]:
    """The ``[tool.sam3d-codemod]`` table, None when the file has none."""
    tool = data.get("tool")
    if tool is None:
        return None
    if not isinstance(tool, dict):
        raise ConfigError(f"{path}: `tool` must be a table, not {_toml_type(tool)}")
    section = tool.get(SECTION)
    if section is None:
        return None
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: `tool.{SECTION}` must be a table, not {_toml_type(section)}")
    return section


def find_config(start: Path, tree: Optional[Path] = None) -> Tuple[Optional[Path], dict]:
    """(file, its section) for the nearest pyproject.toml with a ``[tool.sam3d-codemod]`` table
    outside ``tree`` (cli/config_trust.py; None: every file counts)."""
    path, section, _ = find_configs(start, tree)
    return path, section


def find_configs(start: Path, tree: Optional[Path]) -> Tuple[Optional[Path], dict, Optional[Tuple[Path, dict]]]:
    """The nearest trusted (file, section), and the nearest section inside ``tree`` (or None)."""
    from .config_trust import inside

    untrusted = None
    for candidate in candidates(start):
        if candidate.is_file():
            section = _section(candidate, _read_toml(candidate))
            if section is None:
                continue
            if tree is not None and inside(candidate, tree):
                untrusted = untrusted or (candidate, section)
                continue
            return candidate, section, untrusted
    return None, {}, untrusted


def read_config(path: Path) -> dict:
    """``--config FILE``: its ``[tool.sam3d-codemod]`` table, which must exist."""
    if not path.is_file():
        raise ConfigError(f"{path}: --config: no such file")
    section = _section(path, _read_toml(path))
    if section is None:
        raise ConfigError(f"{path}: --config: the file has no [tool.{SECTION}] table")
    return section


# ---------------------------------------------------------------- values

def _toml_type(value) -> str:
    return {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "an array",
            dict: "a table"}.get(type(value), type(value).__name__)


def validate(path: Path, section: dict) -> Dict[str, Any]:
    """The section's values, TOML types checked (the click types check the rest)."""
    unknown = sorted(set(section) - set(KEYS))
    if unknown:
        raise ConfigError(f"{path}: unknown [tool.{SECTION}] keys: {', '.join(unknown)} "
                          f"(known: {', '.join(KEYS)})")
    out: Dict[str, Any] = {}
    for key, value in section.items():
        where = f"{path}: [tool.{SECTION}] {key}"
        if key in LIST_KEYS:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                example = '["TC005"]' if key in ("select", "ignore") else '["pkg/a.py"]'
                raise ConfigError(f"{where}: expected an array of strings, e.g. {key} = {example}; got {_toml_type(value)}")
        elif key in INT_KEYS:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{where}: expected an integer, got {_toml_type(value)}")
        elif key in STR_KEYS:
            example = "2.0" if key == "target-torch" else "11.8"
            if isinstance(value, float):
                raise ConfigError(f"{where}: {value!r} is a TOML float; quote it, e.g. {key} = \"{value}\" "
                                  "(unquoted 2.10 reads as 2.1)")
            if not isinstance(value, str):
                raise ConfigError(f"{where}: expected a string such as \"{example}\", got {_toml_type(value)}")
        out[key] = value
    return out


def split_codes(values: Iterable[str]) -> List[str]:
    """``("TC003,TC005", "TC007")`` -> ``["TC003", "TC005", "TC007"]``."""
    out: List[str] = []
    for v in values or ():
        out += [p for p in str(v).replace(" ", ",").split(",") if p]
    return out


def convert(ctx: click.Context, path: Optional[Path], section: Dict[str, Any]) -> Dict[str, Any]:
    """Each value through the click type of the option it stands for (keys without an option are dropped)."""
    by_name = {p.name: p for p in ctx.command.params}
    out: Dict[str, Any] = {}
    for key, value in section.items():
        param = by_name.get(key.replace("-", "_"))
        if param is None:
            continue
        try:
            out[key] = param.type_cast_value(ctx, value)
        except click.BadParameter as exc:
            raise ConfigError(f"{path}: [tool.{SECTION}] {key}: {exc.message}") from None
    return out


def merge(ctx: click.Context, path: Optional[Path], section: Dict[str, Any]) -> Dict[str, Any]:
    """The command's parameters with the config applied under the command line.

    Each config value is converted by the option's own click type (the same checks as on the
    command line); an option given on the command line keeps its value, except that
    ``extend-exclude`` adds to ``exclude``."""
    params = dict(ctx.params)
    for key, converted in convert(ctx, path, section).items():
        name = key.replace("-", "_")
        if name == "extend_exclude" or ctx.get_parameter_source(name) in (None, ParameterSource.DEFAULT,
                                                                          ParameterSource.DEFAULT_MAP):
            if name == "extend_exclude" and ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE:
                converted = tuple(converted) + tuple(params.get(name) or ())
            params[name] = converted
    return params


def resolve(ctx: click.Context, paths: Iterable[str], config_file: Optional[str], isolated: bool,
            stdin_filename: Optional[str] = None, notes: Optional[List[str]] = None
            ) -> Tuple[Optional[Path], Dict[str, Any]]:
    """(trusted config file used or None, the command's parameters with it applied). A section
    inside the tree may only add checks (cli/config_trust.py); ``notes`` gets what it could not set."""
    if isolated or os.environ.get("SAM3D_CODEMOD_ISOLATED"):
        return None, dict(ctx.params)
    untrusted = None
    if config_file is not None:
        path: Optional[Path] = Path(config_file)
        section = read_config(path)  # type: ignore[arg-type]
    else:
        from .config_trust import tree_root

        paths = list(paths)
        first = stdin_filename if (paths and paths[0] == "-" and stdin_filename) else \
            (paths[0] if paths and paths[0] != "-" else ".")
        path, section, untrusted = find_configs(Path(first), tree_root(Path(first)))
    params = dict(ctx.params) if path is None else merge(ctx, path, validate(path, section))
    if untrusted is not None:
        from .config_trust import add_only, note

        tree_path, tree_section = untrusted
        values = convert(ctx, tree_path, validate(tree_path, tree_section))  # the same checks as a trusted file's
        if "select" in values:
            values["select"] = split_codes(values["select"])
        params, ignored = add_only(params, split_codes(params.get("select") or ()), values)
        if ignored and notes is not None:
            notes.append(note(tree_path, ignored))
    return path, params

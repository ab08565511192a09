"""libcst imported through the dataclass compile cache: same classes, fewer compiles, never an error."""
import json
import os
import subprocess
import sys

# Every generated dataclass method of every libcst class, as comparable data.
DUMP = r"""
import dataclasses, inspect, json, sys
from sam3d_codemod.codemods.engine import libcst_loader
libcst = libcst_loader.load()
assert "exec" not in vars(dataclasses), "dataclasses.exec left patched"

def code_data(code):
    # (a frozenset constant, `name in {...}` from Python 3.12, iterates in this process's hash order)
    consts = [code_data(c) if inspect.iscode(c) else repr(sorted(c)) if isinstance(c, frozenset) else repr(c)
              for c in code.co_consts]
    return [code.co_name, code.co_code.hex(), consts, list(code.co_names), list(code.co_varnames),
            list(code.co_freevars), code.co_flags, code.co_filename]

out = {}
for name, module in sorted(sys.modules.items()):
    if not name.startswith("libcst"):
        continue
    for cls_name, cls in sorted(vars(module).items()):
        if not (inspect.isclass(cls) and dataclasses.is_dataclass(cls) and cls.__module__ == name):
            continue
        methods = {}
        for attr, fn in sorted(vars(cls).items()):
            if inspect.isfunction(fn) and fn.__code__.co_filename == "<string>":
                methods[attr] = [code_data(fn.__code__), repr(fn.__defaults__), repr(fn.__kwdefaults__),
                                 sorted(map(str, fn.__annotations__.items())), fn.__qualname__]
        out[f"{name}.{cls_name}"] = methods
print(json.dumps({"classes": out, "stats": libcst_loader.stats}))
"""


def dump(cache_dir, **env):
    full = {k: v for k, v in os.environ.items() if k != "SAM3D_CODEMOD_NO_COMPILE_CACHE"}
    full.update(SAM3D_CODEMOD_CACHE=str(cache_dir), **env)
    r = subprocess.run([sys.executable, "-c", DUMP], capture_output=True, text=True, env=full)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def cache_path(cache_dir):
    (found,) = (cache_dir / "compiled").glob("libcst-dataclasses.*.marshal")
    assert sys.implementation.cache_tag in found.name
    return found


def test_cached_classes_equal_plain_ones(tmp_path):
    plain = dump(tmp_path / "unused", SAM3D_CODEMOD_NO_COMPILE_CACHE="1")
    assert not (tmp_path / "unused").exists()
    first = dump(tmp_path)  # compiles and writes the cache
    # (978 compiles on Python 3.9-3.12 with libcst 1.9, 196 on 3.13: one per class, all methods together)
    assert first["stats"]["reused"] == 0 and first["stats"]["compiled"] > 150
    assert cache_path(tmp_path).is_file()
    second = dump(tmp_path)  # served from the cache
    assert second["stats"] == {"reused": first["stats"]["compiled"], "compiled": 0}
    methods = sum(len(m) for m in plain["classes"].values())
    assert len(plain["classes"]) > 150 and methods > 500
    assert first["classes"] == plain["classes"]
    assert second["classes"] == plain["classes"]


def test_cache_not_rewritten_when_complete(tmp_path):
    dump(tmp_path)
    path = cache_path(tmp_path)
    before = path.stat().st_mtime_ns, path.stat().st_ino
    dump(tmp_path)
    assert (path.stat().st_mtime_ns, path.stat().st_ino) == before


def test_stale_entries_dropped(tmp_path):
    import marshal

    dump(tmp_path)
    path = cache_path(tmp_path)
    key, codes = marshal.loads(path.read_bytes())
    codes["def __create_fn__():\n def stale(self): pass\n return stale"] = compile("pass", "<string>", "exec")
    path.write_bytes(marshal.dumps((key, codes)))
    out = dump(tmp_path)
    assert out["stats"]["compiled"] == 0
    assert len(marshal.loads(path.read_bytes())[1]) == len(codes) - 1

    path.write_bytes(marshal.dumps(("another key", codes)))  # another format: ignored and replaced
    assert dump(tmp_path)["stats"]["reused"] == 0
    assert marshal.loads(path.read_bytes())[0] == key


def test_corrupt_or_unwritable_cache_still_imports(tmp_path):
    dump(tmp_path)
    path = cache_path(tmp_path)
    path.write_bytes(b"\x00garbage")
    out = dump(tmp_path)
    assert out["stats"]["reused"] == 0 and out["stats"]["compiled"] > 150
    assert dump(tmp_path)["stats"]["compiled"] == 0  # rewritten whole

    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")  # the cache dir cannot be created under a file
    out = dump(blocked)
    assert out["stats"]["compiled"] > 150
    assert blocked.read_text() == ""

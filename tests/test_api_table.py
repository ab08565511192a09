"""The committed torch API table (``codemods/data/torch_api.json``) has the facts the rules rely on.

Every expectation below was checked against the static scan of the real wheels
(``scripts/gen_api_table.py``), not taken from release notes.
"""
import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _import_api_table():
    try:
        from sam3d_codemod.codemods.apiscan import table as api_table  # installed layout
        return api_table
    except ImportError:
        pass
    path = ROOT / "codemods" / "apiscan" / "table.py"
    spec = importlib.util.spec_from_file_location("_sam3d_api_table", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


api_table = _import_api_table()
DATA = ROOT / "codemods" / "data" / "torch_api.json"


@pytest.fixture(scope="module")
def table():
    return api_table.load()


# symbol -> first release (None: already in torch 2.0)
FIRST_RELEASE = {
    "torch.compiler": "2.1",
    "torch.compiler.disable": "2.1",
    "torch.compiler.is_compiling": "2.3",
    "torch.compiler.is_dynamo_compiling": "2.3",
    "torch.nn.attention": "2.3",
    "torch.nn.attention.sdpa_kernel": "2.3",
    "torch.nn.attention.SDPBackend": "2.3",
    "torch.nn.attention.bias": "2.3",
    "torch.nn.attention.bias.causal_lower_right": "2.3",
    "torch.nn.attention.flex_attention": "2.5",
    "torch._dynamo.config.accumulated_cache_size_limit": "2.2",
    "torch._dynamo.config.recompile_limit": "2.7",
    "torch.load(mmap=)": "2.1",
    "torch.nn.functional.scaled_dot_product_attention(scale=)": "2.1",
    "torch.nn.functional.scaled_dot_product_attention(enable_gqa=)": "2.5",
    "torch.utils._pytree.tree_map(*rests=)": "2.3",
    "torch.utils._pytree.tree_map(is_leaf=)": "2.3",
    "torch.utils.checkpoint.checkpoint(context_fn=)": "2.1",
    "torch.amp.GradScaler": "2.3",
    # present in 2.0
    "torch._dynamo": None,
    "torch._dynamo.config": None,
    "torch._dynamo.config.cache_size_limit": None,
    "torch._dynamo.disable": None,
    "torch.index_add": None,
    "torch.Tensor.index_add": None,
    "torch.Tensor.index_add_": None,
    "torch.nn.functional.scaled_dot_product_attention": None,
    "torch.nn.functional.scaled_dot_product_attention(is_causal=)": None,
    "torch.load(weights_only=)": None,
    "torch.utils.checkpoint.checkpoint(use_reentrant=)": None,
    "torch.autocast.__init__(device_type=)": None,
    "torch.compile": None,
    "torch.compile(mode=)": None,
    "torch.set_default_device": None,
    "torch.backends.cuda.sdp_kernel": None,
}


@pytest.mark.parametrize("symbol,expected", sorted(FIRST_RELEASE.items()))
def test_first_release(table, symbol, expected):
    assert table.first_release(symbol) == expected


@pytest.mark.parametrize("symbol,expected", sorted(FIRST_RELEASE.items()))
def test_newer_than_2_0(table, symbol, expected):
    assert table.newer_than(symbol) is (expected is not None)
    assert table.newer_than(symbol, "2.0.0") is (expected is not None)


def test_newer_than_other_targets(table):
    assert table.newer_than("torch.compiler.is_compiling", "2.2")
    assert not table.newer_than("torch.compiler.is_compiling", "2.3")
    assert not table.newer_than("torch.compiler.is_compiling", "2.13")
    # numeric, not lexicographic, version order
    assert table.newer_than("torch._dynamo.config.recompile_limit", "2.6")
    assert not table.newer_than("torch._dynamo.config.recompile_limit", "2.10")


def test_kwarg_first_release(table):
    sdpa = "torch.nn.functional.scaled_dot_product_attention"
    assert table.kwarg_first_release(sdpa, "scale") == "2.1"
    assert table.kwarg_first_release(sdpa, "scale=") == "2.1"
    assert table.kwarg_first_release(sdpa, "enable_gqa") == "2.5"
    assert table.kwarg_first_release(sdpa, "dropout_p") is None
    assert table.kwarg_first_release("torch.utils._pytree.tree_map", "*rests") == "2.3"
    assert table.kwarg_first_release("torch.load", "mmap") == "2.1"
    assert table.kwarg_first_release("torch.load", "weights_only") is None


def test_removed(table):
    # 2.2 renamed tree_map(fn, pytree) -> tree_map(func, tree)
    assert table.removed_in("torch.utils._pytree.tree_map(fn=)") == "2.2"
    assert table.removed_in("torch.utils._pytree.tree_map(pytree=)") == "2.2"
    assert table.first_release("torch.utils._pytree.tree_map(func=)") == "2.2"
    assert not table.available_in("torch.utils._pytree.tree_map(fn=)", "2.5")
    assert table.available_in("torch.utils._pytree.tree_map(fn=)", "2.1")
    assert table.removed_in("torch.compiler") is None


def test_available_in(table):
    assert table.available_in("torch.index_add", "2.0")
    assert not table.available_in("torch.nn.attention.sdpa_kernel", "2.0")
    assert table.available_in("torch.nn.attention.sdpa_kernel", "2.3")


def test_load_is_cached():
    assert api_table.load() is api_table.load()


def test_file_shape():
    raw = DATA.read_bytes()
    assert len(raw) < 2 * 1024 * 1024
    data = json.loads(raw)
    assert data["generated_by"] == "scripts/gen_api_table.py"
    versions = data["versions"]
    assert versions[0] == "2.0"
    assert versions == sorted(versions, key=api_table.version_key)
    assert all(v.count(".") == 1 for v in versions)
    assert data["known_in_oldest_count"] > 10000
    for key in ("first_release", "removed_in"):
        entries = data[key]
        assert list(entries) == sorted(entries)
        assert set(entries.values()) <= set(versions[1:])
    # only what 2.0 lacks is stored
    assert "2.0" not in set(data["first_release"].values())


def test_version_key():
    assert api_table.version_key("2.10") > api_table.version_key("2.9")
    assert api_table.version_key("2.3.1+cu121") == (2, 3)
    assert api_table.kwarg_symbol("torch.load", "mmap") == "torch.load(mmap=)"


def test_no_heavy_imports():
    src = (ROOT / "codemods" / "apiscan" / "table.py").read_text()
    assert "import torch" not in src
    assert "import libcst" not in src

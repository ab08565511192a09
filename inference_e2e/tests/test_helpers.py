"""Helper-call counting (inference_e2e/helpers.py) on a stand-in ``_torch_compat`` module: every
call through the module attribute is counted, classes stay classes, ``restore`` puts the originals
back, and the cost estimate multiplies calls by the added microseconds."""
import types

import pytest

from inference_e2e import helpers


def _compat():
    module = types.ModuleType("_torch_compat")
    exec(
        "__all__ = ['tree_map', 'is_compiling', 'SDPBackend', 'FORCE_FALLBACK']\n"
        "FORCE_FALLBACK = False\n"
        "class SDPBackend: pass\n"
        "def tree_map(fn, tree, *rests):\n"
        "    return {k: fn(v, *(r[k] for r in rests)) for k, v in tree.items()}\n"
        "def is_compiling():\n"
        "    return False\n"
        "def _private():\n"
        "    return 1\n",
        module.__dict__,
    )
    return module


def test_counts_calls_through_the_module_and_restores_the_originals():
    compat = _compat()
    originals = {name: getattr(compat, name) for name in ("tree_map", "is_compiling", "SDPBackend", "_private")}
    counter = helpers.CallCounter(compat)
    assert compat.tree_map is not originals["tree_map"]
    assert compat.SDPBackend is originals["SDPBackend"]  # a class is never wrapped: isinstance must keep working
    assert compat._private is originals["_private"]      # nor anything outside __all__
    for _ in range(3):
        assert compat.tree_map(lambda a, b: a + b, {"x": 1}, {"x": 2}) == {"x": 3}  # results pass through
    assert compat.is_compiling() is False
    assert counter.restore() == {"is_compiling": 1, "tree_map": 3}
    assert {name: getattr(compat, name) for name in originals} == originals
    compat.tree_map(lambda a: a, {"x": 1})
    assert counter.counts == {"is_compiling": 1, "tree_map": 3}  # nothing counted after restore


def test_a_helper_that_raises_is_still_counted_and_restored():
    compat = _compat()
    counter = helpers.CallCounter(compat)
    with pytest.raises(AttributeError):
        compat.tree_map(lambda a: a, None)
    assert counter.restore() == {"tree_map": 1}


def test_overhead_is_calls_times_added_microseconds():
    calls = {"tree_map": 1000, "sdpa_kernel": 500, "missing": 7}
    cost = {"tree_map": {"added_us": 0.25}, "sdpa_kernel": {"added_us": -0.3}}
    assert helpers.overhead_ms(calls, cost) == pytest.approx(0.25)  # negative: below resolution, zero
    assert helpers.overhead_ms(calls, {"skipped": "torch 2.0"}) is None
    assert helpers.overhead_ms(calls, None) is None

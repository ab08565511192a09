"""Differential tests of the ``_torch_compat`` template against native torch.

Each helper is checked on its native branch and, with ``FORCE_FALLBACK``, on its torch-2.0 branch,
against native torch where this torch has the native API (else the test is skipped with the
reason), and against fixed expectations that hold on every torch.

Run inside a venv from ``scripts/torch-envs``:
    <env>/bin/python -m pytest -m runtime tests/runtime/test_torch_compat_native.py -q
"""
import copy
import importlib.util
import inspect
import itertools
import sys
import typing
import warnings
from collections import OrderedDict, defaultdict, deque, namedtuple
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
hypothesis = pytest.importorskip("hypothesis")
import torch.utils._pytree as pytree  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

pytestmark = pytest.mark.runtime

TEMPLATE = Path(__file__).resolve().parents[2] / "codemods" / "runtime" / "torch_compat.py"
_loaded = 0


def load_compat(name=None):
    """Import the template by path; registered in sys.modules so dynamo can resolve its globals."""
    global _loaded
    _loaded += 1
    name = name or "sam3d_torch_compat_under_test_%d" % _loaded
    spec = importlib.util.spec_from_file_location(name, TEMPLATE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


tc = load_compat("sam3d_torch_compat_under_test")


# ----------------------------------------------------------------------------- feature probes
def _has_var_positional(fn):
    return any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in inspect.signature(fn).parameters.values())


HAS_NATIVE_TREE_MAP = _has_var_positional(pytree.tree_map) and "is_leaf" in inspect.signature(pytree.tree_map).parameters
HAS_NATIVE_IS_COMPILING = hasattr(getattr(torch, "compiler", None), "is_compiling")
try:
    import torch.nn.attention as native_attention
except ImportError:
    native_attention = None


def _compile_works():
    try:
        return bool(torch.compile(lambda x: x + 1, backend="eager")(torch.zeros(1)).eq(1).all())
    except RuntimeError:
        return False


COMPILE_WORKS = _compile_works()

needs_native_tree_map = pytest.mark.skipif(not HAS_NATIVE_TREE_MAP,
                                           reason="this torch's _pytree.tree_map has no *rests/is_leaf (added in 2.2/2.3)")
needs_native_sdpa = pytest.mark.skipif(native_attention is None, reason="this torch has no torch.nn.attention (added in 2.3)")
needs_compile = pytest.mark.skipif(not COMPILE_WORKS, reason="torch.compile does not run with this torch/Python")
needs_native_is_compiling = pytest.mark.skipif(not HAS_NATIVE_IS_COMPILING,
                                               reason="this torch has no torch.compiler.is_compiling (added in 2.3)")


@pytest.fixture(params=[False, True], ids=["native-branch", "fallback-branch"])
def force(request, monkeypatch):
    monkeypatch.setattr(tc, "FORCE_FALLBACK", request.param)
    return request.param


@pytest.fixture
def fallback(monkeypatch):
    monkeypatch.setattr(tc, "FORCE_FALLBACK", True)


# ----------------------------------------------------------------------------- module shape
def test_header_constants_and_docstring():
    text = TEMPLATE.read_text()
    assert 'SAM3D_CODEMOD_VERSION = "0+template"\n' in text
    assert 'SAM3D_CODEMOD_HASH = "template"\n' in text
    assert "sam3d-codemod" in tc.__doc__ and "do not edit" in tc.__doc__.lower()
    assert "__version__" not in text, "support must be feature-detected, not parsed from torch.__version__"


@pytest.mark.parametrize("value,expected", [("1", True), ("0", False), ("", False)])
def test_force_fallback_env_var_read_at_import(monkeypatch, value, expected):
    monkeypatch.setenv("SAM3D_CODEMOD_FORCE_FALLBACK", value)
    module = load_compat()
    assert module.FORCE_FALLBACK is expected
    if expected or native_attention is None:
        assert module.SDPBackend is module._ShimSDPBackend
    else:
        assert module.SDPBackend is native_attention.SDPBackend


# ----------------------------------------------------------------------------- tree_map
Pair = namedtuple("Pair", "a b")
Triple = namedtuple("Triple", "x y z")
Other = namedtuple("Other", "a b")  # same arity as Pair, different class
KEYS = st.sampled_from(["a", "b", "c", "d"])

leaves = st.one_of(
    st.integers(-3, 3),
    st.none(),
    st.lists(st.integers(-3, 3), max_size=3).map(lambda v: torch.tensor(v, dtype=torch.int64)),
)


def _containers(children):
    return st.one_of(
        st.lists(children, max_size=3),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(KEYS, children, max_size=3),
        st.dictionaries(KEYS, children, max_size=3).map(lambda d: OrderedDict(sorted(d.items(), reverse=True))),
        st.builds(Pair, children, children),
        st.builds(Triple, children, children, children),
    )


trees = st.recursive(leaves, _containers, max_leaves=10)
small_trees = st.recursive(leaves, _containers, max_leaves=3)


def _is_node(x):
    return isinstance(x, (list, tuple, dict))


def _rebuild(node, children):
    if isinstance(node, dict):
        return type(node)(zip(node.keys(), children))
    if isinstance(node, tuple) and hasattr(node, "_fields"):
        return type(node)(*children)
    return type(node)(children)


def _children(node):
    return list(node.values()) if isinstance(node, dict) else list(node)


@st.composite
def prefixed_rest(draw, tree):
    """A rest that has ``tree`` as a prefix: some leaves of ``tree`` replaced by whole subtrees."""
    if not _is_node(tree):
        return draw(st.one_of(leaves, small_trees))
    kids = [draw(prefixed_rest(child)) for child in _children(tree)]
    if isinstance(tree, dict):
        items = list(zip(tree.keys(), kids))
        items = draw(st.permutations(items))  # key order of a rest does not matter
        cls = draw(st.sampled_from([dict, OrderedDict]))  # dict and OrderedDict are interchangeable
        return cls(items)
    return _rebuild(tree, kids)


@st.composite
def mutated_rest(draw, tree):
    """A copy of ``tree`` with one structural change somewhere (may or may not still match)."""
    if not _is_node(tree) or draw(st.integers(0, 3)) == 0:
        kind = draw(st.sampled_from(["leaf", "drop", "add", "retype", "rekey", "tree"]))
        if kind == "leaf":
            return draw(st.integers(7, 9))
        if kind == "tree":
            return draw(small_trees)
        if not _is_node(tree):
            return [tree]
        kids = _children(tree)
        if kind == "drop" and kids:
            if isinstance(tree, dict):
                return type(tree)(list(tree.items())[1:])
            if hasattr(tree, "_fields"):
                return tuple(kids[1:])
            return type(tree)(kids[1:])
        if kind == "add":
            if isinstance(tree, dict):
                return type(tree)(list(tree.items()) + [("zz", 1)])
            return tuple(kids + [1]) if isinstance(tree, tuple) else kids + [1]
        if kind == "rekey" and isinstance(tree, dict) and kids:
            items = list(tree.items())
            return type(tree)([("zz", items[0][1])] + items[1:])
        if isinstance(tree, list):
            return tuple(kids)
        if isinstance(tree, tuple) and hasattr(tree, "_fields"):
            return tuple(kids) if draw(st.booleans()) else (Pair(*kids[:2]) if len(kids) == 3 else Triple(*(kids + [0])))
        if isinstance(tree, tuple):
            return list(kids)
        return list(kids)
    kids = _children(tree)
    i = draw(st.integers(0, len(kids) - 1)) if kids else None
    if i is None:
        return [1]
    kids = list(kids)
    kids[i] = draw(mutated_rest(kids[i]))
    return _rebuild(tree, kids)


def same(a, b):
    """Structural equality with exact container types and key order; tensors by value and dtype."""
    if type(a) is not type(b):
        return False
    if isinstance(a, torch.Tensor):
        return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, dict):
        return list(a.keys()) == list(b.keys()) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, deque):
        return a.maxlen == b.maxlen and same(list(a), list(b))
    return a == b


def run_tree_map(impl, tree, *rests, is_leaf=None):
    """(result or exception class, list of fn calls) for one implementation."""
    calls = []

    def fn(*xs):
        calls.append(xs)
        return ("mapped",) + xs

    try:
        if is_leaf is None:
            out = impl(fn, tree, *rests)
        else:
            out = impl(fn, tree, *rests, is_leaf=is_leaf)
    except Exception as error:  # (the class is what is compared)
        return type(error), calls
    return out, calls


def fallback_tree_map(fn, tree, *rests, is_leaf=None):
    old = tc.FORCE_FALLBACK
    tc.FORCE_FALLBACK = True
    try:
        return tc.tree_map(fn, tree, *rests, is_leaf=is_leaf)
    finally:
        tc.FORCE_FALLBACK = old


def assert_same_outcome(tree, *rests, is_leaf=None):
    native_out, native_calls = run_tree_map(pytree.tree_map, tree, *rests, is_leaf=is_leaf)
    ours_out, ours_calls = run_tree_map(fallback_tree_map, tree, *rests, is_leaf=is_leaf)
    if isinstance(native_out, type) and issubclass(native_out, BaseException):
        assert ours_out is native_out, "native raised %s, fallback gave %r" % (native_out.__name__, ours_out)
    else:
        assert not (isinstance(ours_out, type) and issubclass(ours_out, BaseException)), \
            "fallback raised %s, native returned" % ours_out.__name__
        assert same(ours_out, native_out), (ours_out, native_out)
        assert same(ours_calls, native_calls)
    return native_out


TREE_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@TREE_SETTINGS
@given(trees)
def test_tree_map_single_tree_matches_native_on_any_torch(tree):
    # A single tree without is_leaf works with every torch's native tree_map, 2.0 included.
    out = assert_same_outcome(tree)
    assert not isinstance(out, type)


@needs_native_tree_map
@TREE_SETTINGS
@given(st.data())
def test_tree_map_prefix_rests_match_native(data):
    tree = data.draw(trees)
    rests = [data.draw(prefixed_rest(tree)) for _ in range(data.draw(st.integers(1, 2)))]
    out = assert_same_outcome(tree, *rests)
    assert not isinstance(out, type), "a prefixed rest must be accepted"


@needs_native_tree_map
@TREE_SETTINGS
@given(st.data())
def test_tree_map_mismatched_rests_match_native(data):
    tree = data.draw(trees)
    assert_same_outcome(tree, data.draw(mutated_rest(tree)))


IS_LEAF_FNS = {
    "tuples": lambda x: isinstance(x, tuple),
    "short-lists": lambda x: isinstance(x, list) and len(x) < 2,
    "none": lambda x: x is None,
    "dicts-with-a": lambda x: isinstance(x, dict) and "a" in x,
}


def reference_tree_map(tree, rest, is_leaf=None):
    """Spec-level model of tree_map(fn, tree, rest) for a valid prefixed rest (fn returns its args)."""
    if (is_leaf is not None and is_leaf(tree)) or not _is_node(tree):
        return ("mapped", tree, rest)
    if isinstance(tree, dict):
        return type(tree)((key, reference_tree_map(tree[key], rest[key], is_leaf)) for key in tree)
    return _rebuild(tree, [reference_tree_map(a, b, is_leaf) for a, b in zip(tree, rest)])


@TREE_SETTINGS
@given(st.data())
def test_tree_map_fallback_matches_reference_model_on_any_torch(data):
    # The oracle for torches without a multi-tree tree_map (2.0): structure from `tree`, None is a
    # leaf, rest subtrees at leaf positions go to fn whole, dict/OrderedDict rests by key.
    tree = data.draw(trees)
    rest = data.draw(prefixed_rest(tree))
    name = data.draw(st.sampled_from([None] + sorted(IS_LEAF_FNS)))
    is_leaf = IS_LEAF_FNS[name] if name else None
    out = fallback_tree_map(lambda *xs: ("mapped",) + xs, tree, rest, is_leaf=is_leaf)
    assert same(out, reference_tree_map(tree, rest, is_leaf))


@needs_native_tree_map
@TREE_SETTINGS
@given(st.data())
def test_tree_map_is_leaf_matches_native(data):
    tree = data.draw(trees)
    is_leaf = IS_LEAF_FNS[data.draw(st.sampled_from(sorted(IS_LEAF_FNS)))]
    rests = [data.draw(prefixed_rest(tree))] if data.draw(st.booleans()) else []
    assert_same_outcome(tree, *rests, is_leaf=is_leaf)


MISMATCHES = [
    ([1, 2], [1]),
    ([1, 2], (1, 2)),
    ((1, 2), [1, 2]),
    ({"a": 1}, {"b": 1}),
    ({"a": 1}, {"a": 1, "b": 2}),
    (Pair(1, 2), (1, 2)),
    ((1, 2), Pair(1, 2)),
    (Pair(1, 2), Triple(1, 2, 3)),
    (Pair(1, 2), Other(1, 2)),
    ([Pair(1, [2])], [Other(1, [2])]),
    ([[1]], [2]),
    ({"a": [1]}, {"a": None}),
]


@pytest.mark.parametrize("tree,rest", MISMATCHES)
def test_tree_map_mismatch_raises_value_error(tree, rest):
    with pytest.raises(ValueError):
        fallback_tree_map(lambda *xs: xs, tree, rest)
    if HAS_NATIVE_TREE_MAP:
        with pytest.raises(ValueError):
            pytree.tree_map(lambda *xs: xs, tree, rest)


EXAMPLES = [
    # (fn, tree, rests, is_leaf, expected)  -- torch's documented multi-tree semantics
    (lambda x: x + 1, {"x": 7, "y": (42, 64)}, (), None, {"x": 8, "y": (43, 65)}),
    (lambda x: x is None, {"x": 7, "y": (42, 64), "z": None}, (), None, {"x": False, "y": (False, False), "z": True}),
    (lambda x, y: [x] + y, [5, 6], ([[7, 9], [1, 2]],), None, [[5, 7, 9], [6, 1, 2]]),
    (lambda x, y: (x, y), {"a": 1, "b": 2}, (OrderedDict([("b", 3), ("a", 4)]),), None, {"a": (1, 4), "b": (2, 3)}),
    (lambda x, y: (x, y), [None, 2], ([3, None],), None, [(None, 3), (2, None)]),
    (lambda x, y: (x, y), (1, [2]), ((5, 6),), lambda n: isinstance(n, list), ((1, 5), ([2], 6))),
    (lambda x, y: x + y, Pair(1, 2), (Pair(10, 20),), None, Pair(11, 22)),
]


@pytest.mark.parametrize("fn,tree,rests,is_leaf,expected", EXAMPLES)
def test_tree_map_fallback_documented_examples(fallback, fn, tree, rests, is_leaf, expected):
    out = tc.tree_map(fn, tree, *rests, is_leaf=is_leaf)
    assert same(out, expected), out


def _torch20_registry():
    # torch 2.0 registers only these containers; hide the rest to exercise the fallback's own table.
    nodes = pytree.SUPPORTED_NODES
    return {key: nodes[key] for key in (dict, list, tuple, namedtuple, OrderedDict) if key in nodes}


@needs_native_tree_map
@pytest.mark.parametrize(
    "tree,rest",
    [
        (defaultdict(list, {"a": 1, "b": [2, 3]}), {"b": [5, 6], "a": 4}),
        (deque([1, [2, 3]], maxlen=4), deque([5, [6, 7]])),
        ({"a": defaultdict(int, {"x": 1})}, {"a": {"x": 9}}),
        (deque([1, 2]), [1, 2]),
    ],
)
def test_tree_map_defaultdict_deque_with_torch20_registry(monkeypatch, tree, rest):
    monkeypatch.setattr(tc, "_supported_nodes", _torch20_registry)
    assert defaultdict not in tc._supported_nodes()
    assert_same_outcome(tree, rest)
    assert_same_outcome(tree)


@needs_native_tree_map
def test_tree_map_dispatches_to_native_when_not_forced(monkeypatch):
    monkeypatch.setattr(tc, "FORCE_FALLBACK", False)
    seen = []
    real = pytree.tree_map

    def spy(*args, **kwargs):
        seen.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(pytree, "tree_map", spy)
    assert tc.tree_map(lambda x, y: x + y, [1, 2], [3, 4]) == [4, 6]
    assert tc.tree_map(lambda x: x, [(1,)], is_leaf=lambda n: isinstance(n, tuple)) == [(1,)]
    assert len(seen) == 2 and "is_leaf" in seen[1]
    monkeypatch.setattr(tc, "FORCE_FALLBACK", True)
    assert tc.tree_map(lambda x, y: x + y, [1, 2], [3, 4]) == [4, 6]
    assert len(seen) == 2


# ----------------------------------------------------------------------------- is_compiling
def test_is_compiling_false_in_eager(force):
    assert tc.is_compiling() is False


@needs_compile
@needs_native_is_compiling
def test_is_compiling_inside_compile_matches_native(force):
    def ours(x):
        return x + 1 if tc.is_compiling() else x - 1

    def native(x):
        return x + 1 if torch.compiler.is_compiling() else x - 1

    x = torch.zeros(2)
    torch._dynamo.reset()
    try:
        got = torch.compile(ours, fullgraph=True, backend="eager")(x)
        want = torch.compile(native, fullgraph=True, backend="eager")(x)
    finally:
        torch._dynamo.reset()
    assert torch.equal(got, want)
    assert torch.equal(got, x + 1), "is_compiling() must be True while dynamo traces"
    assert torch.equal(ours(x), x - 1)


# ----------------------------------------------------------------------------- sdpa_kernel
FLAG_NAMES = [
    ("FLASH_ATTENTION", "flash_sdp_enabled"),
    ("EFFICIENT_ATTENTION", "mem_efficient_sdp_enabled"),
    ("MATH", "math_sdp_enabled"),
    ("CUDNN_ATTENTION", "cudnn_sdp_enabled"),
]
FLAGS = [(member, getattr(torch.backends.cuda, fn)) for member, fn in FLAG_NAMES if hasattr(torch.backends.cuda, fn)]
SUBSETS = [
    combo
    for r in (1, 2, 3)
    for combo in itertools.combinations(["MATH", "FLASH_ATTENTION", "EFFICIENT_ATTENTION"], r)
]


def sdp_flags():
    return {member: bool(read()) for member, read in FLAGS}


@pytest.fixture
def clean_sdp_flags():
    before = sdp_flags()
    assert all(before.values()), "every SDPA backend should start enabled"
    yield before
    for member, suffix in (("FLASH_ATTENTION", "flash"), ("EFFICIENT_ATTENTION", "mem_efficient"), ("MATH", "math"),
                           ("CUDNN_ATTENTION", "cudnn")):
        enable = getattr(torch.backends.cuda, "enable_%s_sdp" % suffix, None)
        if enable is not None:
            enable(before[member])


def _flags_inside(make_cm):
    with make_cm():
        return sdp_flags()


@pytest.mark.parametrize("subset", SUBSETS, ids="+".join)
def test_sdpa_kernel_fallback_sets_and_restores_flags(fallback, clean_sdp_flags, subset):
    inside = _flags_inside(lambda: tc.sdpa_kernel([getattr(tc.SDPBackend, name) for name in subset]))
    assert inside == {member: member in subset for member in inside}
    assert sdp_flags() == clean_sdp_flags


@pytest.mark.parametrize("subset", SUBSETS, ids="+".join)
def test_sdpa_kernel_fallback_matches_torch_sdp_kernel(fallback, clean_sdp_flags, subset):
    # The pre-2.3 API the fallback stands in for (deprecated on new torch, still present).
    sdp_kernel = getattr(torch.backends.cuda, "sdp_kernel", None)
    if sdp_kernel is None:
        pytest.skip("this torch has no torch.backends.cuda.sdp_kernel")
    kwargs = dict(enable_flash="FLASH_ATTENTION" in subset, enable_mem_efficient="EFFICIENT_ATTENTION" in subset,
                  enable_math="MATH" in subset)
    if "enable_cudnn" in inspect.signature(sdp_kernel).parameters:
        kwargs["enable_cudnn"] = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        want = _flags_inside(lambda: sdp_kernel(**kwargs))
    got = _flags_inside(lambda: tc.sdpa_kernel([getattr(tc._ShimSDPBackend, name) for name in subset]))
    assert got == want
    assert sdp_flags() == clean_sdp_flags


@needs_native_sdpa
@pytest.mark.parametrize("subset", SUBSETS, ids="+".join)
def test_sdpa_kernel_native_vs_fallback_flags(monkeypatch, clean_sdp_flags, subset):
    native_members = [getattr(native_attention.SDPBackend, name) for name in subset]
    want = _flags_inside(lambda: native_attention.sdpa_kernel(native_members))
    assert sdp_flags() == clean_sdp_flags
    for forced in (False, True):
        monkeypatch.setattr(tc, "FORCE_FALLBACK", forced)
        got = _flags_inside(lambda: tc.sdpa_kernel(native_members))
        assert got == want, "FORCE_FALLBACK=%s" % forced
        assert sdp_flags() == clean_sdp_flags


def test_sdpa_kernel_single_backend_and_shim_members(force, clean_sdp_flags):
    with tc.sdpa_kernel(tc._ShimSDPBackend.MATH):
        inside = sdp_flags()
    assert inside == {member: member == "MATH" for member in inside}
    with tc.sdpa_kernel(tc.SDPBackend.EFFICIENT_ATTENTION):
        inside = sdp_flags()
    assert inside == {member: member == "EFFICIENT_ATTENTION" for member in inside}
    assert sdp_flags() == clean_sdp_flags


def test_sdpa_kernel_restores_flags_on_error(force, clean_sdp_flags):
    with pytest.raises(KeyError):
        with tc.sdpa_kernel([tc.SDPBackend.FLASH_ATTENTION]):
            assert not torch.backends.cuda.math_sdp_enabled()
            raise KeyError("boom")
    assert sdp_flags() == clean_sdp_flags


@pytest.mark.parametrize("make", [
    lambda B: [B.FLASH_ATTENTION],
    lambda B: (B.MATH, B.EFFICIENT_ATTENTION),
    lambda B: B.EFFICIENT_ATTENTION,
    lambda B: [B.FLASH_ATTENTION, B.FLASH_ATTENTION, B.MATH],
    lambda B: ["MATH", "FLASH_ATTENTION"],
    lambda B: {B.MATH},
], ids=["list1", "tuple2", "single", "dup", "names", "set"])
def test_sdpa_kernel_backend_cache_equals_uncached(force, clean_sdp_flags, make):
    """The cached backend mapping gives what the uncached one gives, the first call and every later
    one; only arguments made of enum members are stored, and a caller never gets the stored list."""
    for enum_cls in {tc.SDPBackend, tc._ShimSDPBackend}:
        backends = make(enum_cls)
        names = tc._backend_names(backends)
        for _ in range(3):
            got_names, got_native = tc._sdpa_backends(make(enum_cls))
            assert got_names == names
            if tc._NATIVE_SDPBackend is not None:
                assert got_native == [getattr(tc._NATIVE_SDPBackend, n) for n in names]
            inside = _flags_inside(lambda enum_cls=enum_cls: tc.sdpa_kernel(make(enum_cls)))
            assert inside == {member: member in names for member in inside}
            assert sdp_flags() == clean_sdp_flags
        members_only = not isinstance(backends, (set, str)) and all(
            not isinstance(b, str) for b in (backends if isinstance(backends, (list, tuple)) else [backends]))
        key = tuple(map(id, backends)) if type(backends) in (list, tuple) else (id(backends),)
        assert (key in tc._SDPA_BACKENDS_CACHE) == members_only


@needs_native_sdpa
def test_sdpa_kernel_hands_native_a_copy(monkeypatch):
    seen = []
    monkeypatch.setattr(tc, "FORCE_FALLBACK", False)
    monkeypatch.setattr(tc, "_native_sdpa_kernel", lambda backends, set_priority=False: seen.append(backends))
    tc.sdpa_kernel([tc.SDPBackend.FLASH_ATTENTION])
    seen[0].append(tc.SDPBackend.MATH)  # a callee that mutates its argument
    tc.sdpa_kernel([tc.SDPBackend.FLASH_ATTENTION])
    assert seen[1] == [native_attention.SDPBackend.FLASH_ATTENTION]


def test_shim_sdpbackend_members():
    names = [m.name for m in tc._ShimSDPBackend]
    assert names == ["ERROR", "MATH", "FLASH_ATTENTION", "EFFICIENT_ATTENTION", "CUDNN_ATTENTION", "OVERRIDEABLE"]
    if native_attention is not None:
        for member in tc._ShimSDPBackend:
            if hasattr(native_attention.SDPBackend, member.name):  # OVERRIDEABLE arrived in 2.5
                assert int(getattr(native_attention.SDPBackend, member.name)) == member.value


def test_fallback_switches_every_flag_native_switches():
    """Native sdpa_kernel also switches backends newer than 2.0 (overrideable); so must the fallback,
    or a flash-only restriction fails with another error than native's "No available kernel"."""
    if native_attention is None:
        pytest.skip("native torch.nn.attention needs torch >= 2.3")
    flags = {suffix: getattr(torch._C, "_get_%s_sdp_enabled" % suffix) for _, suffix in tc._SDP_FLAGS
             if hasattr(torch._C, "_get_%s_sdp_enabled" % suffix)}
    with native_attention.sdpa_kernel([native_attention.SDPBackend.FLASH_ATTENTION]):
        native = {k: f() for k, f in flags.items()}
    with tc._fallback_sdpa_kernel(["FLASH_ATTENTION"]):
        fallback = {k: f() for k, f in flags.items()}
    assert fallback == native


# ----------------------------------------------------------------------------- check_tensor
T23 = torch.zeros(2, 3)  # float32, cpu
CHECK_CASES = [
    # kwargs, expected: True (passes) or the exception class kaolin raises with throw=True
    (dict(), True),
    (dict(shape=(2, 3)), True),
    (dict(shape=[2, 3]), True),
    (dict(shape=(None, 3)), True),
    (dict(shape=(2, None)), True),
    (dict(shape=(None, None)), True),
    (dict(shape=(2,)), ValueError),
    (dict(shape=(2, 3, 1)), ValueError),
    (dict(shape=()), ValueError),
    (dict(shape=(2, 4)), ValueError),
    (dict(shape=(None, 4)), ValueError),
    (dict(shape=(3, None)), ValueError),
    (dict(dtype=torch.float32), True),
    (dict(dtype=torch.float64), TypeError),
    (dict(dtype=torch.int64), TypeError),
    (dict(device="cpu"), True),
    (dict(device="cuda"), TypeError),
    (dict(device=torch.device("cpu")), TypeError),  # kaolin compares with device.type (a str)
    (dict(shape=(None, 3), dtype=torch.float32, device="cpu"), True),
    (dict(shape=(2, 4), dtype=torch.float64), ValueError),  # shape is checked first
    (dict(shape=(2, 3), dtype=torch.float64, device="cuda"), TypeError),
    (dict(shape=(2, 3), dtype=torch.float32, device="cuda"), TypeError),
]


@pytest.mark.parametrize("kwargs,expected", CHECK_CASES, ids=lambda v: repr(v) if isinstance(v, dict) else getattr(v, "__name__", repr(v)))
def test_check_tensor_table(kwargs, expected):
    if expected is True:
        assert tc.check_tensor(T23, **kwargs) is True
        assert tc.check_tensor(T23, throw=False, **kwargs) is True
    else:
        with pytest.raises(expected):
            tc.check_tensor(T23, **kwargs)
        assert tc.check_tensor(T23, throw=False, **kwargs) is False


def test_check_tensor_assert_idiom():
    x = torch.ones(5, 3)
    assert torch.is_tensor(x) and tc.check_tensor(x, (None, 3), throw=False)
    assert not tc.check_tensor(torch.ones(5, 4), (None, 3), throw=False)


def test_check_tensor_messages_like_kaolin():
    with pytest.raises(ValueError, match="tensor have 2 ndim, should have 1"):
        tc.check_tensor(T23, shape=(2,))
    with pytest.raises(TypeError, match="tensor dtype is torch.float32, should be torch.float64"):
        tc.check_tensor(T23, dtype=torch.float64)
    with pytest.raises(TypeError, match="tensor device is cpu, should be cuda"):
        tc.check_tensor(T23, device="cuda")


# ----------------------------------------------------------------------------- compile
UNSUPPORTED_20 = "Python 3.11+ not yet supported for torch.compile"


def _double(x):
    return x * 2 + 1


@pytest.fixture
def fresh_compile_warning(monkeypatch):
    monkeypatch.setattr(tc, "_compile_warned", False)


def _our_warnings(record):
    return [w for w in record if issubclass(w.category, RuntimeWarning) and "torch.compile" in str(w.message)]


@needs_compile
def test_compile_native_where_supported(fresh_compile_warning):
    x = torch.arange(4.0)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        ours = tc.compile(_double, backend="eager")
        deco = tc.compile(backend="eager", fullgraph=True)(_double)
    want = torch.compile(_double, backend="eager")(x)
    assert ours is not _double and deco is not _double
    assert torch.equal(ours(x), want) and torch.equal(deco(x), want)
    assert _our_warnings(record) == []
    torch._dynamo.reset()


def test_compile_unsupported_falls_back_to_eager_once(monkeypatch, fresh_compile_warning):
    def unsupported(model=None, **kwargs):
        raise RuntimeError(UNSUPPORTED_20)

    monkeypatch.setattr(torch, "compile", unsupported)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        first = tc.compile(_double, backend="eager")
        second = tc.compile(_double, mode="max-autotune")
        deco = tc.compile(fullgraph=True)
        decorated = deco(_double)
    assert first is _double and second is _double and decorated is _double
    ours = _our_warnings(record)
    assert len(ours) == 1, [str(w.message) for w in record]
    assert UNSUPPORTED_20 in str(ours[0].message)


def test_compile_unsupported_detected_when_decorator_is_applied(monkeypatch, fresh_compile_warning):
    # torch 2.0's decorator form only checks support when the decorator is applied.
    def lazy(model=None, **kwargs):
        if model is None:
            return lambda fn: lazy(fn, **kwargs)
        raise RuntimeError(UNSUPPORTED_20)

    monkeypatch.setattr(torch, "compile", lazy)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        decorated = tc.compile(backend="eager")(_double)
    assert decorated is _double
    assert len(_our_warnings(record)) == 1


@pytest.mark.parametrize("error", [RuntimeError("Unrecognized mode=fast"), TypeError("bad kwarg"), ValueError("nope")])
def test_compile_other_errors_propagate(monkeypatch, fresh_compile_warning, error):
    def broken(model=None, **kwargs):
        raise error

    monkeypatch.setattr(torch, "compile", broken)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with pytest.raises(type(error), match=str(error)):
            tc.compile(_double)
        with pytest.raises(type(error), match=str(error)):
            tc.compile(mode="fast")
    assert _our_warnings(record) == []


@pytest.mark.skipif(COMPILE_WORKS, reason="torch.compile works here; the real unsupported path is covered on torch 2.0 + Python 3.11")
def test_compile_real_unsupported_torch(fresh_compile_warning):
    x = torch.arange(3.0)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model = tc.compile(_double, backend="eager")
        decorated = tc.compile(backend="eager")(_double)
    assert model is _double and decorated is _double
    assert torch.equal(model(x), x * 2 + 1)
    assert len(_our_warnings(record)) == 1


# ----------------------------------------------------------------------------- autocast
def cpu_autocast_enabled():
    try:
        return torch.is_autocast_enabled("cpu")
    except TypeError:  # torch < 2.4: no device argument
        return torch.is_autocast_cpu_enabled()


A = torch.randn(4, 4)
B = torch.randn(4, 4)


def test_autocast_cpu_float32_runs_in_float32(force):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with tc.autocast("cpu", dtype=torch.float32):
            out = A @ B
    assert out.dtype == torch.float32
    assert torch.allclose(out, A @ B)
    assert not [w for w in record if "autocast" in str(w.message).lower()], [str(w.message) for w in record]
    assert not cpu_autocast_enabled()


def test_autocast_cpu_float32_inside_bfloat16_region(force):
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert (A @ B).dtype == torch.bfloat16
        with tc.autocast("cpu", dtype=torch.float32, cache_enabled=False):
            assert (A @ B).dtype == torch.float32
        assert (A @ B).dtype == torch.bfloat16
        assert cpu_autocast_enabled()
    assert not cpu_autocast_enabled()


def test_autocast_cpu_float32_disabled_request(force):
    with tc.autocast("cpu", dtype=torch.float32, enabled=False):
        assert (A @ B).dtype == torch.float32


def test_autocast_bfloat16_same_as_native(force):
    with torch.autocast("cpu", dtype=torch.bfloat16):
        want = A @ B
    ctx = tc.autocast("cpu", dtype=torch.bfloat16)
    assert isinstance(ctx, torch.autocast)
    with ctx:
        got = A @ B
    assert got.dtype == want.dtype == torch.bfloat16
    assert torch.equal(got, want)
    with tc.autocast("cpu", dtype=torch.bfloat16, enabled=False):
        assert (A @ B).dtype == torch.float32


def test_autocast_default_dtype_passthrough(force):
    with tc.autocast("cpu"):  # CPU default is bfloat16 on every torch
        assert (A @ B).dtype == torch.bfloat16


def test_native_cpu_float32_autocast_is_refused_or_disabled():
    """Documents the problem being patched: native fp32 CPU autocast never computes differently."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        try:
            with torch.autocast("cpu", dtype=torch.float32):
                out = A @ B
        except RuntimeError as error:  # torch 2.0: raised by __enter__
            assert "AutocastCPU only support" in str(error)
            torch.set_autocast_cpu_enabled(False)  # 2.0's failed __enter__ leaves the flag changed
            return
    assert out.dtype == torch.float32
    assert any("CPU autocast" in str(w.message) for w in record)


# ----------------------------------------------------------------------------- missing
IMPORT_ERROR = ModuleNotFoundError("No module named 'lightning'")


@pytest.fixture
def pl():
    return tc.missing("lightning", "lightning.pytorch", IMPORT_ERROR)


def _message(name):
    return (
        "%s needs the optional package 'lightning', which failed to import: %r. "
        "Install it with: pip install lightning" % (name, IMPORT_ERROR)
    )


def test_missing_is_a_class_usable_in_annotations(pl):
    assert isinstance(pl, type)
    hint = typing.Union[pl, torch.nn.Module]
    assert typing.get_args(hint) == (pl, torch.nn.Module)
    assert typing.get_args(typing.Optional[pl.LightningModule]) == (pl.LightningModule, type(None))
    if sys.version_info >= (3, 10):
        assert typing.get_args(pl | None) == (pl, type(None))

    def f(model: typing.Union[pl.LightningModule, torch.nn.Module]) -> typing.List[pl]:
        return []

    hints = typing.get_type_hints(f)
    assert hints["model"] == typing.Union[pl.LightningModule, torch.nn.Module]


def test_missing_isinstance_false(pl):
    for obj in (object(), torch.nn.Linear(1, 1), pl, None, 3):
        assert not isinstance(obj, pl)
        assert not isinstance(obj, pl.LightningModule)
    assert isinstance(3, (pl.LightningModule, int))
    assert not issubclass(torch.nn.Module, pl.LightningModule)


def test_missing_call_raises_runtime_error_naming_package(pl):
    with pytest.raises(RuntimeError) as info:
        pl()
    assert str(info.value) == _message("lightning.pytorch")
    with pytest.raises(RuntimeError) as info:
        pl.LightningModule(1, key=2)
    assert str(info.value) == _message("lightning.pytorch.LightningModule")
    with pytest.raises(RuntimeError, match="pip install lightning"):
        pl.utilities.seed_everything(print, 1)  # not a bare decorator use: raises at once
    # rank_zero_only resolves to the compat helper (issue 16), other decorators raise when called
    assert pl.utilities.rank_zero.rank_zero_only is tc.rank_zero_only
    decorated = pl.utilities.rank_zero.rank_zero_experiment(print)
    with pytest.raises(RuntimeError, match="print \\(decorated with lightning.pytorch.utilities.rank_zero.rank_zero_experiment\\)"):
        decorated("x")


def test_missing_nested_attributes_are_stable_placeholders(pl):
    child = pl.LightningModule
    assert child is pl.LightningModule
    assert isinstance(child, type) and child is not pl
    deep = pl.utilities.rank_zero.rank_zero_experiment
    assert isinstance(deep, type)
    assert deep is pl.utilities.rank_zero.rank_zero_experiment
    assert "lightning.pytorch.utilities.rank_zero.rank_zero_experiment" in repr(deep)
    assert typing.Union[child, int] == typing.Union[pl.LightningModule, int]


def test_missing_private_and_dunder_attributes_raise_attribute_error(pl):
    for name in ("__origin__", "__args__", "__typing_subst__", "__reduce_ex_custom__", "_private", "__wrapped__"):
        assert not hasattr(pl, name), name
    with pytest.raises(AttributeError):
        _ = pl.__origin__
    assert copy.copy(pl) is pl and copy.deepcopy(pl) is pl
    assert inspect.isclass(pl)


def test_missing_subclass_defined_at_import_fails_only_when_used(pl):
    class Model(pl.LightningModule):
        def forward(self, x):
            return x

    assert issubclass(Model, pl.LightningModule)
    with pytest.raises(RuntimeError, match=r"Model \(based on lightning.pytorch.LightningModule\) needs the optional package 'lightning'"):
        Model()
    with pytest.raises(AttributeError):
        _ = Model.undefined_attribute

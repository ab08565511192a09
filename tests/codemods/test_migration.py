"""Migration from a hand-patched fork (issue 15): every rule together on a tree shaped like one.

The tree is our own small code with the fork's idioms (a ``hasattr(torch, '_dynamo')`` guard around
the dynamo config, a version-string gate with an sdpa fallback, a dict-only ``tree_map_compat``, an
identity ``check_tensor`` stub) next to hand patches that are right (a Lightning stub, an
``index_add_`` cast already there, an import already optional). ``apply`` must fix the first kind,
leave the second byte-identical, and ``check`` must then exit clean.
"""
import ast
from pathlib import Path

from sam3d_codemod.cli.runner import Options, run

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

PIPELINE = '''import torch


class Pipeline:
    def _compile(self):
        # configure dynamo if available
        if hasattr(torch, '_dynamo'):
            torch._dynamo.config.cache_size_limit = 64
            torch._dynamo.config.accumulated_cache_size_limit = 2048
        return torch.compile
'''

ATTN = '''import torch

BACKEND = "torch_flash_attn"
TORCH_MAJOR, TORCH_MINOR = map(int, torch.__version__.split(".")[:2])
HAVE_ATTENTION = (TORCH_MAJOR > 2) or (TORCH_MAJOR == 2 and TORCH_MINOR >= 1)

if BACKEND == "torch_flash_attn":
    if not HAVE_ATTENTION:
        BACKEND = "sdpa"


def attend(q, k, v):
    if HAVE_ATTENTION:
        with torch.nn.attention.sdpa_kernel(backends=[torch.nn.attention.SDPBackend.FLASH_ATTENTION]):
            return torch.nn.functional.scaled_dot_product_attention(q, k, v)
    else:
        return torch.nn.functional.scaled_dot_product_attention(q, k, v)
'''

COMPILING = '''import torch


def step(kwargs):
    _is_compiling = getattr(torch, 'compiler', None) and torch.compiler.is_compiling()
    if not _is_compiling:
        kwargs.pop("d", None)
    return kwargs
'''

CORRECT = {
    # a Lightning stub that works: a real class, so isinstance() and annotations are fine
    "model_io.py": '''import os

LIGHTNING_AVAILABLE = False


class _LightningModuleStub:
    pass


class _PL:
    LightningModule = _LightningModuleStub


pl = _PL()
if os.environ.get("USE_LIGHTNING") == "1":
    try:
        import lightning.pytorch as pl
        LIGHTNING_AVAILABLE = True
    except (ImportError, RuntimeError, OSError):  # a broken install raises the other two
        pass
''',
    # the cast the fork already added
    "mesh.py": '''import torch


def mad(vd, idx, dist):
    mean = torch.zeros_like(vd[:, 0])
    return mean.index_add_(0, idx, dist.to(mean.dtype))
''',
    # an import already made optional, with a faithful fallback
    "render.py": '''from . import _torch_compat

try:
    from kaolin.utils.testing import check_tensor
except (ImportError, RuntimeError, OSError):
    check_tensor = _torch_compat.check_tensor
''',
}


def _tree(tmp_path):
    pkg = tmp_path / "sam3d_objects"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "pipeline.py").write_text(PIPELINE)
    (pkg / "attn.py").write_text(ATTN)
    (pkg / "flow.py").write_text(COMPILING)
    (pkg / "pytree_compat.py").write_text((FIXTURES / "tc016_homemade_tree_map/dict_zip.in.py").read_text())
    (pkg / "flexi.py").write_text((FIXTURES / "tc017_unfaithful_stub/identity_def.in.py").read_text())
    for name, text in CORRECT.items():
        (pkg / name).write_bytes(text.encode())
    return pkg


def _by_code(report):
    counts = {}
    for site in report.sites:
        counts.setdefault(site.code, {}).setdefault(site.status, 0)
        counts[site.code][site.status] += 1
    return counts


def test_fork_idioms_migrated_and_correct_patches_kept(tmp_path):
    pkg = _tree(tmp_path)
    report = run([str(pkg)], Options(cache=False), write=True)
    assert not report.errors and not report.unhandled, [(s.path, s.line, s.message) for s in report.unhandled]
    counts = _by_code(report)
    assert counts["TC014"] == {"patched": 2}  # hasattr(torch, '_dynamo'), getattr(torch, 'compiler', None)
    assert counts["TC015"] == {"patched": 2}  # both gates on HAVE_ATTENTION
    assert counts["TC016"] == {"patched": 1} and counts["TC017"] == {"patched": 1}

    pipeline = (pkg / "pipeline.py").read_text()
    assert "hasattr(torch, '_dynamo')" not in pipeline
    assert "import torch._dynamo\n" in pipeline
    assert '        if hasattr(torch._dynamo.config, "accumulated_cache_size_limit"):\n' \
           "            torch._dynamo.config.accumulated_cache_size_limit = 2048\n" in pipeline
    assert "        torch._dynamo.config.cache_size_limit = 64\n" in pipeline  # no longer under a guard

    attn = (pkg / "attn.py").read_text()
    assert 'BACKEND = "sdpa"' not in attn  # the user's backend choice is kept
    assert "    with _torch_compat.sdpa_kernel(backends=[_torch_compat.SDPBackend.FLASH_ATTENTION]):\n" in attn
    assert "torch.nn.attention" not in attn
    assert "if HAVE_ATTENTION" not in attn and "if not HAVE_ATTENTION" not in attn

    flow = (pkg / "flow.py").read_text()
    assert "    _is_compiling = _torch_compat.is_compiling()\n" in flow

    compat = (pkg / "pytree_compat.py").read_text()
    assert "    return _torch_compat.tree_map(func, *trees)\n" in compat
    assert "    check_tensor = _torch_compat.check_tensor\n" in (pkg / "flexi.py").read_text()
    for path in pkg.glob("*.py"):
        ast.parse(path.read_text())

    for name, text in CORRECT.items():
        assert (pkg / name).read_bytes() == text.encode(), name

    again = run([str(pkg)], Options(cache=False), write=False)
    assert not again.changed and not again.unhandled and not again.errors

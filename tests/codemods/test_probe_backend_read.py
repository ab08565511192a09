"""verify's attention checks: a fork that fixes its backend in code (``env_attn_backend = "xformers"``,
the env read commented out) offers no other backend, so those checks are n/a, not failures; a module
that reads ATTN_BACKEND and still ends on another backend (a version-gated fallback) stays a failure."""
import sys
import types
from pathlib import Path

import pytest

PROBE = Path(__file__).resolve().parents[2] / "codemods" / "probe"


@pytest.fixture
def checks(monkeypatch):
    monkeypatch.syspath_prepend(str(PROBE))
    import vp_checks_model

    return vp_checks_model


class _Ctx:
    def __init__(self, sources):
        self.sources = sources

    def source(self, module):
        return self.sources[module.__name__]


def _modules(monkeypatch, package_source):
    pkg = types.ModuleType("fork.attention")
    mod = types.ModuleType("fork.attention.full_attn")
    monkeypatch.setitem(sys.modules, "fork.attention", pkg)
    monkeypatch.setitem(sys.modules, "fork.attention.full_attn", mod)
    return mod, _Ctx({"fork.attention": package_source, "fork.attention.full_attn": "from . import BACKEND\n"})


def test_fixed_backend_with_the_env_read_commented_out(checks, monkeypatch):
    mod, ctx = _modules(monkeypatch, '# env = os.environ.get("ATTN_BACKEND")\nenv_attn_backend = "xformers"\n')
    assert checks._reads_attn_backend(ctx, mod) is False


def test_env_read_in_code(checks, monkeypatch):
    mod, ctx = _modules(monkeypatch, 'import os\nenv_attn_backend = os.environ.get("ATTN_BACKEND")\n')
    assert checks._reads_attn_backend(ctx, mod) is True

"""How often a patched tree calls each ``_torch_compat`` helper in one sample, and what that costs.

The rewritten call sites look the helpers up on the module at call time
(``_torch_compat.tree_map(...)``), so replacing the module's attributes with counting wrappers sees
every call the tree makes. The worker counts during the first call of ``Inference(...)(...)`` only
(the digest run, which is not timed) and restores the originals before the timed calls, so the
clock never pays for the counting. Only public functions of the template's ``__all__`` are wrapped:
classes (``SDPBackend``, ``RMSNorm``, ``GradScaler``) must stay classes for ``isinstance``.

The cost per call comes from ``bench/helper_overhead.py`` (the helper against the native call,
interleaved, best of N); it needs the native side, ``torch.nn.attention`` (torch 2.3+). Calls x
added microseconds gives the host-side overhead of one sample.
"""
from __future__ import annotations

import inspect

# the helpers bench/helper_overhead.py times against a native call (the others have no single native twin)
TIMED = ("tree_map", "sdpa_kernel", "is_compiling")


class CallCounter:
    """Counting wrappers on ``compat``'s public functions; ``restore()`` puts the originals back."""

    def __init__(self, compat):
        self.compat = compat
        self.counts = {}
        self._originals = {}
        for name in getattr(compat, "__all__", ()):
            fn = getattr(compat, name, None)
            if not inspect.isfunction(fn):
                continue
            self._originals[name] = fn
            setattr(compat, name, self._wrap(name, fn))

    def _wrap(self, name, fn):
        counts = self.counts

        def counted(*args, **kwargs):
            counts[name] = counts.get(name, 0) + 1
            return fn(*args, **kwargs)

        counted.__wrapped__ = fn
        counted.__name__ = fn.__name__
        return counted

    def restore(self):
        for name, fn in self._originals.items():
            setattr(self.compat, name, fn)
        self._originals = {}
        return dict(sorted(self.counts.items()))


def cost_per_call(compat, number=2000, repeat=5):
    """{helper: {native_us, helper_us, added_us}} for the TIMED helpers, or {"skipped": why}."""
    try:
        import torch.nn.attention  # noqa: F401  (the native side of sdpa_kernel)
    except ImportError as error:
        return {"skipped": "needs torch.nn.attention (torch 2.3+) for the native side: %s" % error}
    from bench.helper_overhead import measure

    rows = measure(compat, number, repeat=repeat, only=TIMED)
    return {name: {k: row[k] for k in ("native_us", "helper_us", "added_us")} for name, row in rows.items()}


def overhead_ms(calls, cost):
    """Estimated host-side overhead of one sample: calls x added us (a negative difference, below
    the timer's resolution, counts as zero). None when no cost was measured."""
    if not cost or "skipped" in cost:
        return None
    return sum(n * max(cost.get(name, {}).get("added_us", 0.0), 0.0) for name, n in calls.items()) / 1000.0

"""Stand-in for ``moge.utils`` (see ``geometry_torch`` and ``geometry_numpy``).

The real ``moge`` is GitHub-only and CI reaches only PyPI; this package is our own code of the
documented behaviour of the few geometry helpers SAM 3D Objects imports.
"""

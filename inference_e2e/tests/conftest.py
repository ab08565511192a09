"""The harness's tests use the runtime tier's probe of what this torch has (``torch_features``)."""
from tests.runtime.conftest import torch_features  # noqa: F401  (a fixture, found here by pytest)

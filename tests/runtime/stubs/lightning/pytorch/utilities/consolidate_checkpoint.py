"""Import stub for ``lightning.pytorch.utilities.consolidate_checkpoint`` (tests/runtime only)."""
from _sam3d_stub import define

define(globals(), "_format_checkpoint", "_load_distributed_checkpoint")

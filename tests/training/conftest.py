from __future__ import annotations

# The training tests render the same tiny planogram as the renderer tests.
from tests.synth.conftest import planogram, tiny_planogram

__all__ = ["planogram", "tiny_planogram"]

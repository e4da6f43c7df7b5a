"""Building blocks: Mamba (exact, CPU-fast), RMSNorm, residual blocks."""
from .backend import resolve_backend
from .blocks import Block, MambaBlock
from .mamba import Mamba, MambaState
from .norm import RMSNorm
from .selective_scan import selective_scan_fn

__all__ = ["Mamba", "MambaState", "RMSNorm", "Block", "MambaBlock", "selective_scan_fn",
           "resolve_backend"]

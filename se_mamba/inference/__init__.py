"""Inference for users: the ``from_hparams`` interface and chunked long-audio enhancement."""
from .chunking import overlap_add
from .enhancer import MambaEnhancer

__all__ = ["MambaEnhancer", "overlap_add"]

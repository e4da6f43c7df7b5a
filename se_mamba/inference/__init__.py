"""Inference for users: the ``from_hparams`` interface, chunked long-audio
enhancement, and enhance-then-transcribe."""
from .chunking import overlap_add
from .enhancer import MambaEnhancer
from .pipeline import EnhanceThenTranscribe

__all__ = ["MambaEnhancer", "EnhanceThenTranscribe", "overlap_add"]

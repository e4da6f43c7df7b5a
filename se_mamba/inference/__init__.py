"""Inference for users: the ``from_hparams`` interface, chunked long-audio
enhancement, streaming with the causal models, and enhance-then-transcribe."""
from .chunking import overlap_add
from .enhancer import MambaEnhancer
from .pipeline import EnhanceThenTranscribe
from .streaming import StreamingEnhancer

__all__ = ["MambaEnhancer", "EnhanceThenTranscribe", "overlap_add", "StreamingEnhancer"]

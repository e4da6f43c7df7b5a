"""se_mamba: Mamba-based speech enhancement (SEMamba, MambAttention, SB-Mamba)
on SpeechBrain, with an exact, fast CPU Mamba."""
from .version import __version__

__all__ = ["__version__"]

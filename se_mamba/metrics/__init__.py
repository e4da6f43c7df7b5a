"""Speech-enhancement metrics: one module for every score."""
from .intrusive import pesq_score, si_sdr, stoi_score

__all__ = ["si_sdr", "pesq_score", "stoi_score"]

"""SpeechBrain Brains for training."""
from .bridge import SBBrain
from .enhancement import MetricGANBrain, SEBrain

__all__ = ["SEBrain", "MetricGANBrain", "SBBrain"]

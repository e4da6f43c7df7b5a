"""SpeechBrain Brains for training."""
from .enhancement import MetricGANBrain, SEBrain

__all__ = ["SEBrain", "MetricGANBrain"]

"""SpeechBrain Brains for training."""
import warnings

from .bridge import BridgeBrain
from .enhancement import MetricGANBrain, SEBrain

__all__ = ["SEBrain", "MetricGANBrain", "BridgeBrain"]


def __getattr__(name):
    # Packages made before the rename name ``se_mamba.brains.SBBrain`` in
    # their train_hyperparams.yaml; they keep loading for one release.
    if name == "SBBrain":
        warnings.warn("se_mamba.brains.SBBrain is now se_mamba.brains.BridgeBrain; the old name "
                      "goes away in the next release", DeprecationWarning, stacklevel=2)
        return BridgeBrain
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

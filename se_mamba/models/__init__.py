"""The model zoo: SEMamba (advanced, causal, basic), MambAttention and its
ablations, MP-SENet and the LSTM baselines; PCS; the registry."""
from .basic import SEMambaBasic
from .official_weights import load_official_checkpoint
from .magphase import LSTMSENet, MagPhaseNet, MambAttention, MPSENet, SEMamba
from .pcs import perceptual_contrast_stretch
from .registry import build_model, list_models

__all__ = ["SEMamba", "MambAttention", "MPSENet", "LSTMSENet", "MagPhaseNet", "SEMambaBasic",
           "build_model", "list_models", "load_official_checkpoint", "perceptual_contrast_stretch"]

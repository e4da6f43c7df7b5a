"""Schrödinger bridge (SB) between clean and noisy speech (docs/bridge.md).

* ``schedules.py``: VE, VP and Bridge-gmax schedules and the bridge marginals;
* ``samplers.py``: one step at T = 1, first-order SB-ODE and SB-SDE;
* ``embedding.py``: Gaussian Fourier time embedding (fixed W);
* ``backbone.py``: the SBM backbone (oSpatialNet-Mamba blocks, T-F
  compression, full-band Mamba, causal option);
* ``ncsnpp.py``: the SB-NCSN++ baseline (CPU-sized U-Net);
* ``enhancer.py``: waveform-level models ``SBM``, ``SBNCSNpp``, ``MambaBase``
  (registry names ``sbm``, ``sbm_causal``, ``sb_ncsnpp``, ``mamba_base``).

The representation (compressed complex STFT) lives with the other STFT
helpers (``se_mamba.nn.spectral.CompressedComplexSpec``), the loss with the
other losses (``se_mamba.losses.BridgeLoss``), the Brain with the other
Brains (``se_mamba.brains.BridgeBrain``).
"""
from .embedding import GaussianFourierEmbedding
from .enhancer import SBM, MambaBase, SBEnhancer, SBNCSNpp
from .samplers import sample
from .schedules import SBVE, SBVP, SBGmax, build_schedule

__all__ = ["SBVE", "SBVP", "SBGmax", "GaussianFourierEmbedding", "build_schedule", "sample",
           "SBEnhancer", "SBM", "SBNCSNpp", "MambaBase"]

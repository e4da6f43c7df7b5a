"""Data-prediction loss of the spectral SB models (SBM, SB-NCSN++, Mamba-base).

On the compressed complex spectrum (data prediction, Jukić et al.,
Interspeech 2024): the network's estimate of the
clean spectrum against the clean spectrum,

    L = w_c * mean |X_hat - X|^2  +  w_m * mean (|X_hat| - |X|)^2  +  w_t * mean |x_hat - x|

(complex MSE as in the SB speech papers; SBM adds the magnitude term; the
optional time-domain L1 on the waveforms uses the small weight 0.001 of the
SB papers). Weights come from the YAML.
"""
import torch
from torch import nn


class BridgeLoss(nn.Module):
    """``loss(est_spec, ref_spec, est_wav=None, ref_wav=None) -> (total, parts)``.

    >>> loss = BridgeLoss(complex=1.0, magnitude=0.5, time=0.0)
    >>> x = torch.randn(2, 8, 5, dtype=torch.cfloat)
    >>> float(loss(x, x)[0])
    0.0
    """

    def __init__(self, complex=1.0, magnitude=1.0, time=0.001):
        super().__init__()
        self.weights = {"complex": float(complex), "magnitude": float(magnitude), "time": float(time)}

    @property
    def needs_waveform(self):
        return self.weights["time"] > 0

    def forward(self, est_spec, ref_spec, est_wav=None, ref_wav=None):
        parts = {"complex": (est_spec - ref_spec).abs().pow(2).mean(),
                 "magnitude": (est_spec.abs() - ref_spec.abs()).pow(2).mean()}
        if self.needs_waveform:
            if est_wav is None or ref_wav is None:
                raise ValueError("BridgeLoss: the time term (weight > 0) needs est_wav and ref_wav")
            parts["time"] = (est_wav - ref_wav).abs().mean()
        total = sum(self.weights[k] * v for k, v in parts.items())
        return total, {k: float(v.detach()) for k, v in parts.items()}

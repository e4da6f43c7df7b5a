"""Signal losses of SEMamba / MP-SENet / MambAttention (the weights of
`recipes/SEMamba_advanced/SEMamba_advanced.yaml` and the terms of `models/loss.py`
in RoyChao19477/SEMamba; MP-SENet, Lu et al., Interspeech 2023).

Layouts as the models': magnitude and phase ``[B, F, T]``, complex views
``[B, F, T, 2]``, waveforms ``[B, N]``.

* time: L1 between waveforms;
* magnitude: MSE between compressed magnitudes;
* complex: MSE between compressed complex views, x2 (the originals' scaling);
* phase: in-phase (IP), group-delay (GD, differences along frequency) and
  instantaneous-angular-frequency (IAF, differences along time) errors, each
  anti-wrapped ``|x - round(x / 2pi) 2pi|``. The originals compute GD/IAF with
  difference matrices whose first column is ``-phi_0``; we use the same
  boundary with explicit differences (no F x F / T x T matmul);
* consistency: MSE (x2) between the predicted complex view and the STFT of
  its own inverse STFT, so the output stays a consistent spectrogram;
* magnitude asymmetry (not in the originals, 1 = off): the magnitude error
  where the estimate falls below the clean magnitude is scaled by this factor
  before squaring, the asymmetric L2 loss of VoiceFilter-Lite (Wang et al.,
  Interspeech 2020), which penalises over-suppression of speech more than
  residual noise;
* si_sdr (not in the originals, off by default): the negative scale-invariant
  SDR in dB (Le Roux et al., ICASSP 2019), as Conv-TasNet trains. In dB every
  utterance counts alike, so distorting speech at a high input SNR costs as
  much as leaving noise at a low one.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


def anti_wrap(x):
    """``|x - round(x / 2pi) * 2pi|``: distance to the nearest multiple of 2pi."""
    return torch.abs(x - torch.round(x / (2 * math.pi)) * 2 * math.pi)


def _first_difference(phi, dim):
    """``[-phi_0, phi_0 - phi_1, phi_1 - phi_2, ...]`` along ``dim`` (the
    originals' triu(1) - triu(2) - I matrix applied on that axis)."""
    n = phi.shape[dim]
    head = -phi.narrow(dim, 0, 1)
    return torch.cat([head, phi.narrow(dim, 0, n - 1) - phi.narrow(dim, 1, n - 1)], dim)


def phase_losses(phase_ref, phase_est):
    """(IP, GD, IAF) losses between phases ``[B, F, T]``."""
    ip = anti_wrap(phase_ref - phase_est).mean()
    gd = anti_wrap(_first_difference(phase_ref, 1) - _first_difference(phase_est, 1)).mean()
    iaf = anti_wrap(_first_difference(phase_ref, 2) - _first_difference(phase_est, 2)).mean()
    return ip, gd, iaf


def time_loss(clean_wav, est_wav):
    return F.l1_loss(est_wav, clean_wav)


def magnitude_loss(clean_mag, est_mag, asymmetry=1.0):
    """MSE between compressed magnitudes; with ``asymmetry`` != 1 the error of
    an under-estimate (``est < clean``, speech suppressed) is scaled by it
    before squaring (VoiceFilter-Lite's asymmetric L2).

    >>> clean, est = torch.ones(1, 2, 1), torch.tensor([[[0.5], [1.5]]])
    >>> float(magnitude_loss(clean, est)), float(magnitude_loss(clean, est, asymmetry=2.0))
    (0.25, 0.625)
    """
    if asymmetry == 1.0:
        return F.mse_loss(est_mag, clean_mag)
    diff = clean_mag - est_mag
    return torch.square(torch.where(diff > 0, asymmetry * diff, diff)).mean()


def complex_loss(clean_com, est_com):
    return F.mse_loss(est_com, clean_com) * 2


def consistency_loss(est_com, est_com_restft):
    return F.mse_loss(est_com, est_com_restft) * 2


def si_sdr_loss(clean_wav, est_wav, eps=1e-8):
    """Mean over the batch of ``-SI-SDR(est, clean)`` in dB (means removed);
    ``eps`` keeps a silent crop finite."""
    s = clean_wav - clean_wav.mean(-1, keepdim=True)
    e = est_wav - est_wav.mean(-1, keepdim=True)
    target = (e * s).sum(-1, keepdim=True) / ((s * s).sum(-1, keepdim=True) + eps) * s
    ratio = ((target ** 2).sum(-1) + eps) / (((e - target) ** 2).sum(-1) + eps)
    return -10 * torch.log10(ratio).mean()


class GeneratorLoss(nn.Module):
    """Weighted sum of the signal losses (defaults: the originals' weights:
    time 0.2, magnitude 0.9, complex 0.1, phase 0.3, consistency 0.1; the
    metric term 0.05 is added by the MetricGAN Brain; ``si_sdr`` is ours, off
    by default; ``asymmetry`` scales the magnitude term's under-estimates,
    1 = the originals' symmetric MSE).

    ``forward`` returns ``(total, parts)``; ``parts`` holds each unweighted
    term as a float for logging.
    """

    def __init__(self, time=0.2, magnitude=0.9, complex=0.1, phase=0.3, consistency=0.1, si_sdr=0.0,
                 asymmetry=1.0):
        super().__init__()
        self.asymmetry = asymmetry
        self.weights = {"time": time, "magnitude": magnitude, "complex": complex, "phase": phase,
                        "consistency": consistency}
        if si_sdr:  # not one of the originals' terms: listed only when used
            self.weights["si_sdr"] = si_sdr

    def forward(self, clean, est):
        """``clean``/``est``: dicts with ``wav``, ``mag``, ``pha``, ``com`` (and
        ``com_restft`` in ``est`` when the consistency weight is non-zero)."""
        ip, gd, iaf = phase_losses(clean["pha"], est["pha"])
        terms = {
            "time": time_loss(clean["wav"], est["wav"]),
            "magnitude": magnitude_loss(clean["mag"], est["mag"], self.asymmetry),
            "complex": complex_loss(clean["com"], est["com"]),
            "phase": ip + gd + iaf,
        }
        if self.weights["consistency"]:
            terms["consistency"] = consistency_loss(est["com"], est["com_restft"])
        if self.weights.get("si_sdr"):
            terms["si_sdr"] = si_sdr_loss(clean["wav"], est["wav"])
        total = sum(self.weights[k] * v for k, v in terms.items())
        parts = {k: float(v.detach()) for k, v in terms.items()}
        parts.update(ip=float(ip.detach()), gd=float(gd.detach()), iaf=float(iaf.detach()))
        return total, parts

"""MetricGAN objective with a PESQ discriminator (FACTS §2).

The discriminator D(clean_mag, x) predicts normalised wideband PESQ,
``(PESQ - 1) / 3.5`` in [0, 1]:

* D loss = MSE(D(clean, clean), 1) + MSE(D(clean, est.detach()), pesq_norm);
* G metric loss = MSE(D(clean, est), 1).

When PESQ cannot be computed for an item (silence, too short), the
originals drop the whole fake term of that batch; we keep the items that
scored and drop only the failed ones (the term is skipped only if none
scored), and report how many failed.
"""
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F


def _pesq_or_nan(ref, deg, fs):
    from pesq import pesq

    try:
        return float(pesq(fs, ref, deg, "wb"))
    except Exception:  # NoUtterancesError, BufferTooShortError, ValueError (all-zero)
        return float("nan")


def batch_pesq_targets(clean, est, fs=16000, workers=2):
    """Normalised wideband PESQ per item ``[B]`` (NaN where PESQ failed).

    ``clean``, ``est``: waveforms ``[B, N]`` (tensors or arrays). The pesq C
    code releases the GIL, so threads run items in parallel.
    """
    c = np.asarray(clean.detach().cpu() if torch.is_tensor(clean) else clean, dtype=np.float64)
    e = np.asarray(est.detach().cpu() if torch.is_tensor(est) else est, dtype=np.float64)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        scores = list(pool.map(lambda i: _pesq_or_nan(c[i], e[i], fs), range(len(c))))
    return (torch.tensor(scores, dtype=torch.float32) - 1.0) / 3.5


def discriminator_loss(disc, clean_mag, est_mag, pesq_targets):
    """D loss; ``pesq_targets`` from :func:`batch_pesq_targets` (NaN = failed)."""
    real = disc(clean_mag, clean_mag).flatten()
    loss = F.mse_loss(real, torch.ones_like(real))
    ok = torch.isfinite(pesq_targets)
    if ok.any():
        fake = disc(clean_mag[ok], est_mag.detach()[ok]).flatten()
        loss = loss + F.mse_loss(fake, pesq_targets[ok].to(fake))
    return loss


def metric_generator_loss(disc, clean_mag, est_mag):
    """G's metric term: push D(clean, est) towards the maximum score 1."""
    score = disc(clean_mag, est_mag).flatten()
    return F.mse_loss(score, torch.ones_like(score))

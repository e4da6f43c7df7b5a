"""Noise schedules of the Schrödinger bridge between x0 (clean) and y (noisy).

The forward SDE ``dx = f(t) x dt + g(t) dw`` on t in [0, 1] defines
``alpha_t = exp(int_0^t f)`` and ``sigma_t^2 = int_0^t g(s)^2 / alpha_s^2 ds``;
with ``sigma_bar_t^2 = sigma_1^2 - sigma_t^2`` and ``alpha_bar_t = alpha_t / alpha_1``
the bridge marginal is (Jukić et al., "Schrödinger bridge for generative
speech enhancement", Interspeech 2024)

    x_t = alpha_t sigma_bar_t^2 / sigma_1^2 * x0 + alpha_bar_t sigma_t^2 / sigma_1^2 * y
          + alpha_t sigma_bar_t sigma_t / sigma_1 * z,   z ~ N(0, I),

so x_0 = x0 and x_1 = y exactly.

* ``SBVE`` ("sbve"): f = 0, g(t) = sqrt(c) k^t; alpha = 1,
  sigma_t^2 = c (k^(2t) - 1) / (2 ln k). Defaults k = 2.6, c = 0.4.
* ``SBVP`` ("sbvp"): f = -beta(t) / 2, g = sqrt(c beta(t)), beta linear from
  beta_0 to beta_1; alpha_t = exp(-B(t) / 2) with B(t) = int_0^t beta,
  sigma_t^2 = c (exp(B(t)) - 1). Defaults beta_0 0.01, beta_1 2, c 0.4 are
  ours (the papers do not fix them for speech).
* ``SBGmax`` ("sbgmax", Bridge-gmax of Bridge-TTS, Chen et al. 2023): f = 0,
  g(t)^2 = beta_0 + t (beta_1 - beta_0) (g grows to its maximum at t = 1);
  alpha = 1, sigma_t^2 = beta_0 t + (beta_1 - beta_0) t^2 / 2. Defaults
  beta_0 0.01, beta_1 50 are Bridge-TTS's; the SB speech papers use this
  family but their values could not be checked offline (documented, not guessed).
"""
import math

import torch


class SBSchedule:
    """Base: subclasses give ``sigma2(t)`` and, when their drift f is not 0,
    ``alpha(t)`` for a tensor t in [0, 1]."""

    def alpha(self, t):
        # f = 0 (VE, gmax): alpha_t = exp(int_0^t f) = 1
        return torch.ones_like(torch.as_tensor(t, dtype=torch.float64))

    def sigma2(self, t):
        raise NotImplementedError

    def terms(self, t):
        """(alpha_t, alpha_bar_t, sigma_t, sigma_bar_t, sigma_1) as tensors shaped like t."""
        t = torch.as_tensor(t, dtype=torch.float64)
        one = torch.ones_like(t)
        s1_2 = self.sigma2(one)
        s2 = self.sigma2(t)
        a, a1 = self.alpha(t), self.alpha(one)
        return a, a / a1, s2.sqrt(), (s1_2 - s2).clamp_min(0).sqrt(), s1_2.sqrt()

    def marginal(self, t):
        """(weight of x0, weight of y, std) of x_t."""
        a, abar, s, sbar, s1 = self.terms(t)
        return a * sbar ** 2 / s1 ** 2, abar * s ** 2 / s1 ** 2, a * sbar * s / s1

    def sample_xt(self, x0, y, t, z=None):
        """A draw of x_t for a batch: ``t`` has one value per item (shape [B])."""
        w0, wy, std = (v.to(x0.dtype if not x0.is_complex() else x0.real.dtype) for v in self.marginal(t))
        shape = (-1,) + (1,) * (x0.dim() - 1)
        if z is None:
            z = torch.randn_like(x0)
        return w0.view(shape) * x0 + wy.view(shape) * y + std.view(shape) * z


class SBVE(SBSchedule):
    def __init__(self, k=2.6, c=0.4):
        if k <= 1 or c <= 0:
            raise ValueError(f"SBVE needs k > 1 and c > 0, got k={k}, c={c}")
        self.k, self.c = float(k), float(c)

    def sigma2(self, t):
        t = torch.as_tensor(t, dtype=torch.float64)
        return self.c * (self.k ** (2 * t) - 1) / (2 * math.log(self.k))


class SBVP(SBSchedule):
    def __init__(self, beta_0=0.01, beta_1=2.0, c=0.4):
        if beta_0 <= 0 or beta_1 < beta_0 or c <= 0:
            raise ValueError(f"SBVP needs 0 < beta_0 <= beta_1 and c > 0, got {beta_0}, {beta_1}, {c}")
        self.beta_0, self.beta_1, self.c = float(beta_0), float(beta_1), float(c)

    def _B(self, t):
        t = torch.as_tensor(t, dtype=torch.float64)
        return self.beta_0 * t + 0.5 * (self.beta_1 - self.beta_0) * t ** 2

    def alpha(self, t):
        return torch.exp(-0.5 * self._B(t))

    def sigma2(self, t):
        return self.c * torch.expm1(self._B(t))


class SBGmax(SBSchedule):
    def __init__(self, beta_0=0.01, beta_1=50.0):
        if beta_0 <= 0 or beta_1 < beta_0:
            raise ValueError(f"SBGmax needs 0 < beta_0 <= beta_1, got {beta_0}, {beta_1}")
        self.beta_0, self.beta_1 = float(beta_0), float(beta_1)

    def sigma2(self, t):
        t = torch.as_tensor(t, dtype=torch.float64)
        return self.beta_0 * t + 0.5 * (self.beta_1 - self.beta_0) * t ** 2


SCHEDULES = {"sbve": SBVE, "sbvp": SBVP, "sbgmax": SBGmax}


def build_schedule(name="sbve", **kwargs):
    if name not in SCHEDULES:
        raise ValueError(f"unknown SB schedule {name!r}; known: {', '.join(SCHEDULES)}")
    return SCHEDULES[name](**kwargs)

"""First-order samplers of the Schrödinger bridge with a data-predicting network.

``net(x_t, y, t) -> x0_hat`` is conditioned on the time of the current state.
The grid T = t_0 > t_1 > ... > t_N = t_eps ends where training times end
(t ~ U[t_eps, T]), as sgmse's and NeMo's SB samplers do, so the network is
never asked about a time it was not trained on. Each step maps x_t to x_s (s < t):

* ODE (probability flow):
  x_s = (alpha_s sigma_s sigma_bar_s) / (alpha_t sigma_t sigma_bar_t) x_t
        + alpha_s / sigma_1^2 [(sigma_bar_s^2 - sigma_bar_s sigma_s sigma_bar_t / sigma_t) x0_hat
                               + (sigma_s^2 - sigma_bar_s sigma_s sigma_t / sigma_bar_t) y / alpha_1]
* SDE: x_s = alpha_s sigma_s^2 / (alpha_t sigma_t^2) x_t + alpha_s (1 - sigma_s^2 / sigma_t^2) x0_hat
             + alpha_s sigma_s sqrt(1 - sigma_s^2 / sigma_t^2) z.

After the steps to t_1 ... t_{N-1}, the last network call's x0_hat is the
output (the final estimate, rather than a state at t_eps), so ONE step is
``x0_hat = net(y, y, 1)``: the network sees x_T = y and t = 1, and N steps
are N network calls. With a network that returns the true x0, the ODE visits
exactly the bridge means m_{t_i}, and an SDE step moves a bridge sample at t
to one at s (mean and variance; tests check both, and that a wrong step fails).
"""
import torch


def _coeffs(schedule, t, s):
    a_t, _, sg_t, sb_t, s1 = schedule.terms(t)
    a_s, _, sg_s, sb_s, _ = schedule.terms(s)
    a_1 = schedule.alpha(torch.ones(()))
    return a_t, sg_t, sb_t, a_s, sg_s, sb_s, s1, a_1


def ode_step(schedule, x_t, y, x0_hat, t, s):
    a_t, sg_t, sb_t, a_s, sg_s, sb_s, s1, a_1 = (float(v) for v in _coeffs(schedule, t, s))
    if sg_s == 0:  # s = 0: the bridge ends at the data
        return x0_hat
    if sb_t == 0:
        # t = T, where x_t = y: the x_t and y coefficients both diverge and their
        # sum tends to alpha_s sigma_s^2 / (sigma_1^2 alpha_1); the state is the bridge mean
        return (a_s * sb_s ** 2 / s1 ** 2) * x0_hat + (a_s * sg_s ** 2 / (s1 ** 2 * a_1)) * y
    keep = (a_s * sg_s * sb_s) / (a_t * sg_t * sb_t)
    w0 = a_s / s1 ** 2 * (sb_s ** 2 - sb_s * sg_s * sb_t / sg_t)
    wy = a_s / (s1 ** 2 * a_1) * (sg_s ** 2 - sb_s * sg_s * sg_t / sb_t)
    return keep * x_t + w0 * x0_hat + wy * y


def sde_step(schedule, x_t, y, x0_hat, t, s, generator=None):
    a_t, sg_t, _, a_s, sg_s, _, _, _ = (float(v) for v in _coeffs(schedule, t, s))
    if sg_s == 0:
        return x0_hat
    r = sg_s ** 2 / sg_t ** 2
    z = torch.randn(x_t.shape, generator=generator, dtype=x_t.dtype, device=x_t.device)
    return (a_s * r / a_t) * x_t + a_s * (1 - r) * x0_hat + a_s * sg_s * (1 - r) ** 0.5 * z


def sample(net, y, schedule, steps=1, sampler="ode", t_max=1.0, t_eps=0.03, generator=None):
    """Enhance ``y`` with ``steps`` network calls on a uniform grid from ``t_max`` to ``t_eps``.

    ``steps=1`` is the one-step mode (x0_hat = net(y, y, t_max)); ``sampler``
    is "ode" or "sde" (they differ only for steps > 1). ``t_eps`` is the
    smallest training time (the model's ``t_eps``). ``generator`` makes
    the SDE noise reproducible.
    """
    if sampler not in ("ode", "sde"):
        raise ValueError(f"sampler must be 'ode' or 'sde', got {sampler!r}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if not 0 < t_eps < t_max:
        raise ValueError(f"need 0 < t_eps < t_max, got t_eps={t_eps}, t_max={t_max}")
    step = sde_step if sampler == "sde" else ode_step
    grid = torch.linspace(t_max, t_eps, steps + 1, dtype=torch.float64)
    x = y
    for i in range(steps):
        tb = torch.full((y.shape[0],), float(grid[i]), dtype=torch.float32, device=y.device)
        x0_hat = net(x, y, tb)
        if i == steps - 1:
            return x0_hat  # the final estimate
        kwargs = {"generator": generator} if sampler == "sde" else {}
        x = step(schedule, x, y, x0_hat, grid[i], grid[i + 1], **kwargs)

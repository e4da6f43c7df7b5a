"""Waveform-level SB enhancers: representation + schedule + data-predicting network.

* :class:`SBM` - Schrödinger Bridge Mamba: the oSpatialNet-Mamba backbone
  with time embedding, trained on the bridge, enhancing in ONE step by default.
* :class:`SBNCSNpp` - the SB-NCSN++ baseline (U-Net), usually run with N steps.
* :class:`MambaBase` - the same Mamba backbone trained by predictive mapping:
  no bridge, no time, the network sees ``y`` only.

All three map a waveform ``[B, N]`` at 16 kHz to a waveform of the same
length: peak-normalise by the noisy input, compressed complex STFT (n_fft 510,
hop 128, 0.15 |X|^0.5), sampler, exact inverse, undo the gain.
Nested options (``backbone``, ``schedule``, ``representation``) are dicts, so
the registry and HyperPyYAML override them piecewise.
"""
import torch

from ..interface import EnhancementModel
from ..nn.spectral import CompressedComplexSpec
from .backbone import SBMBackbone
from .ncsnpp import NCSNppLite
from .samplers import sample
from .schedules import build_schedule


# The SB-VE schedule of sgmse ("sbve"; k 2.6, c 0.4): the default of every
# bridge model, built directly or from the registry
SBVE_DEFAULT = {"name": "sbve", "k": 2.6, "c": 0.4}


class SBEnhancer(EnhancementModel):
    """Base class. ``self.net(x_t, y, t)`` predicts the clean compressed spectrum.

    Arguments
    ---------
    schedule : dict or None
        ``{"name": "sbve" | "sbvp" | "sbgmax", ...parameters}``; None is
        predictive mapping (one network call on ``y``).
    representation : dict
        :class:`CompressedComplexSpec` fields.
    sb_steps, sampler : int, str
        Default sampling (overridable per call of :meth:`enhance`).
    t_eps : float
        Training times are drawn from U[t_eps, 1].
    """

    block_defaults = {"schedule": SBVE_DEFAULT, "representation": {}}
    input_normalisation = "peak"  # sgmse divides the input by its peak
    streaming_options = {"steps": 1}  # the one-step mode: one network call per block

    def __init__(self, net, schedule=None, representation=None, sb_steps=1, sampler="ode", t_eps=0.03):
        super().__init__()
        self.net = net
        self.schedule = build_schedule(**dict(schedule)) if schedule else None
        self.representation = CompressedComplexSpec(**dict(representation or {}))
        if sampler not in ("ode", "sde"):
            raise ValueError(f"sampler must be 'ode' or 'sde', got {sampler!r}")
        self.sb_steps, self.sampler, self.t_eps = int(sb_steps), sampler, float(t_eps)
        if not 0 < self.t_eps < 1:
            raise ValueError(f"t_eps must be in (0, 1), got {t_eps}")

    @property
    def is_bridge(self):
        return self.schedule is not None

    @property
    def sampling_options(self):
        """``steps`` and ``sampler`` default to the model's (``sb_steps``,
        ``sampler``); ``generator`` seeds the SDE sampler (the ODE and one step
        are deterministic); ``t_max`` is the time sampling starts from (1: the
        bridge's end, where y is the state; the SBM paper's open check runs a
        one-step model at t = 0.5 and 0.8). A predictive model (Mamba-base)
        has none."""
        return ("steps", "sampler", "generator", "t_max") if self.is_bridge else ()

    @property
    def causal(self):
        return bool(getattr(self.net, "causal", False))

    @property
    def stream_front_end(self):
        return self.representation.front_end

    def forward(self, x_t, y, t):
        return self.net(x_t, y, t)

    # --------------------------------------------------------------- training
    def training_draw(self, x0, y, generator=None):
        """(x_t, t) for a training step: t ~ U[t_eps, 1] per item and a bridge
        draw of x_t (complex standard normal z); predictive: (y, ones)."""
        B = y.shape[0]
        if not self.is_bridge:
            return y, torch.ones(B, device=y.device)
        t = self.t_eps + (1 - self.t_eps) * torch.rand(B, generator=generator, device=y.device)
        z = torch.randn(y.shape, generator=generator, dtype=y.dtype, device=y.device)
        return self.schedule.sample_xt(x0, y, t, z), t

    # -------------------------------------------------------------- inference
    def enhance_spec(self, y, steps=None, sampler=None, generator=None, t_max=None):
        steps = self.sb_steps if steps is None else int(steps)
        if not self.is_bridge:
            return self.net(y, y, torch.ones(y.shape[0], device=y.device))
        return sample(self.net, y, self.schedule, steps=steps, sampler=sampler or self.sampler,
                      t_max=1.0 if t_max is None else float(t_max), t_eps=self.t_eps, generator=generator)

    def spectral_map(self, spec, steps=None, sampler=None, generator=None, t_max=None):
        """Noisy complex STFT (uncompressed) -> enhanced complex STFT."""
        rep = self.representation
        return rep.decompress(self.enhance_spec(rep.compress(spec), steps, sampler, generator, t_max))


def sbm_backbone(representation, causal, backbone, **fixed):
    """The SBM backbone sized for ``representation``'s frequency bins; ``fixed``
    options override ``backbone`` (Mamba-base: no time, y only)."""
    n_freq = CompressedComplexSpec(**dict(representation or {})).n_fft // 2 + 1
    return SBMBackbone(**{"n_freq": n_freq, "causal": causal, **dict(backbone or {}), **fixed})


class SBM(SBEnhancer):
    """Schrödinger Bridge Mamba.

    Example
    -------
    >>> model = SBM(backbone={"hidden": 16, "num_layers": 1})
    >>> model.is_bridge, model.enhance(torch.randn(1, 4000)).shape
    (True, torch.Size([1, 4000]))
    """

    def __init__(self, backbone=None, causal=False, schedule=SBVE_DEFAULT, representation=None, sb_steps=1,
                 sampler="ode", t_eps=0.03):
        net = sbm_backbone(representation, causal, backbone)
        super().__init__(net, schedule, representation, sb_steps, sampler, t_eps)


class MambaBase(SBEnhancer):
    """The SBM backbone trained by predictive mapping (no SB, no timestep).

    Example
    -------
    >>> MambaBase(backbone={"hidden": 16, "num_layers": 1}).is_bridge
    False
    """

    block_defaults = {"representation": {}}

    def __init__(self, backbone=None, causal=False, representation=None):
        net = sbm_backbone(representation, causal, backbone, time_embedding=False, condition_on_state=False)
        super().__init__(net, None, representation, sb_steps=1)


class SBNCSNpp(SBEnhancer):
    """SB-NCSN++ (U-Net) on the same SB core.

    Example
    -------
    >>> m = SBNCSNpp(backbone={"channels": 8, "channel_mult": [1, 2], "attention": False}, sb_steps=3)
    >>> m.enhance(torch.randn(1, 4000)).shape
    torch.Size([1, 4000])
    """

    def __init__(self, backbone=None, schedule=SBVE_DEFAULT, representation=None, sb_steps=50, sampler="ode",
                 t_eps=0.03):
        super().__init__(NCSNppLite(**dict(backbone or {})), schedule, representation, sb_steps, sampler, t_eps)

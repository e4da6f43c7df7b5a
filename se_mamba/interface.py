"""The interface every se_mamba model family implements.

Three families map a noisy waveform to an enhanced one through a complex
STFT: the magnitude-phase generators (:class:`~se_mamba.models.magphase.MagPhaseNet`:
SEMamba advanced, MambAttention, MP-SENet, the LSTM baselines), SEMamba basic
(:class:`~se_mamba.models.basic.SEMambaBasic`) and the Schrödinger-bridge
enhancers (:class:`~se_mamba.bridge.enhancer.SBEnhancer`: SBM, SB-NCSN++,
Mamba-base). Everything that runs a model (the Brains' validation, the
recipes' stages, :class:`~se_mamba.inference.MambaEnhancer`,
:class:`~se_mamba.inference.StreamingEnhancer`) goes through
:class:`EnhancementModel` and asks it, instead of probing attributes:

* ``input_normalisation``: the per-input gain the family was trained with and
  that :meth:`~EnhancementModel.enhance` applies and undoes
  (:meth:`~EnhancementModel.normalise` / :meth:`~EnhancementModel.denormalise`);
  the Brains normalise with the same methods.
* :meth:`~EnhancementModel.spectral_map`: the network's mapping, complex STFT
  to complex STFT (frame by frame in time for a causal model), on
  ``stream_front_end``'s STFT.
* ``sampling_options``: the keyword options of ``spectral_map``/``enhance``
  (bridge models: ``steps``, ``sampler``, ``generator``); anything else is a
  one-line error.
* :meth:`~EnhancementModel.streaming_problem`: ``None`` for a model that can
  stream, else why not; ``streaming_options`` what the streaming path passes
  (one network call per block).
"""
import abc

from torch import nn

from .nn.spectral import CompressedComplexSpec, amplitude_normalise

NORMALISATIONS = (None, "rms", "peak")


class EnhancementModel(nn.Module, metaclass=abc.ABCMeta):
    """Base class of the three model families (see the module docstring)."""

    #: None, "rms" (the originals' unit mean power: SEMamba, MP-SENet,
    #: MambAttention ``inference.py``) or "peak" (sgmse's division by the peak)
    input_normalisation = None
    #: keyword options of :meth:`spectral_map` and :meth:`enhance`
    sampling_options = ()
    #: options the streaming path gives :meth:`spectral_map`
    streaming_options = {}
    #: the registry's build specification (name and resolved arguments), set by
    #: :func:`se_mamba.models.build_model`; None for a model built directly
    build_spec = None
    causal = False

    @property
    def is_bridge(self):
        """True for a model sampled along a Schrödinger bridge (``steps``, ``sampler`` apply)."""
        return False

    @property
    @abc.abstractmethod
    def stream_front_end(self):
        """The STFT pair (``complex_stft``, ``inverse``) the mapping works on."""

    @abc.abstractmethod
    def spectral_map(self, spec, **options):
        """Noisy complex STFT ``[B, F, T]`` -> enhanced complex STFT."""

    @property
    def attends_over_time(self):
        """True when attention runs along time: cost and memory grow with the
        square of the input length, so long inputs need short chunks."""
        from .models.tf_block import attends_over_time

        return attends_over_time(self)

    # ---------------------------------------------------------- normalisation
    def normalise(self, noisy, *others):
        """``(gain, noisy_n, *others_n)``: the family's input normalisation of
        ``noisy`` ``[B, N]``, the same gain applied to ``others`` (training
        targets); :meth:`denormalise` undoes it. No normalisation: gain None."""
        kind = self.input_normalisation
        if kind == "rms":
            return amplitude_normalise(noisy, *others)
        if kind == "peak":
            return CompressedComplexSpec.peak_normalise(noisy, *others)
        if kind is None:
            return (None, noisy, *others)
        raise ValueError(f"{type(self).__name__}: input_normalisation must be one of {NORMALISATIONS}, got {kind!r}")

    def denormalise(self, out, gain):
        """Back to the input's level (the exact inverse operation of :meth:`normalise`)."""
        if gain is None:
            return out
        return out * gain if self.input_normalisation == "peak" else out / gain

    # -------------------------------------------------------------- options
    def check_options(self, options):
        """ValueError (one line) for options this model does not take."""
        unknown = sorted(set(options) - set(self.sampling_options))
        if unknown:
            takes = ", ".join(self.sampling_options) or "none"
            raise ValueError(f"{type(self).__name__} takes no option {', '.join(unknown)} "
                             f"(its sampling options: {takes})")

    def streaming_problem(self):
        """None when the model can run block by block, else the reason (one line)."""
        name = type(self).__name__
        if not self.causal:
            return (f"{name} is not causal: streaming needs a causal model "
                    "(semamba_causal, semamba_basic, sbm_causal)")
        if self.attends_over_time:
            return f"{name} has time attention, which cannot stream without a key/value cache"
        return None

    # ------------------------------------------------------------- waveforms
    def enhance(self, noisy, normalise=True, **options):
        """Enhance waveforms ``[B, N]`` (or ``[N]``) at the model's rate; same
        length and level out. ``normalise``: apply the family's input
        normalisation first and undo it after; ``options``: ``sampling_options``."""
        self.check_options(options)
        squeeze = noisy.dim() == 1
        wav = noisy.unsqueeze(0) if squeeze else noisy
        gain = None
        if normalise:
            gain, wav = self.normalise(wav)
        fe = self.stream_front_end
        out = fe.inverse(self.spectral_map(fe.complex_stft(wav), **options), length=wav.shape[-1])
        out = self.denormalise(out, gain)
        return out[0] if squeeze else out


def require_enhancement_model(model, where="this interface"):
    """``model`` (unwrapped from DDP), or TypeError naming what it is."""
    model = getattr(model, "module", model)
    if not isinstance(model, EnhancementModel):
        raise TypeError(f"{where} needs an se_mamba EnhancementModel, got {type(model).__name__}")
    return model

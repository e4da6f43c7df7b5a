"""``EnhanceThenTranscribe``: an enhancer in front of an ASR (the scoring issue's backends).

    from se_mamba.inference import MambaEnhancer
    from se_mamba.inference.pipeline import EnhanceThenTranscribe
    pipe = EnhanceThenTranscribe(MambaEnhancer.from_hparams(source="recipes/mini/pretrained"))  # Whisper tiny.en
    pipe.transcribe_file("meeting.wav")            # -> text of the enhanced speech
    pipe.transcribe_file("meeting.wav", enhance=False)   # the same ASR on the raw input

The enhanced audio goes to the ASR in memory (resampled to the ASR's rate,
channels averaged); nothing is written unless ``enhanced_path`` is given.
"""
import numpy as np

from ..asr.backends import ASR, build_asr
from ..audio import read_audio


class EnhanceThenTranscribe:
    """
    >>> import torch
    >>> from se_mamba.inference import MambaEnhancer
    >>> from se_mamba.models import build_model
    >>> pipe = EnhanceThenTranscribe(MambaEnhancer.from_model(build_model("semamba_advanced", channels=4,
    ...                              num_blocks=1)), "pocketsphinx")
    >>> type(pipe.transcribe(np.zeros(16000), 16000))
    <class 'str'>
    """

    def __init__(self, enhancer, asr="whisper:tiny.en", device="cpu"):
        """``enhancer``: a :class:`MambaEnhancer`, or None for an ASR-only pipeline
        (``enhance=False`` calls)."""
        self.enhancer = enhancer
        self.asr = asr if isinstance(asr, ASR) else build_asr(asr, device=device)

    def transcribe(self, wav, sample_rate, enhance=True):
        """Text of ``wav`` (``[N]`` or ``[N, C]`` at ``sample_rate``)."""
        x = self._enhancer(enhance).enhance_waveform(wav, sample_rate) if enhance else \
            np.asarray(wav, dtype=np.float64)
        return self._text(x, sample_rate)

    def transcribe_file(self, path, enhance=True, enhanced_path=None):
        """Text of an audio file; ``enhanced_path`` keeps the enhanced audio."""
        if enhance:
            x, fs = self._enhancer(enhance).load_and_enhance(path, enhanced_path)
        else:
            x, fs, _ = read_audio(path)
        return self._text(x, fs)

    def _enhancer(self, enhance):
        if self.enhancer is None:
            raise ValueError("this pipeline has no enhancer: transcribe with enhance=False")
        return self.enhancer

    def _text(self, x, sample_rate):
        return self.asr.transcribe(x.mean(axis=1) if x.ndim > 1 else x, sample_rate)

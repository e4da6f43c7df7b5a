"""DNSMOS P.835 (SIG / BAK / OVRL) and P.808 MOS: non-intrusive, no reference needed.

The ONNX models are the ones shipped inside the ``speechmos`` wheel (Microsoft's
DNS-Challenge DNSMOS: ``sig_bak_ovr.onnx`` with its polynomial calibration,
``model_v8.onnx`` for P.808), run on CPU through onnxruntime with
``speechmos``' feature code and windowing (Microsoft's ``dnsmos_local.py``:
9.01 s windows, 1 s hop, a clip shorter than 9.01 s doubled until it is not).
Input is resampled to 16 kHz when needed; a signal whose peak exceeds full
scale is scaled to a peak of 1 first (DNSMOS requires [-1, 1]).

The doubling makes the audio periodic, so windows 1 s apart repeat whenever
the clip's length divides a whole number of seconds: a 1 s clip becomes 16 s
and 7 windows, all identical; a 2 s clip 7 windows, 2 distinct. Each distinct
window is run through the models once and its scores reused (a run of the
P.835 model is ~0.7 s on one core), so the scores are speechmos' own, bit for
bit (tested), at a fraction of the cost on such clips.
"""
import hashlib
import os

import numpy as np

from ..audio import resample

DNSMOS_RATE = 16000
DNSMOS_KEYS = ("dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl", "dnsmos_p808")
WINDOW_SECONDS = 9.01  # speechmos.dnsmos.INPUT_LENGTH


class DNSMOS:
    """Callable scorer: ``DNSMOS()(wav, fs)`` -> dict of the four MOS values.

    One instance per process (the ONNX sessions are not shared across
    processes); ``threads`` is onnxruntime's intra-op thread count.
    """

    def __init__(self, threads=1):
        from ..extras import require

        ort = require("onnxruntime", "dnsmos", "DNSMOS")
        require("librosa", "dnsmos", "DNSMOS")
        sm = require("speechmos.dnsmos", "dnsmos", "DNSMOS")
        base = os.path.dirname(sm.__file__)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1

        def session(*parts):
            return ort.InferenceSession(os.path.join(base, *parts), opts, providers=["CPUExecutionProvider"])

        # speechmos' class holds the feature extraction and calibration; its
        # constructor makes default (all-core) sessions, so set ours instead
        self._model = sm.DNSMOS.__new__(sm.DNSMOS)
        self._model.primary_model_path = os.path.join(base, "dnsmos_models", "sig_bak_ovr.onnx")
        self._model.onnx_sess = session("dnsmos_models", "sig_bak_ovr.onnx")
        self._model.p808_onnx_sess = session("dnsmos_models", "model_v8.onnx")

    def __call__(self, wav, fs=DNSMOS_RATE):
        wav = np.asarray(wav, dtype=np.float64)
        if wav.ndim != 1 or wav.size == 0:
            raise ValueError(f"DNSMOS needs a non-empty mono signal, got shape {wav.shape}")
        if not np.all(np.isfinite(wav)):
            raise ValueError("DNSMOS: signal has NaN or inf samples")
        wav = resample(wav, fs, DNSMOS_RATE)
        peak = np.abs(wav).max()
        if peak > 1.0:
            wav = wav / peak
        audio = wav.astype(np.float32)
        window = int(WINDOW_SECONDS * DNSMOS_RATE)
        while len(audio) < window:
            audio = np.append(audio, audio)
        # speechmos.dnsmos.DNSMOS.__call__'s windows (its hop count, the short last one skipped)
        # (its slice ends at int((i + 9.01) * 16000), which float rounding can put a sample short)
        hops = int(np.floor(len(audio) / DNSMOS_RATE) - WINDOW_SECONDS) + 1
        segs = [audio[int(i * DNSMOS_RATE):int((i + WINDOW_SECONDS) * DNSMOS_RATE)] for i in range(hops)]
        seen, scores = {}, []
        for seg in segs:
            if len(seg) < window:
                continue
            key = hashlib.sha1(seg.tobytes()).digest()
            if key not in seen:
                seen[key] = self._window(seg)
            scores.append(seen[key])
        sig, bak, ovrl, p808 = (np.mean([s[k] for s in scores]) for k in range(4))
        return {"dnsmos_sig": float(sig), "dnsmos_bak": float(bak), "dnsmos_ovrl": float(ovrl),
                "dnsmos_p808": float(p808)}

    def _window(self, seg):
        """(sig, bak, ovrl, p808) of one 9.01 s window, as speechmos computes them."""
        m = self._model
        mel = np.array(m.audio_melspec(audio=seg[:-160])).astype("float32")[np.newaxis, :, :]
        p808 = m.p808_onnx_sess.run(None, {"input_1": mel})[0][0][0]
        sig_raw, bak_raw, ovrl_raw = m.onnx_sess.run(None, {"input_1": seg[np.newaxis, :]})[0][0]
        sig, bak, ovrl = m.get_polyfit_val(sig_raw, bak_raw, ovrl_raw, False)
        return sig, bak, ovrl, p808

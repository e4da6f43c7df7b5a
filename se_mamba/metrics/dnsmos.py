"""DNSMOS P.835 (SIG / BAK / OVRL) and P.808 MOS: non-intrusive, no reference needed.

The ONNX models are the ones shipped inside the ``speechmos`` wheel (Microsoft's
DNS-Challenge DNSMOS: ``sig_bak_ovr.onnx`` with its polynomial calibration,
``model_v8.onnx`` for P.808), run on CPU through onnxruntime with
``speechmos``' feature code (9.01 s windows, 1 s hop, short clips repeated
to 9.01 s). Input is resampled to 16 kHz when needed; a signal whose peak
exceeds full scale is scaled to a peak of 1 first (DNSMOS requires [-1, 1]).
"""
import os

import numpy as np

from ..audio import resample

DNSMOS_RATE = 16000
DNSMOS_KEYS = ("dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl", "dnsmos_p808")


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
        out = self._model(wav.astype(np.float32), DNSMOS_RATE, False)
        return {"dnsmos_sig": float(out["sig_mos"]), "dnsmos_bak": float(out["bak_mos"]),
                "dnsmos_ovrl": float(out["ovrl_mos"]), "dnsmos_p808": float(out["p808_mos"])}

"""Speaker similarity: cosine of speaker embeddings of the estimate and the reference.

An offline stand-in for the SBM paper's similarity metric. The encoder is
Resemblyzer's GE2E model (3-layer LSTM over 40 mel bands, 256-d embeddings)
whose weights ship inside the ``resemblyzer`` wheel; we load only the weight
file (the package's own modules import ``scipy.ndimage.morphology``, which
current SciPy no longer has, and ``webrtcvad``). Preprocessing follows
Resemblyzer: 16 kHz, volume raised to -30 dBFS (never lowered), mel power
spectrogram (25 ms / 10 ms, 40 bands), 1.6 s partial windows at 1.3 per
second (the last kept when at least 75% covered), mean of the L2-normalised
partial embeddings, normalised. Deviation: no VAD trimming of long silences.
"""
import importlib.util
import os

import numpy as np
import torch
from torch import nn

from ..audio import resample

RATE = 16000
_WIN, _HOP, _MELS, _PARTIAL = 400, 160, 40, 160


def _weights_path():
    from ..extras import missing

    try:
        spec = importlib.util.find_spec("resemblyzer")  # locates the package without importing it
    except (ImportError, ValueError):  # a broken or blocked installation
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise missing("resemblyzer", "speaker", "speaker similarity (Resemblyzer's encoder weights)")
    path = os.path.join(list(spec.submodule_search_locations)[0], "pretrained.pt")
    if not os.path.isfile(path):
        raise ImportError(f"{path}: resemblyzer's encoder weights are missing")
    return path


class SpeakerEncoder(nn.Module):
    """GE2E speaker encoder with Resemblyzer's parameter names (``lstm``, ``linear``)."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(_MELS, 256, 3, batch_first=True)
        self.linear = nn.Linear(256, 256)
        # tensors and plain containers only: nothing in the file runs code when loaded
        state = torch.load(_weights_path(), map_location="cpu", weights_only=True)["model_state"]
        # the file also holds the training-time similarity scale/bias, unused for embeddings
        self.load_state_dict({k: v for k, v in state.items() if k.split(".")[0] in ("lstm", "linear")})
        self.eval()

    def forward(self, mels):
        _, (hidden, _) = self.lstm(mels)
        emb = torch.relu(self.linear(hidden[-1]))
        return emb / emb.norm(dim=1, keepdim=True).clamp_min(1e-12)

    @staticmethod
    def _mel(wav):
        from ..extras import require

        librosa = require("librosa", "speaker", "speaker similarity")

        mel = librosa.feature.melspectrogram(y=wav.astype(np.float32), sr=RATE, n_fft=_WIN, hop_length=_HOP,
                                             n_mels=_MELS)
        return mel.astype(np.float32).T

    def embed(self, wav, fs=RATE):
        """256-d L2-normalised embedding of a mono signal."""
        wav = resample(wav, fs, RATE)
        rms = np.sqrt(np.mean(wav ** 2))
        if rms == 0 or not np.isfinite(rms):
            raise ValueError("speaker embedding needs a non-silent, finite signal")
        gain_db = -30.0 - 20 * np.log10(rms)
        if gain_db > 0:  # Resemblyzer only raises the volume
            wav = wav * 10 ** (gain_db / 20)
        # partial windows: 160 frames each, a new one every round(16000 / 1.3 / 160) = 8 frames
        n_frames = int(np.ceil((len(wav) + 1) / _HOP))
        step = int(np.round(RATE / 1.3 / _HOP))
        starts = list(range(0, max(1, n_frames - _PARTIAL + step + 1), step))
        last = starts[-1] * _HOP
        coverage = (len(wav) - last) / (_PARTIAL * _HOP)
        if coverage < 0.75 and len(starts) > 1:
            starts = starts[:-1]
        need = (starts[-1] + _PARTIAL) * _HOP
        if need >= len(wav):
            wav = np.pad(wav, (0, need - len(wav)))
        mel = self._mel(wav)
        with torch.no_grad():
            parts = self(torch.from_numpy(np.stack([mel[s: s + _PARTIAL] for s in starts])))
        emb = parts.mean(0).numpy()
        return emb / np.linalg.norm(emb)


_ENCODER = None


def speaker_similarity(ref, est, fs=RATE):
    """Cosine similarity (in [-1, 1]; ReLU embeddings make it >= 0) of the two speakers."""
    global _ENCODER
    if _ENCODER is None:
        _ENCODER = SpeakerEncoder()
    return float(np.dot(_ENCODER.embed(ref, fs), _ENCODER.embed(est, fs)))

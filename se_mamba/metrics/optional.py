"""Metrics whose model no package of this project ships: each loads its model
when the user has it and otherwise reports why it cannot run, so a table
shows "not available: <reason>" instead of a zero or a missing column.

``speechbertscore`` (intrusive): SpeechBERTScore (Saeki et al., ICASSP 2024,
arXiv 2401.16812; reference implementation github.com/Takaaki-Saeki/
DiscreteSpeechMetrics, ``discrete_speech_metrics/speechbertscore.py``), the
BERTScore precision of self-supervised speech features: for each frame of
the estimate, the highest cosine similarity to any frame of the reference,
averaged over the estimate's frames. Features: the output of transformer
layer 14 of WavLM Large on the raw 16 kHz waveform, the paper's best
setting. The model is torchaudio's WavLM Large; its weights are torchaudio's
``wavlm_large.pth`` (``torchaudio.pipelines.WAVLM_LARGE``), looked for at
``$SE_MAMBA_WAVLM_LARGE`` or in torch's hub cache
(``<torch.hub.get_dir()>/checkpoints/wavlm_large.pth``, where that pipeline
stores it once downloaded); nothing is downloaded here.

``nisqa_mos`` (non-intrusive): the overall MOS of NISQA v2.0 (Mittag et al.,
Interspeech 2021; github.com/gabrielmittag/NISQA), run by our implementation
(:mod:`se_mamba.metrics.nisqa`) with the released weights
(``weights/nisqa.tar`` of that repository, not in the ``nisqa`` wheel) at
``$SE_MAMBA_NISQA_WEIGHTS``.

Example
-------
>>> try:
...     NISQA("/nonexistent/nisqa.tar")
... except NotAvailable as exc:
...     print(NOT_AVAILABLE + str(exc))
not available: NISQA weights /nonexistent/nisqa.tar: no such file
"""
import os

import numpy as np

OPTIONAL_INTRUSIVE = ("speechbertscore",)
OPTIONAL_NON_INTRUSIVE = ("nisqa_mos",)
OPTIONAL = OPTIONAL_INTRUSIVE + OPTIONAL_NON_INTRUSIVE
RATE = 16000
SPEECHBERTSCORE_LAYER = 14  # WavLM Large, the paper's best setting
NOT_AVAILABLE = "not available: "  # a cell's text before the reason

_LOADED = {}  # metric -> scorer, or the NotAvailable it raised (once per process)


class NotAvailable(Exception):
    """The metric's model is absent; ``str()`` is the reason."""


def _wavlm_large_weights():
    path = os.environ.get("SE_MAMBA_WAVLM_LARGE")
    if path:
        if not os.path.isfile(path):
            raise NotAvailable(f"SE_MAMBA_WAVLM_LARGE={path}: no such file")
        return path
    import torch

    path = os.path.join(torch.hub.get_dir(), "checkpoints", "wavlm_large.pth")
    if not os.path.isfile(path):
        # short: the reason fills a table cell; docs/scoring.md says where the file comes from
        raise NotAvailable("no WavLM Large weights (set SE_MAMBA_WAVLM_LARGE; docs/scoring.md)")
    return path


def bert_score_precision(est_feats, ref_feats):
    """Mean over the estimate's frames of the best cosine similarity to a reference frame.

    >>> a = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> float(bert_score_precision(a, a))
    1.0
    >>> float(bert_score_precision(a[:1], np.array([[1.0, 1.0]])))  # cos 45 degrees
    0.7071067811865475
    """
    e = np.asarray(est_feats, dtype=np.float64)
    r = np.asarray(ref_feats, dtype=np.float64)
    e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    r = r / np.maximum(np.linalg.norm(r, axis=1, keepdims=True), 1e-12)
    return float((e @ r.T).max(axis=1).mean())


class SpeechBERTScore:
    """``scorer(ref, est)`` at 16 kHz -> precision. ``model``: a torchaudio
    ``Wav2Vec2Model`` (WavLM Large with its weights unless given)."""

    def __init__(self, model=None, layer=SPEECHBERTSCORE_LAYER):
        import torch

        if model is None:
            from torchaudio.models import wavlm_large

            path = _wavlm_large_weights()
            model = wavlm_large()
            try:
                model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            except Exception as exc:  # noqa: BLE001 - a wrong or damaged file is a reason, not a crash
                raise NotAvailable(f"{path}: not WavLM Large weights ({str(exc).splitlines()[0][:80]})") from None
        self.model = model.eval()
        self.layer = layer

    def features(self, wav):
        import torch

        with torch.inference_mode():
            x = torch.as_tensor(np.asarray(wav, dtype=np.float32))[None]
            return self.model.extract_features(x, num_layers=self.layer)[0][self.layer - 1][0].double().numpy()

    def __call__(self, ref, est, fs=RATE):
        if fs != RATE:
            from ..audio import resample

            ref, est = resample(ref, fs, RATE), resample(est, fs, RATE)
        return bert_score_precision(self.features(est), self.features(ref))


class NISQA:
    """``scorer(est, fs)`` -> NISQA v2.0 overall MOS (``se_mamba.metrics.nisqa``)
    with the weights at ``$SE_MAMBA_NISQA_WEIGHTS``."""

    def __init__(self, path=None):
        from .nisqa import load

        path = path or os.environ.get("SE_MAMBA_NISQA_WEIGHTS")
        if not path:
            raise NotAvailable("no NISQA weights (set SE_MAMBA_NISQA_WEIGHTS; docs/scoring.md)")
        if not os.path.isfile(path):
            raise NotAvailable(f"NISQA weights {path}: no such file")
        try:
            self.model, self.args = load(path)
        except Exception as exc:  # noqa: BLE001 - a wrong or damaged file is a reason, not a crash
            raise NotAvailable(f"{path}: not loadable as NISQA weights ({str(exc).splitlines()[0][:100]})") from None

    def __call__(self, est, fs=RATE):
        from .nisqa import predict

        return float(predict(self.model, self.args, est, fs)[0])


def _build(metric):
    if metric == "speechbertscore":
        return SpeechBERTScore()
    if metric == "nisqa_mos":
        return NISQA()
    raise ValueError(f"unknown optional metric {metric!r}; known: {', '.join(OPTIONAL)}")


def scorer(metric):
    """The metric's scorer, loaded once per process; raises NotAvailable with the reason."""
    if metric not in _LOADED:
        try:
            _LOADED[metric] = _build(metric)
        except NotAvailable as exc:
            _LOADED[metric] = exc
    got = _LOADED[metric]
    if isinstance(got, NotAvailable):
        raise got
    return got


def why_unavailable(metric):
    """``"not available: <reason>"``, or "" when the metric can run here."""
    try:
        scorer(metric)
    except NotAvailable as exc:
        return NOT_AVAILABLE + str(exc)
    return ""
